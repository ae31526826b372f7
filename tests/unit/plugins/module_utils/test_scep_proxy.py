"""Which proxy a SCEP URL goes through (_scep.proxy_for): the variables curl and Python read, NO_PROXY,
use_proxy, credentials, and refusals of what is not an http:// proxy."""

import base64

import pytest

import helpers  # noqa: F401  # pylint: disable=unused-import  # puts the collection on sys.path
from ansible_collections.ipoffice.security.plugins.module_utils import _scep
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

HTTP = "http://ca.example.com/scep"
HTTPS = "https://ca.example.com/scep"


def where(url, use_proxy=True, **environ):
    proxy = _scep.proxy_for(url, use_proxy=use_proxy, environ=environ)
    return None if proxy is None else (proxy.host, proxy.port, proxy.variable)


def test_the_scheme_picks_the_variable_and_lower_case_wins():
    assert where(HTTP, HTTP_PROXY="http://p1:3128") == ("p1", 3128, "HTTP_PROXY")
    assert where(HTTP, http_proxy="http://p2:8080", HTTP_PROXY="http://p1:3128") == ("p2", 8080, "http_proxy")
    assert where(HTTPS, HTTP_PROXY="http://p1:3128") is None
    assert where(HTTPS, HTTPS_PROXY="p3:3128") == ("p3", 3128, "HTTPS_PROXY")  # no scheme: http:// meant
    assert where(HTTP, HTTP_PROXY="http://p4") == ("p4", 80, "HTTP_PROXY")
    assert where(HTTP, HTTP_PROXY="  ") is None and where(HTTP) is None


def test_use_proxy_false_and_cgi_ignore_the_variables():
    assert where(HTTP, use_proxy=False, HTTP_PROXY="http://p1:3128") is None
    # Under CGI a client can set HTTP_PROXY as a request header ("httpoxy"): only http_proxy counts there.
    assert where(HTTP, HTTP_PROXY="http://evil:1", REQUEST_METHOD="GET") is None
    assert where(HTTP, http_proxy="http://p2:1", REQUEST_METHOD="GET") == ("p2", 1, "http_proxy")


@pytest.mark.parametrize("no_proxy, url, bypassed", [
    ("*", HTTP, True),
    ("ca.example.com", HTTP, True),
    ("example.com", HTTP, True),                       # a domain covers its subdomains
    (".example.com", HTTP, True),
    ("*.example.com", HTTP, True),
    ("other.com, example.com", HTTP, True),            # comma and blank separated
    ("ample.com", HTTP, False),                        # not a label boundary
    ("ca.example.com:80", HTTP, True),
    ("ca.example.com:8080", HTTP, False),              # another port
    ("ca.example.com:443", HTTPS, True),
    ("CA.Example.COM", HTTP, True),
    ("127.0.0.1", "http://127.0.0.1:8080/scep", True),
    ("127.0.0.0/8", "http://127.0.0.1:8080/scep", True),
    ("10.0.0.0/8", "http://127.0.0.1:8080/scep", False),
    ("::1", "http://[::1]:8080/scep", True),
    ("[::1]:8080", "http://[::1]:8080/scep", True),
    ("fd00::/8", "http://[fd00::5]/scep", True),
    ("", HTTP, False),
])
def test_no_proxy(no_proxy, url, bypassed):
    found = where(url, http_proxy="http://p:1", https_proxy="http://p:1", NO_PROXY=no_proxy)
    assert (found is None) is bypassed, found


def test_credentials_become_basic_proxy_authorization_and_are_never_shown():
    proxy = _scep.proxy_for(HTTP, environ={"HTTP_PROXY": "http://us%40er:p%3Ass@p1:3128"})
    assert proxy.headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"us@er:p:ss").decode()}
    assert proxy.label == "http://p1:3128" and "p%3Ass" not in proxy.label
    assert _scep.proxy_for(HTTP, environ={"HTTP_PROXY": "http://p1:3128"}).headers == {}


@pytest.mark.parametrize("value", ["https://p1:3128", "socks5://p1:1080", "http://p1:notaport", "http://:3128",
                                   "http://user:secret@p1:99999"])
def test_what_is_not_an_http_proxy_is_refused_naming_the_variable(value):
    with pytest.raises(SecurityError) as info:
        _scep.proxy_for(HTTP, environ={"HTTP_PROXY": value})
    assert info.value.code == "invalid_url" and info.value.option == "use_proxy"
    assert "HTTP_PROXY" in info.value.message and "secret" not in info.value.message
    # The same variable with use_proxy false is never read.
    assert _scep.proxy_for(HTTP, use_proxy=False, environ={"HTTP_PROXY": value}) is None


def test_the_transport_names_the_proxy_in_its_messages_and_asks_in_absolute_form():
    proxy = _scep.proxy_for(HTTP, environ={"HTTP_PROXY": "http://u:pw@p1:3128"})
    transport = _scep.Transport("http://ca.example.com:8080/scep", proxy=proxy)
    assert transport.where == "http://ca.example.com:8080/scep (through the proxy http://p1:3128)"
    assert transport.netloc == "ca.example.com:8080"
    assert _scep.Transport(HTTP, proxy=proxy).netloc == "ca.example.com"
    assert _scep.Transport("http://[::1]:80/scep").netloc == "[::1]"
