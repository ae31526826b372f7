# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The front door: every module's argument spec, built from one spec per area.

One builder per area (store options, identity, trusted items, SCEP, checks, preflight, lines) is used by
the per-area module, by ``security_settings`` (where the area is one option) and, through
``tools/gen_role_specs.py``, by the baseline role's ``argument_specs.yml``.  ``module_kwargs(name)`` is
what a module passes to ``AnsibleModule``, and what the action plugins validate with on the controller.

This file depends on ``_model`` only (constants, no cryptography): validating arguments costs nothing
beyond the spec itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    CHECK_LEVELS,
    CHECK_PURPOSES,
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_PREFLIGHT_TIMEOUT,
    DEFAULT_REGENERATE,
    DEFAULT_SCEP_RENEW_BEFORE_DAYS,
    DEFAULT_SETTINGS_STATE,
    DEFAULT_SIGNATURE,
    EXPORT_ENCRYPTIONS,
    IDENTITY_PURPOSES,
    IDENTITY_SOURCES,
    ISSUED_FORMATS,
    PLATFORMS,
    PREFLIGHT_MODES,
    REGENERATE_CHOICES,
    RENEWAL_MESSAGES,
    SCEP_SIGNATURES,
    SETTINGS_STATES,
    SIGNATURES,
    TRUSTED_STATES,
    SecurityError,
    UPDATE_PASSWORD_CHOICES,
    argspec_for,
    check_path,
)

# ------------------------------------------------------------------------------------------ the store


# How a writer uses the store: only modules that write a store take these (the 'writers' action group).
WRITER_STORE_OPTIONS = ("lock_timeout", "keep_generations", "dependents_max_age_days")


def store_spec(read_only=False):
    """The store options (the 'ipoffice.security.store' doc fragment; 'ipoffice.security.store_read_only' for
    ``read_only``).

    ``store_path`` has no default: in a fleet whose stores live on the controller a default would put every
    system into one store.  ``platform``, ``system_name`` and ``system_addresses`` say which system the store
    is and every module takes them; a read-only module (it never takes the writer lock and never writes)
    does not take the writer options ``lock_timeout``, ``keep_generations`` and ``dependents_max_age_days``.
    """
    spec = dict(
        store_path=dict(type="path", required=True),
        platform=dict(type="str", choices=list(PLATFORMS)),
        system_name=dict(type="str"),
        system_addresses=dict(type="list", elements="str"),
        lock_timeout=dict(type="int", default=DEFAULT_LOCK_TIMEOUT),
        keep_generations=dict(type="int"),
        dependents_max_age_days=dict(type="int"),
    )
    if read_only:
        for name in WRITER_STORE_OPTIONS:
            del spec[name]
    return spec


def with_store(**options):
    """A module's argument_spec: its own options plus the store options."""
    spec = store_spec()
    spec.update(options)
    return spec


def with_read_only_store(**options):
    """A read-only module's argument_spec: its own options plus the store options a reader uses."""
    spec = store_spec(read_only=True)
    spec.update(options)
    return spec


# ---------------------------------------------------------------------------------------------- areas


def identity_spec(settings=True):
    """One identity's options: identity_certificate's (but ``purpose``), and the ``identity`` and
    ``telephony_identity`` areas of security_settings (``settings``: with the system-wide identity settings,
    Offer ID Certificate Chain and the automatic management settings)."""
    spec = dict(
        source=dict(type="str", choices=list(IDENTITY_SOURCES)),
        subject_name=dict(type="str"),
        subject_alt_names=dict(type="list", elements="str"),
        signature=dict(type="str", choices=list(SIGNATURES)),
        valid_days=dict(type="int"),
        regenerate=dict(type="str", choices=list(REGENERATE_CHOICES), default=DEFAULT_REGENERATE),
        renew_before_days=dict(type="int"),
        certificate_path=dict(type="path"),
        certificate_content=dict(type="str", no_log=True),
        password=dict(type="str", no_log=True),
        private_key_path=dict(type="path", no_log=False),
        private_key_content=dict(type="str", no_log=True),
        private_key_password=dict(type="str", no_log=True),
        chain_path=dict(type="path"),
        chain_content=dict(type="str", no_log=True),
        issuer_store=dict(type="path"),
    )
    if settings:
        spec.update(argspec_for("identity"))
    return spec


IDENTITY_EXCLUSIVE = [("certificate_path", "certificate_content"), ("private_key_path", "private_key_content"),
                      ("chain_path", "chain_content")]
IDENTITY_REQUIRED_IF = [("source", "import", ("certificate_path", "certificate_content"), True)]


def identity_area_spec(settings=True):
    """An identity as one option of security_settings (``identity``, ``telephony_identity``)."""
    return dict(type="dict", options=identity_spec(settings))


def certificate_item_spec(with_sha256=True):
    """One certificate item (trusted_certificate's ``certificates``, security_settings' ``trusted.certificates``
    and ``trusted.absent``): content and password can carry secrets, so they are never logged."""
    items = dict(path=dict(type="path"), content=dict(type="str", no_log=True),
                 password=dict(type="str", no_log=True))
    if with_sha256:
        items["sha256"] = dict(type="str")
    return items


def trusted_area_spec():
    """The ``trusted`` area of security_settings."""
    return dict(type="dict", options=dict(
        certificates=dict(type="list", elements="dict", default=[], options=certificate_item_spec(with_sha256=False)),
        exclusive=dict(type="bool", default=False),
        absent=dict(type="list", elements="dict", default=[], options=certificate_item_spec(with_sha256=True)),
        retire=dict(type="list", elements="dict", default=[], options=certificate_item_spec(with_sha256=True)),
        allow_in_use=dict(type="bool", default=False),
    ))


def ca_area_spec():
    """The ``ca`` area of security_settings: what the system's internal CA should be (_ca)."""
    return dict(type="dict", options=dict(
        subject_name=dict(type="str"),
        signature=dict(type="str", choices=list(SIGNATURES)),
        valid_days=dict(type="int"),
        regenerate=dict(type="str", choices=list(REGENERATE_CHOICES), default=DEFAULT_REGENERATE),
        renew_before_days=dict(type="int"),
        retire_previous=dict(type="bool", default=True),
        allow_in_use=dict(type="bool", default=False),
    ))


def scep_spec():
    """The SCEP options: the stored settings (left out: left as they are) and how to enroll.

    The same options and defaults in the scep module and in the ``scep`` area of security_settings.
    """
    spec = argspec_for("scep")
    spec.update(
        update_password=dict(type="str", choices=list(UPDATE_PASSWORD_CHOICES), default=UPDATE_PASSWORD_CHOICES[0],
                             no_log=False),
        enroll=dict(type="bool", default=False),
        subject_name=dict(type="str"),
        subject_alt_names=dict(type="list", elements="str"),
        signature=dict(type="str", choices=list(SCEP_SIGNATURES), default=DEFAULT_SIGNATURE),
        renew_before_days=dict(type="int", default=DEFAULT_SCEP_RENEW_BEFORE_DAYS),
        renewal_message=dict(type="str", choices=sorted(RENEWAL_MESSAGES), default="pkcsreq"),
        ca_fingerprint=dict(type="str"),
        ca_identifier=dict(type="str"),
        install_ca_certificate=dict(type="bool", default=False),
        ca_file=dict(type="path"),
        wait_timeout=dict(type="int", default=0),
        timeout=dict(type="int", default=30),
        retries=dict(type="int", default=3),
        use_proxy=dict(type="bool", default=True),
    )
    return spec


def endpoint_spec(**extras):
    """One live TLS endpoint (_endpoints): the same item, defaults and meaning in certificate_verify's
    ``endpoint``, the preflight's entries, live read-back's ``live_endpoints`` and the audit role's
    ``audit_endpoints``.  ``extras`` are the options the caller's item adds (``setting``, ``serves``).

    No defaults here: port, purpose and timeout default by what the endpoint is (_endpoints.resolve), and the
    name checked at the remote levels is peer_name, else only sip_domain when it is given, else server_name,
    else host.
    """
    options = dict(
        host=dict(type="str", required=True),
        port=dict(type="int"),
        server_name=dict(type="str"),
        peer_name=dict(type="str"),
        sip_domain=dict(type="str"),
        purpose=dict(type="str", choices=list(CHECK_PURPOSES)),
        timeout=dict(type="float"),
    )
    options.update(extras)
    return options


def preflight_spec():
    """The ``preflight`` option (certificate_checks, and the checks area of security_settings)."""
    return dict(type="list", elements="dict", default=[],
                options=endpoint_spec(setting=dict(type="str", required=True)))


def checks_spec():
    """The certificate checks settings (left out: left as they are) and the preflight.

    The same options and defaults in certificate_checks and in the ``checks`` area of security_settings; the
    IP Office lines are a list option of their own (lines_spec).
    """
    spec = argspec_for("checks")
    del spec["ip_office_lines"]
    spec.update(
        preflight=preflight_spec(),
        preflight_mode=dict(type="str", choices=list(PREFLIGHT_MODES), default="enforce"),
        preflight_timeout=dict(type="float", default=DEFAULT_PREFLIGHT_TIMEOUT),
    )
    return spec


def lines_spec():
    """The IP Office lines with WebSocket transport: the complete desired set (a line left out is removed).

    ``transport`` and ``check_level`` have no ``choices`` here: the core checks them (LINE_TRANSPORTS,
    LINE_CHECK_LEVELS) and names the line in its error (invalid_choice), which Ansible's check would not.
    """
    return dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        transport=dict(type="str"),
        check_level=dict(type="str"),
    ))


# -------------------------------------------------------------------------------------------- modules

_CERT_SOURCE = dict(path=dict(type="path"), content=dict(type="str", no_log=True))
_ONE_SOURCE = dict(mutually_exclusive=[("path", "content")], required_one_of=[("path", "content")])


def _certificate_checks():
    spec = checks_spec()
    # 'lines', as in security_settings; 'ip_office_lines' (the stored setting's name) is its former name.
    spec["lines"] = dict(lines_spec(), aliases=["ip_office_lines"], deprecated_aliases=[
        dict(name="ip_office_lines", version="2.0.0", collection_name="ipoffice.security")])
    return dict(argument_spec=with_store(**spec))


def _certificate_verify():
    return dict(
        argument_spec=with_read_only_store(
            certificate=dict(type="dict", options=copy.deepcopy(_CERT_SOURCE), **copy.deepcopy(_ONE_SOURCE)),
            chain=dict(type="list", elements="dict", options=copy.deepcopy(_CERT_SOURCE), **copy.deepcopy(_ONE_SOURCE)),
            endpoint=dict(type="dict", options=endpoint_spec()),
            level=dict(type="str", required=True, choices=list(CHECK_LEVELS)),
            purpose=dict(type="str", choices=list(CHECK_PURPOSES)),
            peer_name=dict(type="str"),
            sip_domain=dict(type="str"),
            trusted=dict(type="list", elements="dict", options=copy.deepcopy(_CERT_SOURCE),
                         **copy.deepcopy(_ONE_SOURCE)),
            fail_on_reject=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("certificate", "endpoint"), ("chain", "endpoint")],
        required_one_of=[("certificate", "endpoint")],
    )


def _export():
    return dict(argument_spec=with_read_only_store(
        path=dict(type="path", required=True),
        password=dict(type="str", no_log=True),
        encryption=dict(type="str", choices=list(EXPORT_ENCRYPTIONS), default="modern"),
        allow_expired=dict(type="bool", default=False),
    ))


def _generation():
    return dict(argument_spec=with_store(restore=dict(type="str"), allow_expired=dict(type="bool", default=False)))


def _identity_certificate():
    options = dict(purpose=dict(type="str", choices=list(IDENTITY_PURPOSES), default="system"))
    options.update(identity_spec())
    return dict(argument_spec=with_store(**options), mutually_exclusive=list(IDENTITY_EXCLUSIVE),
                required_if=list(IDENTITY_REQUIRED_IF))


def _issued_certificate():
    return dict(argument_spec=with_store(
        subject_name=dict(type="str"),
        csr_path=dict(type="path"),
        csr_content=dict(type="str", no_log=True),
        subject_alt_names=dict(type="list", elements="str"),
        signature=dict(type="str", choices=list(SIGNATURES)),
        valid_days=dict(type="int"),
        renew_before_days=dict(type="int"),
        format=dict(type="str", choices=list(ISSUED_FORMATS)),
        path=dict(type="path", required=True),
        private_key_path=dict(type="path", no_log=False),
        chain_path=dict(type="path"),
        password=dict(type="str", no_log=True),
    ))


def _scep():
    return dict(argument_spec=with_store(**scep_spec()))


def _security_info():
    return dict(argument_spec=with_read_only_store(
        query=dict(type="str"),
        live_endpoints=dict(type="list", elements="dict", options=endpoint_spec(
            serves=dict(type="str", required=True),
            probe=dict(type="bool", default=False),
        )),
        live_timeout=dict(type="float", default=10.0),
        # The key file's path is not a secret; the key itself is read on the node and never logged.
        live_probe_ca=dict(type="dict", options=dict(
            certificate_path=dict(type="path", required=True),
            private_key_path=dict(type="path", required=True, no_log=False),
            private_key_password=dict(type="str", no_log=True),
        )),
    ))


def security_settings_spec():
    """security_settings' options: the store options and one option per area (the baseline role's variable)."""
    return with_store(
        trusted=trusted_area_spec(),
        ca=ca_area_spec(),
        identity=identity_area_spec(settings=True),
        telephony_identity=identity_area_spec(settings=False),
        scep=dict(type="dict", options=scep_spec()),
        checks=dict(type="dict", options=checks_spec()),
        lines=lines_spec(),
        # Not an area: how the areas are applied (merged, overridden) or whether the store is only read
        # (gathered, rendered).  The baseline role passes its own variable baseline_state here.
        state=dict(type="str", choices=list(SETTINGS_STATES), default=DEFAULT_SETTINGS_STATE),
    )


def _security_settings():
    return dict(argument_spec=security_settings_spec())


def _trusted_certificate():
    return dict(argument_spec=with_store(
        certificates=dict(type="list", elements="dict", required=True, options=certificate_item_spec()),
        state=dict(type="str", default="present", choices=list(TRUSTED_STATES)),
        exclusive=dict(type="bool", default=False),
        allow_in_use=dict(type="bool", default=False),
    ))


# name -> (the module_utils file that owns the module and holds its run(), the AnsibleModule arguments)
MODULES = {
    "certificate_checks": ("_checks_settings", _certificate_checks),
    "certificate_verify": ("_verify", _certificate_verify),
    "export": ("_export", _export),
    "generation": ("_generation", _generation),
    "identity_certificate": ("_identity", _identity_certificate),
    "issued_certificate": ("_issued", _issued_certificate),
    "scep": ("_scep_settings", _scep),
    "security_info": ("_info", _security_info),
    "security_settings": ("_settings", _security_settings),
    "trusted_certificate": ("_trusted", _trusted_certificate),
}


def check_paths(argument_spec, params, prefix="", raw=None):
    """``invalid_characters`` for a NUL in any option of type path (nested options included), naming it.

    Ansible passes such a value through; every later use of it (open, stat, makedirs) would fail with a raw
    ValueError.  With ``raw``, the arguments as the task gave them (before Ansible's validator converted
    them), a path given as anything but text -- a dictionary, a list, a number, which Ansible turns into
    their printed form ("{'a': 1}", a directory of that name) -- is ``invalid_setting``.  Run before anything
    else reads the params.
    """
    for option, entry in argument_spec.items():
        value = params.get(option) if isinstance(params, dict) else None
        if value is None:
            continue
        where = prefix + option
        given = raw.get(option) if isinstance(raw, dict) else None
        if entry.get("type") == "path":
            if given is not None and not isinstance(given, str):
                raise SecurityError("invalid_setting", "%s must be a path (text), got a %s: %s. Change the '%s' "
                                    "option." % (where, _type_name(given), _short(given), where), option=where)
            check_path(value, where)
        elif entry.get("options") and isinstance(value, dict):
            check_paths(entry["options"], value, where + ".", given)
        elif entry.get("options") and isinstance(value, list):
            for index, item in enumerate(value):
                item_raw = given[index] if isinstance(given, list) and index < len(given) else None
                check_paths(entry["options"], item, "%s[%d]." % (where, index), item_raw)


def _type_name(value):
    if isinstance(value, bool):
        return "boolean"
    return {dict: "dictionary", list: "list", int: "number", float: "number"}.get(type(value), type(value).__name__)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_only(name):
    """Whether the module ``name`` only reads its store (it takes no writer options)."""
    return "keep_generations" not in MODULES[name][1]()["argument_spec"]


def owner(name):
    """The module_utils file (its name in this collection's module_utils) that holds the module's run()."""
    return MODULES[name][0]


def module_kwargs(name):
    """What the module ``name`` passes to AnsibleModule (a fresh copy: callers may change it)."""
    kwargs = MODULES[name][1]()
    kwargs["supports_check_mode"] = True
    return kwargs
