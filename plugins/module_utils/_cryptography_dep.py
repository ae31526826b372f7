# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python libraries the modules need on the managed node, and the check every module runs first.

The floor is real, not nominal: the check engine builds on ``cryptography.x509.verification``'s
``ExtensionPolicy`` and ``Criticality`` (cryptography 45) and SCEP on the PKCS#7 envelope builder
(cryptography 45); SCEP's message structures and the legacy SHA-1 certificate need asn1crypto.  Keep
these in step with requirements.txt and the ``ipoffice.security.store`` doc fragment's requirements.

``problems(features)`` says what is missing or too old; ``_module.require_libraries`` turns that into
the standard missing-library failure before the module touches the store (community.crypto's
``_cryptography_dep.py`` shape).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import traceback

from ansible.module_utils.compat.version import LooseVersion

MINIMUM_CRYPTOGRAPHY_VERSION = "45.0"
MINIMUM_ASN1CRYPTO_VERSION = "1.5.0"

# Features the modules use: name -> (Python module, attributes it must have).  The version floor implies
# them; checking them too catches a cryptography that reports a version it does not have (a vendored or
# patched build).  "pkcs7_envelope" costs an import of the pkcs7 module (and the email package), so only
# the modules that use SCEP ask for it.
FEATURES = {
    "path_validation": ("cryptography.x509.verification",
                        ("PolicyBuilder", "Store", "ExtensionPolicy", "Criticality", "VerificationError")),
    "pkcs7_envelope": ("cryptography.hazmat.primitives.serialization.pkcs7",
                       ("PKCS7EnvelopeBuilder", "PKCS7SignatureBuilder")),
}
DEFAULT_FEATURES = ("path_validation",)
SCEP_FEATURES = ("path_validation", "pkcs7_envelope")

try:
    import cryptography
    CRYPTOGRAPHY_VERSION = cryptography.__version__
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the managed node
    CRYPTOGRAPHY_VERSION = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

try:
    import asn1crypto
    ASN1CRYPTO_VERSION = asn1crypto.__version__
    ASN1CRYPTO_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the managed node
    ASN1CRYPTO_VERSION = None
    ASN1CRYPTO_IMPORT_ERROR = traceback.format_exc()


class Problem(object):
    """One unmet requirement: ``requirement`` (e.g. 'cryptography >= 45.0'), ``found`` (what this Python
    has, in words) and ``exception`` (the import traceback, when an import failed)."""

    def __init__(self, requirement, found, exception=None):
        self.requirement = requirement
        self.found = found
        self.exception = exception

    def __repr__(self):
        return "Problem(%r, %r)" % (self.requirement, self.found)


def _too_old(version, minimum):
    try:
        return LooseVersion(str(version)) < LooseVersion(minimum)
    except TypeError:  # a version string LooseVersion cannot order against the floor: judge by features
        return False


def _missing_attributes(module_name, attributes):
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return list(attributes), traceback.format_exc()
    return [name for name in attributes if not hasattr(module, name)], None


def problems(features=DEFAULT_FEATURES, cryptography_version=None, asn1crypto_version=None):
    """Every unmet library requirement of a module that uses ``features`` ([] when all is well).

    The versions default to the installed ones (arguments for tests only).
    """
    cryptography_version = cryptography_version or CRYPTOGRAPHY_VERSION
    asn1crypto_version = asn1crypto_version or ASN1CRYPTO_VERSION
    found = []
    crypto_requirement = "cryptography >= %s" % MINIMUM_CRYPTOGRAPHY_VERSION
    if cryptography_version is None:
        found.append(Problem(crypto_requirement, "no cryptography", CRYPTOGRAPHY_IMPORT_ERROR))
    elif _too_old(cryptography_version, MINIMUM_CRYPTOGRAPHY_VERSION):
        found.append(Problem(crypto_requirement, "cryptography %s" % cryptography_version))
    else:
        for feature in features:
            module_name, attributes = FEATURES[feature]
            missing, exception = _missing_attributes(module_name, attributes)
            if missing:
                found.append(Problem(crypto_requirement, "cryptography %s without %s" % (
                    cryptography_version, ", ".join("%s.%s" % (module_name, name) for name in missing)), exception))
                break
    asn1_requirement = "asn1crypto >= %s" % MINIMUM_ASN1CRYPTO_VERSION
    if asn1crypto_version is None:
        found.append(Problem(asn1_requirement, "no asn1crypto", ASN1CRYPTO_IMPORT_ERROR))
    elif _too_old(asn1crypto_version, MINIMUM_ASN1CRYPTO_VERSION):
        found.append(Problem(asn1_requirement, "asn1crypto %s" % asn1crypto_version))
    return found


def failure(found):
    """fail_json arguments for unmet requirements: the standard missing-library message (it names the
    managed node's Python and ansible_python_interpreter), the requirement with its version, what this
    Python has, and the stable error code ``missing_library``."""
    from ansible.module_utils.basic import missing_required_lib

    requirements = " and ".join(problem.requirement for problem in found)
    reason = "by ipoffice.security (this Python has %s; install the libraries of the collection's " \
             "requirements.txt, e.g. pip install '%s')" % (
                 ", ".join(problem.found for problem in found),
                 "' '".join(problem.requirement.replace(" ", "") for problem in found))
    result = dict(msg=missing_required_lib(requirements, reason=reason), error="missing_library",
                  requirements=[problem.requirement for problem in found])
    exceptions = [problem.exception for problem in found if problem.exception]
    if exceptions:
        result["exception"] = "\n".join(exceptions)
    return result
