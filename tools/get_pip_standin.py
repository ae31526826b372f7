"""Write the get-pip stand-in that ansible-test uses to bootstrap pip in its sanity virtualenvs.

ansible-test (``--requirements``) creates one virtualenv per sanity test and bootstraps pip in it with
a ``get-pip.py`` it downloads from a host this machine cannot reach. It first looks for a cached copy at
``~/.ansible/test/cache/get_pip_<pip version with underscores>.py`` and runs it as::

    python get_pip_X_Y.py --disable-pip-version-check pip==X.Y --no-setuptools --no-wheel

The stand-in written here does the same job with the standard library: ``ensurepip`` installs the pip
bundled with Python, then ``pip install`` installs the requested packages. ``--no-setuptools`` and
``--no-wheel`` are get-pip's own flags and are dropped. ansible-test's virtualenvs do not pick up the
machine's pip CA bundle, so the bundle the machine's pip configuration names is passed with ``--cert``
and also written to the new virtualenv's own ``pip.conf`` (later ``pip install`` runs use it).

Run with the virtualenv's Python (the one ansible-test is installed in):
    .venv/bin/python tools/get_pip_standin.py          # writes the stand-in if missing or outdated
    .venv/bin/python tools/get_pip_standin.py --print  # only prints its path
"""

import os
import re
import subprocess
import sys

TEMPLATE = '''#!/usr/bin/env python
# get-pip stand-in written by ipoffice.security tools/get_pip_standin.py (see that file for why).
import os
import subprocess
import sys

CA_BUNDLE = {ca_bundle!r}
GET_PIP_ONLY_FLAGS = ("--no-setuptools", "--no-wheel")


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    if CA_BUNDLE and os.path.exists(CA_BUNDLE):
        if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
            with open(os.path.join(sys.prefix, "pip.conf"), "w") as handle:
                handle.write("[global]\\ncert = %s\\n" % CA_BUNDLE)
        args = ["--cert", CA_BUNDLE] + args
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
'''


def wanted_pip_version():
    """The pip version ansible-test bootstraps, read from ansible-test itself."""
    import types

    from ansible_test._internal.python_requirements import get_venv_packages

    version = "%d.%d" % sys.version_info[:2]
    return get_venv_packages(types.SimpleNamespace(version=version))["pip"]


def pip_ca_bundle():
    """The CA bundle the machine's pip configuration names (pip config list), or None."""
    try:
        output = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                                check=False).stdout
    except OSError:
        return None
    for line in output.splitlines():
        match = re.match(r"^\S*\.cert='(.*)'$", line.strip())
        if match and os.path.exists(match.group(1)):
            return match.group(1)
    for variable in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(variable) and os.path.exists(os.environ[variable]):
            return os.environ[variable]
    return None


def main():
    version = wanted_pip_version()
    path = os.path.expanduser("~/.ansible/test/cache/get_pip_%s.py" % version.replace(".", "_"))
    if "--print" in sys.argv:
        print(path)
        return
    content = TEMPLATE.format(ca_bundle=pip_ca_bundle())
    existing = None
    if os.path.exists(path):
        with open(path) as handle:
            existing = handle.read()
    if existing == content:
        return
    if existing is not None and "ipoffice.security tools/get_pip_standin.py" not in existing:
        # A real get-pip.py someone cached: it works as well, leave it alone.
        print("ansible-test: keeping the existing %s" % path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as handle:
        handle.write(content)
    os.replace(path + ".tmp", path)
    print("ansible-test: wrote the get-pip stand-in %s (pip %s)" % (path, version))


if __name__ == "__main__":
    main()
