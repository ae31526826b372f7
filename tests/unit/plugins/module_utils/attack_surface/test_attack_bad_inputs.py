"""Bad inputs, per module: every value a reader limits is refused by the writer first (value_too_large),
every time option given NaN, an infinity or 1e308 fails with out_of_range, NUL in a path with
invalid_characters, the store options within their bounds -- never a raw error, and the store untouched.

Each case runs through the module's own core (its run(), with the params Ansible would pass), in check
mode and for real, against a copy of an initialised store (conftest.refused: the exact code and option,
the store byte-identical and still readable, nothing written beside it).
"""

import math
import os

import pytest

from conftest import both_modes, params_for, refused, run

from ansible_collections.ipoffice.security.plugins.module_utils import _model, _specs, _store
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

MB = 1024 * 1024
BIG = "x" * (MB + 100 * 1024)            # 1.1 MB: more than a reader accepts in any one file
LINE = {"transport": "websocket_client", "check_level": "medium"}


def lines(count, name_length=10):
    return [dict(LINE, name=("l%0" + str(name_length - 1) + "d") % index) for index in range(count)]


# (label, module, params, code, option) -- the red team's cases first, then every other write-side limit.
TOO_LARGE = [
    ("SCEP password of 1.1 MB", "scep", {"password": BIG}, "password"),
    ("SCEP password of 1.1 MB through security_settings", "security_settings", {"scep": {"password": BIG}},
     "scep.password"),
    ("san_details_origin of 1.1 MB", "identity_certificate", {"san_details_origin": BIG}, "san_details_origin"),
    ("san_details_origin through security_settings", "security_settings",
     {"identity": {"san_details_origin": BIG}}, "identity.san_details_origin"),
    ("10,000 lines", "certificate_checks", {"lines": lines(10000)}, "lines"),
    ("10,000 lines through security_settings", "security_settings", {"lines": lines(10000)}, "lines"),
    ("one line name of 2 MB", "certificate_checks", {"lines": [dict(LINE, name="n" * 2 * MB)]}, "lines"),
    ("1,001 lines (the limit is 1,000)", "certificate_checks", {"lines": lines(1001)}, "lines"),
    ("a line name of 129 characters", "certificate_checks", {"lines": lines(1, name_length=129)}, "lines"),
    ("SCEP server of 254 characters", "scep", {"server": "a" * 254}, "server"),
    ("SCEP uri of 2,049 characters", "scep", {"uri": "/" + "u" * 2048}, "uri"),
    ("SCEP password of 1,025 characters", "scep", {"password": "p" * 1025}, "password"),
    ("subject name (a DN) of 1,025 characters", "identity_certificate",
     {"source": "generate", "subject_name": "CN=ipo1,O=" + "o" * 1015}, "subject_name"),
    ("101 subject alternative names", "identity_certificate",
     {"source": "generate", "subject_name": "ipo1.example.com",
      "subject_alt_names": ["DNS:h%d.example.com" % i for i in range(101)]}, "subject_alt_names"),
    ("a SAN of 513 characters", "identity_certificate",
     {"source": "generate", "subject_name": "ipo1.example.com", "subject_alt_names": ["URI:sip:" + "a" * 505]},
     "subject_alt_names"),
    ("SCEP enrollment subject_alt_names of 101 entries", "scep",
     {"active": True, "server": "127.0.0.1", "port": 9, "enroll": True, "retries": 0, "timeout": 1,
      "subject_alt_names": ["DNS:h%d.example.com" % i for i in range(101)]}, "subject_alt_names"),
    ("issued certificate subject_alt_names of 101 entries", "issued_certificate",
     {"subject_name": "sbc.example.com", "path": "/nonexistent/out.p12", "password": "pw",
      "subject_alt_names": ["DNS:h%d.example.com" % i for i in range(101)]}, "subject_alt_names"),
    ("system_name of 254 characters", "trusted_certificate",
     {"system_name": "s" * 254, "certificates": [{"sha256": "00" * 32}], "state": "absent"}, "system_name"),
    ("101 system_addresses", "trusted_certificate",
     {"system_addresses": ["192.0.2.%d" % (i % 250) for i in range(101)], "certificates": [{"sha256": "00" * 32}],
      "state": "absent"}, "system_addresses"),
    ("101 preflight endpoints", "certificate_checks",
     {"management_interfaces": "low", "preflight": [{"host": "127.0.0.1", "port": 9, "setting": "management"}] * 101},
     "preflight"),
]


@pytest.mark.parametrize("label,module,params,option", TOO_LARGE, ids=[case[0] for case in TOO_LARGE])
def test_a_value_its_readers_would_refuse_is_refused_before_anything_is_written(victim, label, module, params,
                                                                                option):
    both_modes(victim, module, "value_too_large", option, **params)


def test_the_too_large_message_names_size_and_limit_never_the_value(victim):
    secret = "s3cret-" + "p" * 2000
    err = refused(victim, lambda: run("scep", store_path=victim, password=secret), "value_too_large", "password")
    assert "2007 characters" in err.message and "at most 1024" in err.message
    assert "s3cret" not in err.message and "s3cret" not in repr(err.as_result())
    assert err.details == {"size": 2007, "limit": 1024}


def test_lines_up_to_the_limit_are_written_and_read_back(victim):
    result = run("certificate_checks", store_path=victim, lines=lines(_model.MAX_LINES, 128))
    assert result["changed"] is True
    state = _store.DirectoryStore(victim).read()
    assert len(state.settings["checks"]["ip_office_lines"]) == _model.MAX_LINES


def test_a_2_mb_ansible_target_log_info_note_is_cut_not_written_whole(victim):
    store = _store.DirectoryStore(victim)
    store.made_by = {"module": "ipoffice.security.scep", "note": "n" * 2 * MB}
    store.update(lambda state: state.data.__setitem__("touched", True))
    record = _store.DirectoryStore(victim).read().made_by
    assert len(record["note"]) == _model.MAX_NOTE_CHARS and record["note"].endswith("...")


# ------------------------------------------------------------------------------------- time options

NOT_FINITE = [float("nan"), float("inf"), -float("inf"), 1e308]
ENDPOINT = {"host": "127.0.0.1", "port": 9}
PREFLIGHT = [{"host": "127.0.0.1", "port": 9, "setting": "management"}]
TIMEOUTS = [
    ("certificate_verify endpoint.timeout", "certificate_verify",
     lambda v: {"level": "low", "endpoint": dict(ENDPOINT, timeout=v)}, "endpoint.timeout"),
    ("security_info live_timeout", "security_info",
     lambda v: {"live_timeout": v, "live_endpoints": [dict(ENDPOINT, serves="management")]}, "live_timeout"),
    ("certificate_checks preflight_timeout", "certificate_checks",
     lambda v: {"management_interfaces": "low", "preflight": PREFLIGHT, "preflight_timeout": v}, "preflight_timeout"),
    ("security_settings checks.preflight_timeout", "security_settings",
     lambda v: {"checks": {"management_interfaces": "low", "preflight": PREFLIGHT, "preflight_timeout": v,
                           "preflight_mode": "enforce"}}, "checks.preflight_timeout"),
]


@pytest.mark.parametrize("value", NOT_FINITE, ids=["nan", "inf", "-inf", "1e308"])
@pytest.mark.parametrize("label,module,params,option", TIMEOUTS, ids=[case[0] for case in TIMEOUTS])
def test_a_time_option_that_is_not_a_finite_number_of_seconds_is_out_of_range(victim, label, module, params,
                                                                              option, value):
    both_modes(victim, module, "out_of_range", option, **params(value))


def test_zero_or_negative_timeouts_are_out_of_range(victim):
    refused(victim, lambda: run("certificate_verify", store_path=victim, level="low",
                                endpoint=dict(ENDPOINT, timeout=0)), "out_of_range", "endpoint.timeout")
    refused(victim, lambda: run("security_info", store_path=victim, live_timeout=-1,
                                live_endpoints=[dict(ENDPOINT, serves="management")]),
            "out_of_range", "live_timeout")
    refused(victim, lambda: run("certificate_checks", store_path=victim, management_interfaces="low",
                                preflight=PREFLIGHT, preflight_timeout=0), "out_of_range", "preflight_timeout")


def _numeric_options():
    """(module, option path, spec entry) of every int and float option of every module, nested ones too."""
    found = []

    def walk(module, spec, prefix):
        for option, entry in sorted(spec.items()):
            if entry.get("type") in ("int", "float"):
                found.append((module, prefix + (option,)))
            elif entry.get("options") and entry.get("type") == "dict":
                walk(module, entry["options"], prefix + (option,))
    for module in sorted(_specs.MODULES):
        walk(module, _specs.module_kwargs(module)["argument_spec"], ())
    return found


# What a numeric option needs beside it to be used at all (so that the bad value is reached).
CONTEXT = {
    "certificate_verify": {"level": "low", "endpoint": dict(ENDPOINT)},
    "security_info": {"live_endpoints": [dict(ENDPOINT, serves="management")]},
    "certificate_checks": {"management_interfaces": "low", "preflight": PREFLIGHT},
    "identity_certificate": {"source": "generate", "subject_name": "ipo1.example.com"},
    "issued_certificate": {"subject_name": "sbc.example.com", "password": "pw"},
    "scep": {"active": True, "server": "127.0.0.1", "enroll": True, "retries": 0, "timeout": 1},
    "export": {"password": "pw"},
    "trusted_certificate": {"certificates": [{"sha256": "00" * 32}], "state": "absent"},
    "generation": {},
    "security_settings": {"identity": {"source": "generate", "subject_name": "ipo1.example.com"},
                          "telephony_identity": {"source": "generate", "subject_name": "sip.example.com"},
                          "checks": {"management_interfaces": "low", "preflight": PREFLIGHT},
                          "scep": {"active": True, "server": "127.0.0.1"}},
}
HOSTILE_NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e308, 10 ** 18, -10 ** 18]


def _given(module, path, value, work):
    params = dict((k, (dict(v) if isinstance(v, dict) else v)) for k, v in CONTEXT[module].items())
    if module in ("issued_certificate", "export"):
        params["path"] = os.path.join(work, "out-" + module)
    target = params
    for part in path[:-1]:
        target[part] = dict(target.get(part) or params_for(module).get(part) or {})
        target = target[part]
    target[path[-1]] = value
    return params


@pytest.mark.parametrize("module,path", _numeric_options(), ids=[".".join((m,) + p) for m, p in _numeric_options()])
def test_every_numeric_option_given_nan_infinities_or_huge_values_fails_with_a_code(victim, module, path):
    work = os.path.dirname(victim)
    for value in HOSTILE_NUMBERS:
        given = _given(module, path, value, work)
        try:
            run(module, check_mode=False, store_path=victim, **given)
        except SecurityError as exc:
            assert exc.code in ("out_of_range", "invalid_setting"), (path, value, exc.code, exc.message)
            continue
        # Accepted: only a value that is a real number in range may be (a huge renew window is not an error).
        assert not (isinstance(value, float) and not math.isfinite(value)), (module, path, value)
    assert _store.DirectoryStore(victim).read() is not None


@pytest.mark.parametrize("value,ok", [(-1, False), (-0.5, False), (3601, False), (10 ** 9, False),
                                      (float("nan"), False), (0, True), (3600, True)])
def test_lock_timeout_is_from_0_to_3600(victim, value, ok):
    def call():
        return run("trusted_certificate", store_path=victim, lock_timeout=value,
                   certificates=[{"sha256": "00" * 32}], state="absent")

    if ok:
        assert call()["changed"] is False
    else:
        refused(victim, call, "out_of_range", "lock_timeout")


@pytest.mark.parametrize("value,ok", [(1, False), (0, False), (-3, False), (101, False), (1000000, False),
                                      (2, True), (100, True)])
def test_keep_generations_is_from_2_to_100(victim, value, ok):
    def call():
        return run("generation", store_path=victim, keep_generations=value)

    if ok:
        result = run("generation", check_mode=True, store_path=victim, keep_generations=value)
        assert result["keep_generations"] == value
    else:
        refused(victim, call, "out_of_range", "keep_generations")


def test_a_store_written_with_more_generations_kept_than_allowed_now_still_reads(victim):
    # keep_generations 1000 was accepted before the bound: such a store reads, and a change keeps its setting.
    store = _store.DirectoryStore(victim)
    store.update(lambda state: setattr(state, "keep_generations", 1000))
    assert _store.DirectoryStore(victim).read().keep_generations == 1000
    run("certificate_checks", store_path=victim, certificate_expiry_warning_days=90)
    assert _store.DirectoryStore(victim).read().keep_generations == 1000


# ------------------------------------------------------------------------------------ NUL in a path


@pytest.mark.parametrize("module", sorted(_specs.MODULES))
def test_nul_in_store_path_is_invalid_characters_for_every_module(victim, module):
    bad = victim + "\x00evil"
    err = refused(victim, lambda: run(module, store_path=bad, **CONTEXT[module]), "invalid_characters", "store_path")
    assert "position %d" % (len(victim) + 1) in err.message


def _path_options():
    found = []

    def walk(module, spec, prefix):
        for option, entry in sorted(spec.items()):
            if entry.get("type") == "path" and option != "store_path":
                found.append((module, prefix + (option,)))
            elif entry.get("options"):
                walk(module, entry["options"], prefix + (option,))
    for module in sorted(_specs.MODULES):
        walk(module, _specs.module_kwargs(module)["argument_spec"], ())
    return found


def _nested(module, path, value):
    """(params, the option's full name) with ``value`` at the path option ``path`` (list items as [0])."""
    spec = _specs.module_kwargs(module)["argument_spec"]
    params, option = {}, ""
    target = params
    for part in path[:-1]:
        entry = spec[part]
        child = {} if entry["type"] == "dict" else [{}]
        target[part] = child
        target = child if isinstance(child, dict) else child[0]
        option += part + ("." if isinstance(child, dict) else "[0].")
        spec = entry["options"]
    target[path[-1]] = value
    return params, option + path[-1]


@pytest.mark.parametrize("module,path", _path_options(), ids=[".".join((m,) + p) for m, p in _path_options()])
def test_nul_in_any_path_option_is_invalid_characters_naming_it(module, path):
    params, option = _nested(module, path, "/tmp/x\x00y")
    with pytest.raises(SecurityError) as err:
        _specs.check_paths(_specs.module_kwargs(module)["argument_spec"], params)
    assert err.value.code == "invalid_characters" and err.value.option == option, err.value.option


def test_nul_in_a_certificate_path_is_refused_by_the_core_reader_too(victim):
    refused(victim, lambda: run("trusted_certificate", store_path=victim,
                                certificates=[{"path": os.path.join(victim, "current", "ca", "cert.pem\x00")}]),
            "invalid_characters", "certificates[0].path")


@pytest.mark.parametrize("given,kind", [({"a": 1}, "dictionary"), (["/tmp/x"], "list"), (5, "number"),
                                        (True, "boolean")])
@pytest.mark.parametrize("module,path", _path_options(), ids=[".".join((m,) + p) for m, p in _path_options()])
def test_a_path_option_given_anything_but_text_is_invalid_setting_naming_it(module, path, given, kind):
    """Ansible's validator turns a dictionary, a list or a number given as a path into its printed form
    ("{'a': 1}", a directory of that name under the working directory): the arguments as given are refused."""
    raw, option = _nested(module, path, given)
    converted, _option = _nested(module, path, str(given))  # what Ansible's validator passes on
    with pytest.raises(SecurityError) as err:
        _specs.check_paths(_specs.module_kwargs(module)["argument_spec"], converted, raw=raw)
    assert err.value.code == "invalid_setting" and err.value.option == option
    assert err.value.message.startswith("%s must be a path (text), got a %s: " % (option, kind))
    # the same path given as text passes
    text, _option = _nested(module, path, "/tmp/x")
    _specs.check_paths(_specs.module_kwargs(module)["argument_spec"], text, raw=text)
