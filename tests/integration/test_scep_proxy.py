"""SCEP through an HTTP proxy: the real scepserver behind Debian's real tinyproxy on 127.0.0.1.

http servers are requested from the proxy in absolute form, https servers through a CONNECT tunnel (TLS with
the SCEP server end to end); NO_PROXY and use_proxy: false go direct; a proxy that wants credentials gets
them from the proxy URL and never shows them; the time and size bounds hold through a proxy.
"""

import os

import pytest

import helpers
import scep_servers

from ansible_collections.ipoffice.security.plugins.module_utils import _scep, _scep_settings
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                   "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Each test sets the proxy variables it means; none leaks in from the machine."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def depot(tmp_path_factory):
    helpers.need_tool("scepserver", "apt-get install scep")
    return scep_servers.init_depot(str(tmp_path_factory.mktemp("scep") / "depot"))


@pytest.fixture(scope="module")
def server(depot):
    with scep_servers.scepserver(depot) as running:
        yield running


@pytest.fixture
def proxy(tmp_path):
    with scep_servers.tinyproxy(str(tmp_path / "tinyproxy")) as running:
        yield running


def new_store(tmp_path, name="store"):
    return DirectoryStore(str(tmp_path / name), system_name="ipo1.example.com", system_addresses=["192.0.2.10"])


def params_for(port, **extra):
    params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password=scep_servers.CHALLENGE,
                  enroll=True, retries=0, timeout=10)
    params.update(extra)
    return params


def closed_port():
    return helpers.free_port()  # nothing listens there


def test_http_enrollment_goes_through_the_proxy_in_absolute_form(tmp_path, server, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    store = new_store(tmp_path)
    result = _scep_settings.converge(store, params_for(server.port))
    assert result["status"] == "issued" and result["changed"] is True, result
    assert store.read().identity.meta["source"] == "scep"
    seen = proxy.requests()
    base = "http://127.0.0.1:%d/scep?operation=" % server.port
    assert "GET %sGetCACaps HTTP/1.1" % base in seen
    assert "GET %sGetCACert HTTP/1.1" % base in seen
    assert any(line.startswith(("POST %sPKIOperation" % base, "GET %sPKIOperation" % base)) for line in seen), seen


def test_https_enrollment_goes_through_a_connect_tunnel(tmp_path, server, proxy, monkeypatch):
    """The server behind TLS; the proxy only sees CONNECT, the TLS handshake verifies the SCEP server itself."""
    tls = scep_servers.TlsFiles(str(tmp_path / "tls"))
    with scep_servers.rewriting_proxy(server.port, public_path="/scep", tls=tls) as front:
        port = front.server_address[1]
        monkeypatch.setenv("https_proxy", proxy.url)
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % closed_port())  # never used for https
        store = new_store(tmp_path)
        result = _scep_settings.converge(store, params_for(port, scheme="https", ca_file=tls.ca_file))
        assert result["status"] == "issued", result
        assert ("GET", "/scep") in front.seen
    seen = proxy.requests()
    assert seen and all(line.startswith("CONNECT 127.0.0.1:%d HTTP/1." % port) for line in seen), seen
    # A server certificate the ca_file does not trust still fails on TLS, through the tunnel as directly.
    other = scep_servers.TlsFiles(str(tmp_path / "other"))
    with scep_servers.rewriting_proxy(server.port, public_path="/scep", tls=tls) as front:
        with pytest.raises(SecurityError) as info:
            _scep_settings.converge(new_store(tmp_path, "untrusted"),
                                    params_for(front.server_address[1], scheme="https", ca_file=other.ca_file))
    assert info.value.code == "scep_tls_error"


def test_no_proxy_and_use_proxy_false_go_direct(tmp_path, server, monkeypatch):
    """The proxy variables name a port where nothing listens: only a direct connection can enroll."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % closed_port())
    for index, (no_proxy, use_proxy) in enumerate([("127.0.0.1", True), ("localhost,127.0.0.0/8", True),
                                                   (".example.com, 127.0.0.1:%d" % server.port, True),
                                                   ("*", True), (None, False)]):
        if no_proxy is None:
            monkeypatch.delenv("NO_PROXY", raising=False)
        else:
            monkeypatch.setenv("NO_PROXY", no_proxy)
        result = _scep_settings.converge(new_store(tmp_path, "s%d" % index),
                                         params_for(server.port, use_proxy=use_proxy))
        assert result["status"] == "issued", (no_proxy, use_proxy, result)


def test_an_unreachable_proxy_is_named_and_nothing_is_written(tmp_path, server, monkeypatch):
    dead = closed_port()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % dead)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1:1,example.com")  # names neither this host and port nor it
    store = new_store(tmp_path)
    store.update(lambda state: None)
    digest = helpers.tree_digest(store.path)
    with pytest.raises(SecurityError) as info:
        _scep_settings.converge(store, params_for(server.port))
    assert info.value.code == "scep_unreachable" and info.value.option == "server"
    assert "through the proxy http://127.0.0.1:%d" % dead in info.value.message
    assert "HTTP_PROXY" in info.value.message and "use_proxy" in info.value.message
    assert helpers.tree_digest(store.path) == digest


def test_proxy_credentials_come_from_the_url_and_are_never_shown(tmp_path, server, monkeypatch):
    user, password = "ipo", "Pr0xy-s3cret.x9"  # tinyproxy takes [-a-z0-9._] only
    with scep_servers.tinyproxy(str(tmp_path / "authproxy"), basic_auth=(user, password)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        store = new_store(tmp_path, "refused")
        with pytest.raises(SecurityError) as info:
            _scep_settings.converge(store, params_for(server.port, retries=3))
        assert info.value.code == "scep_http_error" and info.value.option == "use_proxy"
        assert "407" in info.value.message and proxy.url in info.value.message
        assert len(proxy.requests()) == 1  # a refusal by the proxy is final: not retried
        monkeypatch.setenv("HTTP_PROXY", "http://%s:%s@127.0.0.1:%d" % (user, "Pr0xy-s3cret%2Ex9", proxy.port))
        store = new_store(tmp_path, "allowed")
        result = _scep_settings.converge(store, params_for(server.port))
        assert result["status"] == "issued", result
        assert password not in repr(result) and "Pr0xy" not in repr(result)
        assert helpers.store_secret_leaks(store.path, [password]) == []
        monkeypatch.setenv("HTTP_PROXY", "http://%s:wrong@127.0.0.1:%d" % (user, proxy.port))
        with pytest.raises(SecurityError) as info:
            _scep_settings.converge(new_store(tmp_path, "wrong"), params_for(server.port))
        assert info.value.code == "scep_http_error" and "wrong" not in info.value.message


@pytest.mark.parametrize("behaviour", ["trickle_body", "endless_plain", "huge_length"])
def test_the_time_and_size_bounds_hold_through_a_proxy(behaviour, monkeypatch):
    """A proxy that trickles, never ends or announces a huge reply is cut off like a server would be."""
    with helpers.HostileServer(behaviour, interval=0.2) as hostile:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % hostile.port)
        transport = _scep.Transport("http://192.0.2.1:8080/scep", timeout=2, retries=0,
                                    proxy=_scep.proxy_for("http://192.0.2.1:8080/scep"))
        try:
            outcome, elapsed = helpers.bounded_call(lambda: transport.request("GetCACaps"), 20)
        finally:
            transport.close()
    assert outcome[0] == "raised" and isinstance(outcome[1], SecurityError), outcome
    assert outcome[1].code == "scep_unreachable" and "through the proxy" in outcome[1].message
    assert elapsed < 10, elapsed


def test_a_connect_tunnel_that_never_opens_is_bounded(monkeypatch):
    with helpers.HostileServer("trickle_headers", interval=0.2) as hostile:
        monkeypatch.setenv("HTTPS_PROXY", "127.0.0.1:%d" % hostile.port)  # no scheme: http:// is meant
        url = "https://192.0.2.1/scep"
        transport = _scep.Transport(url, timeout=2, retries=0, proxy=_scep.proxy_for(url))
        try:
            outcome, elapsed = helpers.bounded_call(lambda: transport.request("GetCACaps"), 20)
        finally:
            transport.close()
    assert outcome[0] == "raised" and outcome[1].code == "scep_unreachable", outcome
    assert elapsed < 10, elapsed


def test_the_module_reads_the_proxy_from_the_task_environment(tmp_path, server, proxy):
    """Through ansible-playbook: the task's environment keyword reaches the module on the managed node."""
    args = dict(params_for(server.port), store_path=str(tmp_path / "store"), system_name="ipo1.example.com",
                system_addresses=[])
    run = helpers.run_tasks([
        {"ipoffice.security.scep": args, "environment": {"HTTP_PROXY": proxy.url, "NO_PROXY": "localhost"}},
        {"ipoffice.security.scep": dict(args, use_proxy=False),
         "environment": {"HTTP_PROXY": "http://127.0.0.1:%d" % closed_port()}},
    ], tmp_path)
    through, direct = run.results
    assert through["changed"] is True and through["status"] == "issued", through
    assert direct["changed"] is False and not direct.get("failed"), direct
    assert any("GetCACaps" in line for line in proxy.requests())
    assert os.path.isdir(str(tmp_path / "store"))
