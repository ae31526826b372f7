"""Independent peers for the enforcement probe: `openssl s_server` configurations and a real kamailio.

Both listen on 127.0.0.1 only and are stopped (with every process they started) when the context ends.
The probe CA is made the way docs/real-systems.md tells an operator to make one (`openssl req -x509`).
"""

import contextlib
import os
import signal
import subprocess
import time

import helpers

KAMAILIO_MODULES = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules",
                    "/usr/lib64/kamailio/modules", "/usr/local/lib64/kamailio/modules")


def make_probe_ca(directory, password=None, name="Example Corp IP Office probe CA"):
    """(certificate path, key path) of a new probe CA, made with the openssl command line as documented."""
    helpers.need_tool("openssl")
    cert = os.path.join(str(directory), "probe-ca.pem")
    key = os.path.join(str(directory), "probe-ca.key")
    args = ["openssl", "req", "-x509", "-newkey", "rsa:3072", "-sha256", "-days", "30", "-subj", "/CN=" + name,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", key, "-out", cert]
    if password:
        args += ["-passout", "pass:" + password]
    else:
        args += ["-noenc"]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return cert, key


# s_server options for client certificates: ignore them, ask for one (and accept anything), require one
# from the probe CA and refuse every certificate that does not verify.
IGNORE = ()


def request(ca_file):
    return ("-verify", "4", "-CAfile", ca_file)


def require(ca_file):
    return ("-Verify", "4", "-CAfile", ca_file, "-verify_return_error")


def _stop(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # kamailio's children outlive their parent for a moment: wait until none of the group is left.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def s_server(cert, key, chain=None, args=(), port=None):
    """`openssl s_server` on 127.0.0.1 in -rev mode (it answers whatever it receives at once, so a probe that
    writes gets a reply instead of waiting); ``args`` configure client certificates, ciphers, protocols."""
    helpers.need_tool("openssl")
    port = port or helpers.free_port()
    command = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", cert, "-key", key, "-rev",
               "-quiet"]
    if chain:
        command += ["-cert_chain", chain]
    command += list(args)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        helpers.wait_for_port(port, process=process)
        yield port
    finally:
        _stop(process)


def kamailio_modules():
    for path in KAMAILIO_MODULES:
        if os.path.exists(os.path.join(path, "tls.so")) and os.path.exists(os.path.join(path, "sl.so")):
            return path
    return None


KAMAILIO_CFG = """#!KAMAILIO
# Written by the ipoffice.security tests: SIP over TLS on 127.0.0.1 only, OPTIONS answered with 200.
debug=2
log_stderror=yes
children=1
tcp_children=2
auto_aliases=no
listen=tls:127.0.0.1:%(port)d
enable_tls=yes
mpath="%(modules)s/"
loadmodule "tls.so"
loadmodule "sl.so"
modparam("tls", "config", "%(tls_cfg)s")
request_route {
    if (method == "OPTIONS") {
        sl_send_reply("200", "OK");
        exit;
    }
    sl_send_reply("405", "Method Not Allowed");
    exit;
}
"""

KAMAILIO_TLS = """[server:default]
method = TLSv1.2+
verify_certificate = %(verify)s
require_certificate = %(require)s
private_key = %(key)s
certificate = %(cert)s
ca_list = %(ca)s
%(ciphers)s

[client:default]
verify_certificate = no
require_certificate = no
"""


@contextlib.contextmanager
def kamailio(cert, key, ca_file, workdir, require_certificate=True, cipher_list=None, port=None):
    """A real kamailio (Debian's kamailio + kamailio-tls-modules) answering OPTIONS over TLS on 127.0.0.1.

    ``require_certificate``: tls.cfg require_certificate and verify_certificate (against ``ca_file``);
    ``cipher_list``: tls.cfg cipher_list (OpenSSL syntax; TLS 1.2 and older), default kamailio's own.
    """
    binary = helpers.need_tool("kamailio", "apt-get install kamailio kamailio-tls-modules")
    modules = kamailio_modules()
    helpers.need(modules is not None, "kamailio's tls and sl modules are not installed (kamailio-tls-modules)")
    port = port or helpers.free_port()
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    tls_cfg = os.path.join(workdir, "tls.cfg")
    cfg = os.path.join(workdir, "kamailio.cfg")
    flag = "yes" if require_certificate else "no"
    with open(tls_cfg, "w") as handle:
        handle.write(KAMAILIO_TLS % {"verify": flag, "require": flag, "key": key, "cert": cert, "ca": ca_file,
                                     "ciphers": ("cipher_list = %s" % cipher_list) if cipher_list else ""})
    with open(cfg, "w") as handle:
        handle.write(KAMAILIO_CFG % {"port": port, "modules": modules, "tls_cfg": tls_cfg})
    log = open(os.path.join(workdir, "kamailio.log"), "wb")
    # -DD: stay in the foreground (its processes stay ours to stop); -E: log to stderr; small memory pools.
    process = subprocess.Popen([binary, "-f", cfg, "-DD", "-E", "-Y", workdir, "-P", os.path.join(workdir, "pid"),
                                "-m", "32", "-M", "8"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                               start_new_session=True)
    try:
        helpers.wait_for_port(port, timeout=20, process=process)
        yield port
    finally:
        _stop(process)
        log.close()
