# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings schema of an IP Office system's security settings: one source of truth.

Every setting of a system's security settings lives here with its default, range and choices.  Modules build
their argument specs from these definitions (``argspec_for``), the store validates what it loads and
writes against them (``validate_settings``), and documentation is checked against them by tests.

Errors raised anywhere in the collection are ``SecurityError``: a stable ``code`` and a message that
says what is wrong and which option to change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import math
import re


class SecurityError(Exception):
    """A failure with a stable code that modules report as ``error`` in their result."""

    def __init__(self, code, message, option=None, **details):
        super(SecurityError, self).__init__(message)
        self.code = code
        self.message = message
        self.option = option
        self.details = details

    def __str__(self):
        return self.message

    def as_result(self):
        result = {"msg": self.message, "error": self.code}
        if self.option:
            result["option"] = self.option
        result.update(self.details)
        return result


def given(params, name):
    """Whether the option ``name`` was given (Ansible passes options left out as None)."""
    return params.get(name) is not None


def check_choice(value, choices, option, label=None):
    """``value`` when it is one of ``choices``; otherwise the SecurityError ``invalid_choice`` naming the
    option to change (``label``: how the message calls the value, default the option's name)."""
    if value not in choices:
        raise SecurityError("invalid_choice", "%s must be one of %s, got '%s'. Change the '%s' option."
                            % (label or option, ", ".join(choices), value, option), option=option)
    return value


_CONTROL = re.compile(u"[\x00-\x1f\x7f]")


def check_text(value, option, what=None):
    """Refuse control characters (NUL, CR, LF, tab and the other C0 characters, DEL) in a name, host or URI.

    The one validator for every text that is stored, put in a certificate or sent to a server (subject
    names, SANs, SCEP server and URI, line names, endpoint hosts).  Returns the value unchanged.
    """
    if isinstance(value, str):
        found = _CONTROL.search(value)
        if found:
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise SecurityError("invalid_characters", "%s %r contains the control character %r at position %d; "
                                "names, hosts and URIs never do. Change the '%s' option."
                                % (what or option, shown, found.group(0), found.start() + 1, option), option=option)
    return value


# ------------------------------------------------------------------------------------- write-side limits
# A store's readers refuse any file over 1 MiB (_store.MAX_FILE_BYTES).  Everything a user gives is held to
# these limits before anything is written (``value_too_large``), so no writer can make a store its own
# readers refuse; docs/store-format.md lists them.  They apply to input only, never to reading a store.
MAX_TEXT_CHARS = 1024           # any stored text without a limit of its own (san_details_origin, a DN...)
MAX_HOST_CHARS = 253            # a DNS name (RFC 1035), e.g. the SCEP server, system_name
MAX_URI_CHARS = 2048            # the SCEP URI
MAX_SECRET_CHARS = 1024         # the SCEP password (a challenge is a few dozen characters)
MAX_LINE_NAME_CHARS = 128       # an IP Office line name
MAX_LINES = 1000                # IP Office lines with WebSocket transport of one system
MAX_SUBJECT_ALT_NAMES = 100     # SAN entries of one certificate request
MAX_SAN_CHARS = 512             # one SAN entry
MAX_SYSTEM_ADDRESSES = 100      # system_addresses
MAX_PREFLIGHT_ENDPOINTS = 100   # preflight endpoints of one run (each passed one is recorded in the store)
MAX_NOTE_CHARS = 1000           # the ansible_target_log_info note a generation records (longer: cut)
# Seconds: the limits of the time options (a finite positive number; NaN and infinities are refused).
MAX_NETWORK_TIMEOUT = 300.0     # endpoint.timeout, live_timeout, preflight_timeout
MAX_LOCK_TIMEOUT = 3600         # lock_timeout (0: do not wait)


def too_large(option, what, size, limit, unit="characters"):
    """The SecurityError ``value_too_large``: what is too large, by how much, and the option to change."""
    return SecurityError("value_too_large", "%s has %d %s; at most %d are accepted, so that the store stays "
                         "readable. Nothing was changed. Change the '%s' option."
                         % (what, size, unit, limit, option), option=option, size=size, limit=limit)


def check_length(value, limit, option, what=None):
    """``value`` (text) when it has at most ``limit`` characters; else ``value_too_large``."""
    if isinstance(value, (str, bytes)) and len(value) > limit:
        raise too_large(option, what or option, len(value), limit)
    return value


def check_count(values, limit, option, what=None):
    """``values`` (a list) when it has at most ``limit`` items; else ``value_too_large``."""
    if isinstance(values, (list, tuple)) and len(values) > limit:
        raise too_large(option, what or option, len(values), limit, unit="entries")
    return values


def check_seconds(value, option, maximum, minimum=0.0, allow_minimum=False):
    """A number of seconds as a float: finite, above ``minimum`` (or equal, with ``allow_minimum``), at most
    ``maximum``.  NaN, infinities, 1e308, a bool, text or a value too low are ``out_of_range`` naming the option
    (never a raw error further down)."""
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        number = None
    finite = number is not None and math.isfinite(number)
    low = finite and (number < minimum if allow_minimum else number <= minimum)
    if not finite or low or number > maximum:
        raise SecurityError("out_of_range", "%s must be a number of seconds %s %s and at most %s, "
                            "got %r. Change the '%s' option." % (option, "from" if allow_minimum else "more than",
                                                                 _num(minimum), _num(maximum), value, option),
                            option=option)
    return number


def _num(value):
    return ("%d" % value) if float(value).is_integer() else ("%s" % value)


def check_path(value, option):
    """A file system path as given: ``invalid_characters`` when it holds a NUL, which no path can."""
    if isinstance(value, str) and "\x00" in value:
        raise SecurityError("invalid_characters", "%s contains a NUL character at position %d; no file system path "
                            "can. Change the '%s' option." % (option, value.index("\x00") + 1, option), option=option)
    return value


PLATFORMS = ("server", "ip500v2")
DEFAULT_PLATFORM = "server"

# Received-certificate check levels, weakest first (docs/check-levels.md).
CHECK_LEVELS = ("none", "low", "medium", "high", "medium_remote", "high_remote")
# IP Office lines with WebSocket transport offer only these (docs/certificate-checks.md).
LINE_CHECK_LEVELS = ("none", "medium", "high")
SECURITY_LEVELS = ("low", "medium", "high")
SIP_TELEPHONY_CERTIFICATE_CHOICES = ("none", "sip_trunks", "sip_and_sm_trunks", "sip_phones")
LINE_TRANSPORTS = ("websocket_client", "websocket_server")
SCEP_SCHEMES = ("http", "https")
DEFAULT_SCEP_URI = "/ejbca/publicweb/apply/scep/pkiclient.exe"
SCEP_DEFAULT_PORTS = {"http": 80, "https": 443}
WEBSOCKET_LINE_PORT = 443
# An IP Office release as the system shows it: 11.1.3.0, 11.1.3, 12.0, 11.1.3.0.0 build 12.
RELEASE_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,4}){1,4}( build [0-9]{1,6})?$"
# From this release medium also checks key usage, EKU fit and unknown critical extensions (docs/check-levels.md).
R1113 = (11, 1, 3)
TRUSTED_STORE_LIMIT = 25
ISSUED_CERTIFICATE_MAX_DAYS = 825

# Signature choices of Regenerate.  (hash, key type, key size or curve).  The first two are the vendor's
# own labels (SHA256/RSA2048 default, SHA1/RSA1024 legacy); the rest are stronger choices we add.
SIGNATURES = {
    "sha256_rsa2048": ("sha256", "rsa", 2048),
    "sha1_rsa1024": ("sha1", "rsa", 1024),
    "sha256_rsa3072": ("sha256", "rsa", 3072),
    "sha256_rsa4096": ("sha256", "rsa", 4096),
    "sha384_rsa3072": ("sha384", "rsa", 3072),
    "sha256_ecdsa_p256": ("sha256", "ec", "secp256r1"),
    "sha384_ecdsa_p384": ("sha384", "ec", "secp384r1"),
}
DEFAULT_SIGNATURE = "sha256_rsa2048"
WEAK_SIGNATURES = ("sha1_rsa1024",)
# SCEP enrolls RSA keys only (the CA encrypts its reply to the requester's key), never the weak legacy one.
SCEP_SIGNATURES = tuple(name for name, (_hash, kind, _size) in SIGNATURES.items()
                        if kind == "rsa" and name not in WEAK_SIGNATURES)

REGENERATE_CHOICES = ("never", "fail", "partial_idempotence", "full_idempotence", "always")
DEFAULT_REGENERATE = "full_idempotence"
UPDATE_PASSWORD_CHOICES = ("always", "on_create")

# Choices and defaults of module options (the argument specs in _specs are built from these; the files that
# own the modules use the same names).
# The purposes the check engine judges a certificate for.
CHECK_PURPOSES = ("server", "client", "sip_server", "sip_client")
# Which identity: the system's, or the separate SIP telephony identity.
IDENTITY_PURPOSES = ("system", "telephony")
# issued_by: issued by the internal CA of another system's store (a Server Edition secondary by its primary).
IDENTITY_SOURCES = ("generate", "ca", "import", "issued_by")
TRUSTED_STATES = ("present", "absent")
# enforce: refuse a raise any endpoint would fail; warn: raise anyway, warning; skip: contact no endpoint
# (states that no preflight is intended, so a raised setting without endpoints is not warned about).
PREFLIGHT_MODES = ("enforce", "warn", "skip")
DEFAULT_PREFLIGHT_TIMEOUT = 10.0
# The SCEP messageType of each renewal message (RFC 8894 3.2.1.2): PKCSReq, and RenewalReq.
RENEWAL_MESSAGES = {"pkcsreq": 19, "renewalreq": 17}
DEFAULT_SCEP_RENEW_BEFORE_DAYS = 30
# security_settings' states, as network resource modules name them: merged (the default: what is given is
# applied, the rest left as it is), overridden (the whole configuration is exactly what is given, defaults for
# what is left out), gathered (the store in the module's own input shape) and rendered (the state the options
# would produce, planned in memory, nothing written, no network).
SETTINGS_STATES = ("merged", "overridden", "gathered", "rendered")
DEFAULT_SETTINGS_STATE = "merged"
EXPORT_ENCRYPTIONS = ("modern", "compatible")
ISSUED_FORMATS = ("pkcs12", "pem")
# Seconds a writer waits for the store's lock.
DEFAULT_LOCK_TIMEOUT = 60
# Store setting: a preflight record older than this many days no longer holds a trusted entry (_dependents).
DEFAULT_DEPENDENTS_MAX_AGE_DAYS = 90
DEPENDENTS_MAX_AGE_RANGE = (1, 3650)


class Setting(object):
    """One setting: its label, type, default and allowed values."""

    def __init__(self, name, area, type, default, label, choices=None, minimum=None, maximum=None,
                 description=None, secret=False, platform_defaults=None, max_length=None, pattern=None,
                 pattern_text=None, added_later=False):
        self.name = name
        self.area = area
        self.type = type
        self.default = default
        self.label = label
        self.choices = tuple(choices) if choices else None
        self.minimum = minimum
        self.maximum = maximum
        self.description = description or label
        self.secret = secret
        self.platform_defaults = platform_defaults or {}
        # Characters a value given by a user may have (write-side limit; reading a store never applies it).
        self.max_length = max_length
        # A regular expression a non-empty string value must match, and how messages describe it.
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_text = pattern_text
        # Added after stores were first written: a stored area without it takes its default when loaded.
        self.added_later = added_later

    def default_for(self, platform=DEFAULT_PLATFORM):
        return copy.deepcopy(self.platform_defaults.get(platform, self.default))

    def allowed(self):
        """Human text of the allowed values, used in error messages."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.pattern_text:
            return self.pattern_text
        if self.minimum is not None and self.maximum is not None:
            return "an integer from %d to %d" % (self.minimum, self.maximum)
        return {"bool": "true or false", "str": "a string", "list": "a list"}.get(self.type, self.type)

    def validate(self, value):
        """Return the value in canonical form or raise SecurityError(invalid_setting)."""
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            raise _invalid(self, value)
        if self.type == "int":
            if isinstance(value, bool):
                raise _invalid(self, value)
            try:
                number = int(value)
            except (TypeError, ValueError, OverflowError):  # OverflowError: an infinity
                raise _invalid(self, value)
            if str(number) != str(value).strip() and not isinstance(value, int):
                raise _invalid(self, value)
            if (self.minimum is not None and number < self.minimum) or \
                    (self.maximum is not None and number > self.maximum):
                raise SecurityError(
                    "out_of_range",
                    "%s must be %s, got %s. Change the '%s' option." % (self.label, self.allowed(), value, self.name),
                    option=self.name)
            return number
        if self.type == "str":
            if value is None:
                return ""
            if not isinstance(value, str):
                raise _invalid(self, value)
            check_text(value, self.name, self.label)
            if self.pattern is not None and value and not self.pattern.match(value):
                raise _invalid(self, value)
            if self.choices and value not in self.choices:
                raise SecurityError(
                    "invalid_choice",
                    "%s must be %s, got '%s'. Change the '%s' option." % (self.label, self.allowed(), value, self.name),
                    option=self.name)
            return value
        if self.type == "list":
            if not isinstance(value, list):
                raise _invalid(self, value)
            return value
        raise AssertionError("unknown setting type %s" % self.type)  # pragma: no cover


def _invalid(setting, value):
    return SecurityError(
        "invalid_setting",
        "%s must be %s, got %r. Change the '%s' option." % (setting.label, setting.allowed(), value, setting.name),
        option=setting.name)


def _s(*args, **kwargs):
    return Setting(*args, **kwargs)


# The settings, by area (the trusted store has none).  Names are the vendor's labels in snake_case.
SETTINGS = [
    # 1.1 identity certificate
    _s("offer_id_certificate_chain", "identity", "bool", True, "Offer ID Certificate Chain",
       description="Send the identity certificate followed by its issuers from the trusted store up to the root."),
    _s("certificate_expiry_warning_days", "checks", "int", 60, "Certificate Expiry Warning Days",
       minimum=30, maximum=180,
       description="Warn about any stored certificate that expires within this many days."),
    _s("automatic_certificate_management", "identity", "bool", False, "Automatic Certificate Management",
       description="Subscription systems only: an external service supplies and renews the identity. "
                   "While on, manual Set and Regenerate are refused."),
    _s("san_details_origin", "identity", "str", "", "SAN Details Origin", max_length=MAX_TEXT_CHARS,
       description="Only with automatic management: extra location-specific SAN values."),
    _s("automatic_phone_provisioning", "identity", "bool", True, "Automatic Phone Provisioning",
       description="Only with automatic management: phone certificates follow identity updates."),
    # 1.3 certificate checks
    _s("sip_telephony_certificate", "checks", "str", "none", "Use different certificate for SIP telephony",
       choices=SIP_TELEPHONY_CERTIFICATE_CHOICES),
    _s("management_interfaces", "checks", "str", "none", "Received certificate checks (Management interfaces)",
       choices=CHECK_LEVELS),
    _s("telephony_endpoints", "checks", "str", "none", "Received certificate checks (Telephony endpoints)",
       choices=CHECK_LEVELS),
    _s("h323_security_level", "checks", "str", "high", "H.323 Security Level", choices=SECURITY_LEVELS,
       platform_defaults={"ip500v2": "medium"},
       description="Minimum cipher strength on TLS for H.323 (default high; medium on IP500 V2)."),
    _s("sip_security_level", "checks", "str", "high", "SIP Security Level", choices=SECURITY_LEVELS,
       platform_defaults={"ip500v2": "medium"},
       description="Minimum cipher strength on TLS for SIP (default high; medium on IP500 V2)."),
    _s("ip_office_lines", "checks", "list", [], "IP Office lines (WebSocket transport)",
       description="Per line: name, transport and its own check level (none, medium or high)."),
    # What the check levels mean depends on the release (R11.1.3 medium, docs/check-levels.md).
    _s("release", "checks", "str", "", "IP Office release", pattern=RELEASE_PATTERN, max_length=40,
       pattern_text="an IP Office release such as 11.1.3.0 (two to five numbers separated by dots, optionally "
                    "followed by ' build <number>'), or empty when not stated",
       description="The IP Office release the system runs, such as 11.1.3.0 (empty: not stated).", added_later=True),
    _s("medium_reapplied", "checks", "bool", False, "Medium level re-applied since R11.1.3",
       description="A medium level was set (again) on the system while it ran R11.1.3 or later, so it runs the "
                   "medium checks R11.1.3 added.", added_later=True),
    # 1.4 SCEP
    _s("active", "scep", "bool", False, "Active"),
    _s("request_interval", "scep", "int", 120, "Request Interval (sec)", minimum=5, maximum=3600),
    _s("server", "scep", "str", "", "SCEP Server IP Address/Name", max_length=MAX_HOST_CHARS),
    _s("scheme", "scep", "str", "http", "SCEP Server Scheme", choices=SCEP_SCHEMES),
    _s("port", "scep", "int", None, "SCEP Server Port", minimum=1, maximum=65535,
       description="Default 80 for HTTP, 443 for HTTPS."),
    _s("uri", "scep", "str", DEFAULT_SCEP_URI, "SCEP URI", max_length=MAX_URI_CHARS),
    _s("password", "scep", "str", "", "SCEP Password", secret=True, max_length=MAX_SECRET_CHARS),
]

SETTINGS_BY_AREA = {}
for _setting in SETTINGS:
    SETTINGS_BY_AREA.setdefault(_setting.area, {})[_setting.name] = _setting

# Line entries (ip_office_lines items).
LINE_FIELDS = {
    "name": Setting("name", "line", "str", None, "Line name", max_length=MAX_LINE_NAME_CHARS),
    "transport": Setting("transport", "line", "str", "websocket_client", "Transport", choices=LINE_TRANSPORTS),
    "check_level": Setting("check_level", "line", "str", "none", "Received certificate checks (IP Office line)",
                           choices=LINE_CHECK_LEVELS),
}

# The settings persisted in settings.json, by area (SCEP password is a separate 0600 secret file).
STORED_AREAS = ("identity", "checks", "scep")


def setting(area, name):
    try:
        return SETTINGS_BY_AREA[area][name]
    except KeyError:
        raise SecurityError("unknown_setting", "There is no setting '%s' in the %s area." % (name, area), option=name)


def default_settings(platform=DEFAULT_PLATFORM):
    """The settings a new system starts with, by area.  Secrets are not included."""
    check_choice(platform, PLATFORMS, "platform")
    result = {}
    for area in STORED_AREAS:
        result[area] = {}
        for name, item in SETTINGS_BY_AREA[area].items():
            if item.secret:
                continue
            result[area][name] = item.default_for(platform)
    return result


def parse_release(text):
    """An IP Office release ('11.1.3.0', '11.1.3.0.0 build 12') as a tuple of numbers; None when not stated."""
    if not text:
        return None
    return tuple(int(part) for part in str(text).split(" ", 1)[0].split("."))


def medium_latent(checks):
    """Whether the medium levels of a checks area are latent: the system runs R11.1.3 or later, but its medium
    level was set before the upgrade and not re-applied, so it does not yet run the checks R11.1.3 added."""
    release = parse_release(checks.get("release"))
    return bool(release is not None and release[:3] >= R1113 and not checks.get("medium_reapplied"))


def scep_port(scheme, port):
    """The effective SCEP port: the given one, or the scheme's default."""
    return port if port else SCEP_DEFAULT_PORTS[scheme]


def validate_line(line, limits=True):
    """Validate one entry of the lines (the ip_office_lines setting); return it in canonical form (``limits``:
    the write-side limits)."""
    if not isinstance(line, dict):
        raise SecurityError("invalid_setting", "Each lines entry must be a dictionary with name, "
                            "transport and check_level. Change the 'lines' option.",
                            option="lines")
    unknown = sorted(set(line) - set(LINE_FIELDS) - {"port"})
    if unknown:
        raise SecurityError("unknown_setting", "lines entries take name, transport and check_level; "
                            "unknown key(s): %s. Change the 'lines' option." % ", ".join(unknown),
                            option="lines")
    name = line.get("name")
    if not name or not isinstance(name, str):
        raise SecurityError("invalid_setting", "Each lines entry needs a non-empty name. "
                            "Change the 'lines' option.", option="lines")
    if limits:
        check_length(name, MAX_LINE_NAME_CHARS, "lines", "The IP Office line name '%s...'" % name[:40])
    check_text(name, "lines", "The IP Office line name")
    level = line.get("check_level", "none")
    if level in ("medium_remote", "high_remote", "low"):
        raise SecurityError(
            "invalid_choice",
            "IP Office line '%s': check level '%s' is not available on WebSocket lines; use one of %s. "
            "Change 'check_level' of that entry in the 'lines' option."
            % (name, level, ", ".join(LINE_CHECK_LEVELS)), option="lines")
    result = {"name": name}
    for field in ("transport", "check_level"):
        item = LINE_FIELDS[field]
        value = line.get(field, item.default)
        if value not in item.choices:
            raise SecurityError(
                "invalid_choice",
                "IP Office line '%s': %s must be %s, got '%s'. Change the 'lines' option."
                % (name, field, item.allowed(), value), option="lines")
        result[field] = value
    port = line.get("port", WEBSOCKET_LINE_PORT)
    if port != WEBSOCKET_LINE_PORT:
        raise SecurityError("out_of_range", "IP Office line '%s': WebSocket lines use port %d, got %r. "
                            "Remove 'port' from that entry of the 'lines' option."
                            % (name, WEBSOCKET_LINE_PORT, port), option="lines")
    return result


def validate_lines(lines, limits=True):
    """The lines in canonical form, sorted by name; names unique.  Linear in the number of lines."""
    if limits:
        check_count(lines, MAX_LINES, "lines", "lines")
    result = [validate_line(line, limits) for line in lines]
    seen = set()
    repeated = set()
    for line in result:
        (repeated if line["name"] in seen else seen).add(line["name"])
    duplicates = sorted(repeated)
    if duplicates:
        raise SecurityError("invalid_setting", "line names must be unique; repeated: %s. "
                            "Change the 'lines' option." % ", ".join(duplicates), option="lines")
    return sorted(result, key=lambda line: line["name"])


def validate_value(area, name, value, limits=True):
    """Validate one setting value; return its canonical form.

    ``limits``: apply the write-side limits (a value given by a user); a store being read is validated
    without them, so a store written before a limit existed stays readable.
    """
    item = setting(area, name)
    if name == "port" and area == "scep" and value is None:
        return None  # unset: the scheme's port (scep_port); 0 is out of range like any other bad port
    if name == "ip_office_lines":
        return validate_lines(item.validate(value), limits)
    if limits and item.max_length is not None:
        check_length(value, item.max_length, item.name, item.label)
    return item.validate(value)


def validate_settings(settings):
    """Validate a whole {area: {name: value}} settings tree (as stored); return it canonical.

    Missing settings are an error here: the store always writes every setting.
    """
    if not isinstance(settings, dict):
        raise SecurityError("corrupt_store", "settings must be a mapping of areas")
    result = {}
    for area in STORED_AREAS:
        values = settings.get(area)
        if not isinstance(values, dict):
            raise SecurityError("corrupt_store", "settings area '%s' is missing" % area)
        expected = set(n for n, s in SETTINGS_BY_AREA[area].items() if not s.secret)
        missing = expected - set(values)
        if missing and all(SETTINGS_BY_AREA[area][n].added_later for n in missing):
            values = dict(values)
            values.update((n, SETTINGS_BY_AREA[area][n].default) for n in missing)
        if set(values) != expected:
            raise SecurityError("corrupt_store", "settings area '%s' has keys %s, expected %s"
                                % (area, sorted(values), sorted(expected)))
        result[area] = dict((name, validate_value(area, name, value, limits=False)) for name, value in values.items())
    scep = result["scep"]
    if scep["active"] and not scep["server"]:
        raise SecurityError("missing_server", "SCEP cannot be active without a server. Set the 'server' option.",
                            option="server")
    return result


def argspec_for(area, names=None, defaults=False):
    """Ansible argument_spec entries for settings of an area.

    Modules leave options out (None) to mean "leave as it is", so by default no default is set.
    """
    spec = {}
    for name, item in SETTINGS_BY_AREA[area].items():
        if names is not None and name not in names:
            continue
        entry = {"type": {"bool": "bool", "int": "int", "str": "str", "list": "list"}[item.type]}
        if item.choices:
            entry["choices"] = list(item.choices)
        if item.secret:
            entry["no_log"] = True
        if item.type == "list":
            entry["elements"] = "dict"
        if defaults and item.default is not None:
            entry["default"] = item.default
        spec[name] = entry
    return spec
