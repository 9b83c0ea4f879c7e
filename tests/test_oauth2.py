"""OAuth2 token flows and SASL strings: pure parsers by table, OAuthClient against a local IdP."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from oauthserver import OAuthTestServer

from maildesk.auth import sasl
from maildesk.auth.providers import MICROSOFT_SCOPE, Endpoints, endpoints
from maildesk.auth.oauth2 import (
    DEVICE_GRANT,
    DeviceCode,
    OAuthClient,
    TokenSet,
    parse_device_response,
    parse_error_response,
    parse_token_response,
)
from maildesk.clock import ManualClock
from maildesk.errors import OAuthError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SECRET = "s3cret-client-value"
MS = "https://login.microsoftonline.com"

# -- endpoints ----------------------------------------------------------------------------------


GOOGLE_AUTH = "https://accounts.google.com/o/oauth2/v2/auth"


@pytest.mark.parametrize(("args", "expected"), [
    (dict(provider="microsoft"),
     Endpoints(f"{MS}/common/oauth2/v2.0/token", f"{MS}/common/oauth2/v2.0/devicecode",
               MICROSOFT_SCOPE, f"{MS}/common/oauth2/v2.0/authorize")),
    (dict(provider="microsoft", tenant="contoso.onmicrosoft.com"),
     Endpoints(f"{MS}/contoso.onmicrosoft.com/oauth2/v2.0/token",
               f"{MS}/contoso.onmicrosoft.com/oauth2/v2.0/devicecode", MICROSOFT_SCOPE,
               f"{MS}/contoso.onmicrosoft.com/oauth2/v2.0/authorize")),
    (dict(provider="microsoft", tenant="0b5e-11aa", service=True),
     Endpoints(f"{MS}/0b5e-11aa/oauth2/v2.0/token", f"{MS}/0b5e-11aa/oauth2/v2.0/devicecode",
               "https://outlook.office365.com/.default", f"{MS}/0b5e-11aa/oauth2/v2.0/authorize")),
    (dict(provider="Google"),
     Endpoints("https://oauth2.googleapis.com/token", "https://oauth2.googleapis.com/device/code",
               "https://mail.google.com/", GOOGLE_AUTH)),
    (dict(provider="generic", token_url="https://idp.example/t"),
     Endpoints("https://idp.example/t", "", "")),
    (dict(provider="generic", token_url="https://idp.example/t", service=True),
     Endpoints("https://idp.example/t", "", "")),
    (dict(provider="generic", token_url="https://idp.example/t", device_url="https://idp.example/d",
          scope="mail", auth_url="https://idp.example/a"),
     Endpoints("https://idp.example/t", "https://idp.example/d", "mail", "https://idp.example/a")),
    (dict(provider="google", token_url="http://127.0.0.1:1/token", scope="x"),
     Endpoints("http://127.0.0.1:1/token", "https://oauth2.googleapis.com/device/code", "x", GOOGLE_AUTH)),
    (dict(provider="microsoft", device_url="http://127.0.0.1:1/device"),
     Endpoints(f"{MS}/common/oauth2/v2.0/token", "http://127.0.0.1:1/device", MICROSOFT_SCOPE,
               f"{MS}/common/oauth2/v2.0/authorize")),
])
def test_endpoints(args: dict[str, Any], expected: Endpoints) -> None:
    assert endpoints(**args) == expected


@pytest.mark.parametrize(("args", "message"), [
    (dict(provider="microsoft", service=True), "tenant"),
    (dict(provider="microsoft", tenant="organizations", service=True), "tenant"),
    (dict(provider="microsoft", tenant="Consumers", service=True), "tenant"),
    (dict(provider="microsoft", tenant="../evil"), "tenant"),
    (dict(provider="generic"), "token_url"),
    (dict(provider="yahoo"), "unknown"),
])
def test_endpoints_refused(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        endpoints(**args)


# -- pure parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "previous", "expected"), [
    ({"access_token": "A", "expires_in": 3599, "token_type": "Bearer"}, None,
     TokenSet("A", NOW + timedelta(seconds=3599))),
    ({"access_token": "A", "expires_in": "120", "scope": "mail"}, "R0",
     TokenSet("A", NOW + timedelta(seconds=120), "R0", "mail")),
    ({"access_token": "A", "refresh_token": "R1", "token_type": "bearer"}, "R0",
     TokenSet("A", NOW + timedelta(seconds=3600), "R1")),
    ({"access_token": "A", "refresh_token": "", "expires_in": None}, "R0",
     TokenSet("A", NOW + timedelta(seconds=3600), "R0")),
    ({"access_token": "A", "expires_in": 0}, None, TokenSet("A", NOW)),
])
def test_parse_token_response(data: dict[str, Any], previous: str | None,
                              expected: TokenSet) -> None:
    assert parse_token_response(data, now=NOW, previous_refresh=previous) == expected


@pytest.mark.parametrize("data", [
    {},
    {"access_token": ""},
    {"access_token": 42},
    {"access_token": "A", "token_type": "mac"},
    {"access_token": "A", "expires_in": "soon"},
    {"access_token": "A", "expires_in": -5},
    {"access_token": "A", "expires_in": "nan"},
    {"access_token": "A", "expires_in": 1e308},
    {"access_token": "A", "expires_in": True},
    {"access_token": "A", "expires_in": [60]},
])
def test_parse_token_response_refuses(data: dict[str, Any]) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_token_response(data, now=NOW, previous_refresh=None)
    assert caught.value.error == "invalid_response"
    assert not caught.value.transient


def test_parse_token_response_needs_an_aware_clock() -> None:
    with pytest.raises(ValueError, match="timezone"):
        parse_token_response({"access_token": "A"}, now=datetime(2026, 1, 1), previous_refresh=None)


MICROSOFT_DEVICE = {
    "device_code": "DC", "user_code": "ABCD-EFGH", "expires_in": 900, "interval": 5,
    "verification_uri": "https://microsoft.com/devicelogin",
    "message": "To sign in, use a web browser to open the page ...",
}
GOOGLE_DEVICE = {
    "device_code": "DC", "user_code": "GQVQ-JKEC", "expires_in": "1800", "interval": 5,
    "verification_url": "https://www.google.com/device",
}


@pytest.mark.parametrize(("data", "expected"), [
    (MICROSOFT_DEVICE,
     DeviceCode("DC", "ABCD-EFGH", "https://microsoft.com/devicelogin",
                NOW + timedelta(seconds=900), 5.0, "", MICROSOFT_DEVICE["message"])),
    (GOOGLE_DEVICE,
     DeviceCode("DC", "GQVQ-JKEC", "https://www.google.com/device", NOW + timedelta(minutes=30))),
    ({"device_code": "DC", "user_code": "U", "verification_uri": "https://v",
      "verification_uri_complete": "https://v?c=U", "interval": 0},
     DeviceCode("DC", "U", "https://v", NOW + timedelta(seconds=900), 5.0, "https://v?c=U")),
    ({"device_code": "DC", "user_code": "U", "verification_uri": "https://v", "interval": 7.5,
      "expires_in": 60},
     DeviceCode("DC", "U", "https://v", NOW + timedelta(seconds=60), 7.5)),
])
def test_parse_device_response(data: dict[str, Any], expected: DeviceCode) -> None:
    assert parse_device_response(data, now=NOW) == expected


@pytest.mark.parametrize("missing", ["device_code", "user_code", "verification_uri"])
def test_parse_device_response_refuses(missing: str) -> None:
    data = {key: value for key, value in MICROSOFT_DEVICE.items() if key != missing}
    with pytest.raises(OAuthError, match=missing):
        parse_device_response(data, now=NOW)


@pytest.mark.parametrize(("status", "body", "error", "description", "transient"), [
    (400, b'{"error": "invalid_grant", "error_description": "AADSTS70008: expired"}',
     "invalid_grant", "AADSTS70008: expired", False),
    (401, b'{"error": "invalid_client"}', "invalid_client", "", False),
    (400, b'{"error": "slow_down"}', "slow_down", "", True),
    (503, b'{"error": "temporarily_unavailable"}', "temporarily_unavailable", "", True),
    (500, b'{"error": "server_error", "error_description": 7}', "server_error", "", True),
    (503, b"<html>Service Unavailable</html>", "http", "HTTP status 503 without an OAuth2 error",
     True),
    (404, b'{"message": "not found"}', "http", "HTTP status 404 without an OAuth2 error", False),
    (400, b'["error"]', "http", "HTTP status 400 without an OAuth2 error", False),
    (502, b"\xff\xfe", "http", "HTTP status 502 without an OAuth2 error", True),
])
def test_parse_error_response(status: int, body: bytes, error: str, description: str,
                              transient: bool) -> None:
    exc = parse_error_response(status, body)
    assert (exc.error, exc.description, exc.status, exc.transient) == (
        error, description, status, transient)


def test_reprs_hide_tokens() -> None:
    tokens = TokenSet("ACCESS-123", NOW, "REFRESH-456")
    code = DeviceCode("DEVICE-789", "ABCD-EFGH", "https://v", NOW)
    assert "ACCESS-123" not in repr(tokens) and "REFRESH-456" not in repr(tokens)
    assert "DEVICE-789" not in repr(code) and "ABCD-EFGH" in repr(code)
    client = OAuthClient(Endpoints("https://t"), client_id="id", client_secret=SECRET)
    assert SECRET not in repr(client)


# -- SASL -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "token", "expected"), [
    ("support@example.com", "ya29.tok",
     b"user=support@example.com\x01auth=Bearer ya29.tok\x01\x01"),
    ("a=b,c", "t", b"user=a=b,c\x01auth=Bearer t\x01\x01"),
])
def test_xoauth2(user: str, token: str, expected: bytes) -> None:
    assert sasl.xoauth2(user, token) == expected


@pytest.mark.parametrize(("user", "kwargs", "expected"), [
    ("u@example.com", {}, b"n,a=u@example.com,\x01auth=Bearer T\x01\x01"),
    ("u@example.com", {"host": "imap.example.com", "port": 993},
     b"n,a=u@example.com,\x01host=imap.example.com\x01port=993\x01auth=Bearer T\x01\x01"),
    ("u", {"port": 143}, b"n,a=u,\x01port=143\x01auth=Bearer T\x01\x01"),
    ("a,b=c", {}, b"n,a=a=2Cb=3Dc,\x01auth=Bearer T\x01\x01"),
    ("=2C", {}, b"n,a==3D2C,\x01auth=Bearer T\x01\x01"),
])
def test_oauthbearer(user: str, kwargs: dict[str, Any], expected: bytes) -> None:
    assert sasl.oauthbearer(user, "T", **kwargs) == expected


@pytest.mark.parametrize("build", [sasl.xoauth2, sasl.oauthbearer])
@pytest.mark.parametrize(("user", "token"), [
    ("u\x01auth=Bearer x", "t"), ("u", "t\x01"), ("u\r\n", "t"), ("u", "t\nA001 LOGOUT"),
    ("", "t"), ("u", ""),
])
def test_sasl_refuses_control_characters(build: Callable[..., bytes], user: str,
                                         token: str) -> None:
    with pytest.raises(ValueError):
        build(user, token)


def test_oauthbearer_refuses_a_bad_host() -> None:
    with pytest.raises(ValueError):
        sasl.oauthbearer("u", "t", host="imap\x01auth=Bearer x")


@pytest.mark.parametrize(("data", "expected"), [
    (b'{"status":"invalid_token","scope":"mail",'
     b'"openid-configuration":"https://idp/.well-known/openid-configuration"}',
     {"status": "invalid_token", "scope": "mail",
      "openid-configuration": "https://idp/.well-known/openid-configuration"}),
    (b'{"status":"401","schemes":"bearer","scope":"mail"}',
     {"status": "401", "schemes": "bearer", "scope": "mail"}),
    (b'{"status": 401, "nested": {"a": 1}, "flag": true}', {"status": "401"}),
    (b"", {}), (b"not json", {}), (b"[1, 2]", {}), (b'"invalid_token"', {}), (b"\xff\xfe{", {}),
])
def test_parse_oauthbearer_error(data: bytes, expected: dict[str, str]) -> None:
    assert sasl.parse_oauthbearer_error(data) == expected


# -- OAuthClient against the local IdP -----------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def make_client(oauth_server: OAuthTestServer,
                clock: ManualClock) -> Callable[..., OAuthClient]:
    def make(**options: Any) -> OAuthClient:
        options.setdefault("client_id", oauth_server.client_id)
        scope = options.pop("scope", "mail")
        where = endpoints("generic", token_url=oauth_server.token_url,
                          device_url=oauth_server.device_url, scope=scope)
        return OAuthClient(where, clock=clock, timeout=5, **options)
    return make


def test_refresh_keeps_the_refresh_token(oauth_server: OAuthTestServer,
                                         make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.access_ttl = 600
    old_access, refresh = oauth_server.issue("support")
    tokens = make_client().refresh(refresh)
    assert tokens.access_token not in (old_access, refresh)
    assert tokens.refresh_token == refresh
    assert tokens.expires_at == NOW + timedelta(seconds=600)
    assert tokens.scope == "mail"
    assert make_client().refresh(refresh).refresh_token == refresh
    assert oauth_server.count("/token", "refresh_token") == 2
    path, form = oauth_server.requests[0]
    assert form == {"grant_type": "refresh_token", "refresh_token": refresh,
                    "client_id": oauth_server.client_id, "scope": "mail"}
    headers = oauth_server.headers[0]
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["accept"] == "application/json"


def test_refresh_rotation(oauth_server: OAuthTestServer,
                          make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.rotate_refresh = True
    _, first = oauth_server.issue("support")
    client = make_client()
    second = client.refresh(first).refresh_token
    assert second and second != first
    third = client.refresh(second).refresh_token
    assert third not in (first, second)
    with pytest.raises(OAuthError) as caught:
        client.refresh(first)  # the rotated-out token is dead
    assert caught.value.error == "invalid_grant"
    assert caught.value.status == 400
    assert not caught.value.transient
    assert first not in str(caught.value)


def test_revoked_refresh_token_is_invalid_grant(oauth_server: OAuthTestServer,
                                                make_client: Callable[..., OAuthClient]) -> None:
    _, refresh = oauth_server.issue("support")
    oauth_server.revoke(refresh)
    with pytest.raises(OAuthError, match="invalid_grant") as caught:
        make_client().refresh(refresh)
    assert not caught.value.transient


def test_client_credentials_with_secret(oauth_server: OAuthTestServer,
                                        make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.client_secret = SECRET
    oauth_server.access_ttl = 3599
    tokens = make_client(client_secret=SECRET, scope="https://outlook.office365.com/.default")
    tokens = tokens.client_credentials()
    assert tokens.refresh_token is None
    assert tokens.expires_at == NOW + timedelta(seconds=3599)
    assert oauth_server.requests[-1] == ("/token", {
        "grant_type": "client_credentials", "client_id": oauth_server.client_id,
        "client_secret": SECRET, "scope": "https://outlook.office365.com/.default"})


def test_refresh_sends_the_secret_in_the_body(oauth_server: OAuthTestServer,
                                              make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.client_secret = SECRET
    _, refresh = oauth_server.issue("support")
    make_client(client_secret=SECRET).refresh(refresh)
    assert oauth_server.requests[-1][1]["client_secret"] == SECRET
    assert "authorization" not in oauth_server.headers[-1]


def test_wrong_secret_never_shows_in_the_error(oauth_server: OAuthTestServer,
                                               make_client: Callable[..., OAuthClient],
                                               caplog: pytest.LogCaptureFixture) -> None:
    oauth_server.client_secret = "the-right-one"
    _, refresh = oauth_server.issue("support")
    caplog.set_level(logging.DEBUG, logger="maildesk.auth")
    client = make_client(client_secret=SECRET)
    for call in (client.client_credentials, lambda: client.refresh(refresh)):
        with pytest.raises(OAuthError) as caught:
            call()
        assert caught.value.error == "invalid_client"
        assert not caught.value.transient
        for text in (str(caught.value), repr(caught.value), caught.value.description):
            assert SECRET not in text and refresh not in text
    assert caplog.records
    assert all(SECRET not in r.getMessage() and refresh not in r.getMessage()
               for r in caplog.records)


def test_unknown_client(make_client: Callable[..., OAuthClient]) -> None:
    with pytest.raises(OAuthError, match="invalid_client"):
        make_client(client_id="someone-else").client_credentials()


def test_transient_http_failures(oauth_server: OAuthTestServer,
                                 make_client: Callable[..., OAuthClient]) -> None:
    _, refresh = oauth_server.issue("support")
    oauth_server.fail_next(2, status=503)
    client = make_client(client_secret=SECRET)
    for _ in range(2):
        with pytest.raises(OAuthError) as caught:
            client.refresh(refresh)
        assert (caught.value.error, caught.value.status, caught.value.transient) == (
            "http", 503, True)
        assert SECRET not in str(caught.value) and refresh not in str(caught.value)
    assert client.refresh(refresh).refresh_token == refresh


def test_client_errors_are_not_transient(oauth_server: OAuthTestServer,
                                         make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.fail_next(1, status=404)
    with pytest.raises(OAuthError) as caught:
        make_client().refresh("rt-x")
    assert (caught.value.error, caught.value.status, caught.value.transient) == ("http", 404, False)


@pytest.fixture
def dead_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (backlog) and never answers."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("port_fixture", ["dead_port", "silent_port"])
def test_network_failures(port_fixture: str, request: pytest.FixtureRequest,
                          clock: ManualClock) -> None:
    port = request.getfixturevalue(port_fixture)
    client = OAuthClient(Endpoints(f"http://127.0.0.1:{port}/token"), client_id="id",
                         client_secret=SECRET, clock=clock, timeout=0.3)
    with pytest.raises(OAuthError) as caught:
        client.refresh("rt-secret-refresh")
    assert caught.value.error == "network"
    assert caught.value.status is None
    assert caught.value.transient
    assert SECRET not in str(caught.value) and "rt-secret-refresh" not in str(caught.value)


Canned = tuple[int, dict[str, str], bytes]


@pytest.fixture
def canned_server() -> Iterator[Callable[[Canned], str]]:
    """A server answering every POST with one canned (status, headers, body); gives its URL."""
    answer: list[Canned] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = answer[0]
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def serve(canned: Canned) -> str:
        answer[:] = [canned]
        return f"http://127.0.0.1:{httpd.server_address[1]}/token"

    yield serve
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("canned", "error", "status", "transient"), [
    ((307, {"Location": "http://127.0.0.1:9/token"}, b""), "http", 307, False),
    ((302, {"Location": "http://127.0.0.1:9/token"}, b""), "http", 302, False),
    ((200, {}, b'{"error": "authorization_pending"}'), "authorization_pending", 200, False),
    ((200, {}, b"<html>captive portal</html>"), "invalid_response", 200, False),
    ((200, {}, b'["access_token"]'), "invalid_response", 200, False),
    ((500, {}, b'{"error": "temporarily_unavailable"}'), "temporarily_unavailable", 500, True),
    ((429, {"Retry-After": "3"}, b"slow"), "http", 429, True),
])
def test_odd_answers(canned_server: Callable[[Canned], str], clock: ManualClock,
                     canned: Canned, error: str, status: int, transient: bool) -> None:
    client = OAuthClient(Endpoints(canned_server(canned)), client_id="id", client_secret=SECRET,
                         clock=clock, timeout=5)
    with pytest.raises(OAuthError) as caught:
        client.client_credentials()  # a redirect is never followed: the secret stays here
    assert (caught.value.error, caught.value.status, caught.value.transient) == (
        error, status, transient)


# -- the device flow ------------------------------------------------------------------------------


class FakeSleep:
    """Records each wait and moves the clock by it; ``then`` runs before each wait."""

    def __init__(self, clock: ManualClock, then: Callable[[int], None] | None = None) -> None:
        self.clock = clock
        self.waits: list[float] = []
        self.then = then

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            self.then(len(self.waits))
        self.clock.advance(seconds=seconds)


def test_start_device(oauth_server: OAuthTestServer,
                      make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.interval, oauth_server.device_ttl = 3, 300
    code = make_client(client_secret=SECRET).start_device()
    assert code.user_code in oauth_server.user_codes()
    assert code.verification_uri == f"{oauth_server.base_url}/activate"
    assert code.verification_uri_complete.endswith(code.user_code)
    assert code.interval == 3.0
    assert code.expires_at == NOW + timedelta(seconds=300)
    assert code.user_code in code.message
    # the device authorization request carries the client id and scope, never the secret
    assert oauth_server.requests[-1] == ("/device", {"client_id": oauth_server.client_id,
                                                     "scope": "mail"})


def test_start_device_needs_a_device_url(oauth_server: OAuthTestServer) -> None:
    client = OAuthClient(endpoints("generic", token_url=oauth_server.token_url), client_id="id")
    with pytest.raises(ValueError, match="device_url"):
        client.start_device()


def test_device_flow_pending_then_approved(oauth_server: OAuthTestServer, clock: ManualClock,
                                           make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.pending_polls = 2
    client = make_client()
    code = client.start_device()
    oauth_server.approve(code.user_code, "support")
    sleep = FakeSleep(clock)
    tokens = client.poll_device(code, sleep=sleep)
    assert sleep.waits == [5.0, 5.0]
    assert tokens.refresh_token
    assert tokens.expires_at == NOW + timedelta(seconds=10 + oauth_server.access_ttl)
    polls = [form for path, form in oauth_server.requests if form.get("grant_type") == DEVICE_GRANT]
    assert len(polls) == 3
    assert polls[0] == {"grant_type": DEVICE_GRANT, "device_code": code.device_code,
                        "client_id": oauth_server.client_id}
    # the tokens work: the refresh token renews, the access token belongs to the user
    assert client.refresh(tokens.refresh_token).refresh_token == tokens.refresh_token


def test_device_flow_user_approves_while_polling(oauth_server: OAuthTestServer,
                                                 clock: ManualClock,
                                                 make_client: Callable[..., OAuthClient]) -> None:
    client = make_client()
    code = client.start_device()

    def user(waits: int) -> None:
        if waits == 4:
            oauth_server.approve(code.user_code, "support")

    sleep = FakeSleep(clock, then=user)
    assert client.poll_device(code, sleep=sleep).access_token
    assert len(sleep.waits) == 4


def test_device_flow_slow_down(oauth_server: OAuthTestServer, clock: ManualClock,
                               make_client: Callable[..., OAuthClient]) -> None:
    client = make_client()
    code = client.start_device()
    oauth_server.slow_down_next(2)
    oauth_server.pending_polls = 3
    oauth_server.approve(code.user_code, "support")
    sleep = FakeSleep(clock)
    client.poll_device(code, sleep=sleep)
    assert sleep.waits == [10.0, 15.0, 15.0]


def test_device_flow_denied(oauth_server: OAuthTestServer, clock: ManualClock,
                            make_client: Callable[..., OAuthClient]) -> None:
    client = make_client()
    code = client.start_device()

    def user(waits: int) -> None:
        if waits == 2:
            oauth_server.deny(code.user_code)

    with pytest.raises(OAuthError) as caught:
        client.poll_device(code, sleep=FakeSleep(clock, then=user))
    assert caught.value.error == "access_denied"
    assert not caught.value.transient


def test_device_flow_expires_by_the_clock(oauth_server: OAuthTestServer, clock: ManualClock,
                                          make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.device_ttl = 60
    client = make_client()
    code = client.start_device()
    sleep = FakeSleep(clock)
    with pytest.raises(OAuthError) as caught:
        client.poll_device(code, sleep=sleep)
    assert caught.value.error == "expired_token"
    assert not caught.value.transient
    assert sleep.waits == [5.0] * 12
    assert oauth_server.count("/token", DEVICE_GRANT) == 12


def test_device_flow_stops_even_when_the_clock_stands_still(
        oauth_server: OAuthTestServer, make_client: Callable[..., OAuthClient]) -> None:
    oauth_server.device_ttl = 30
    client = make_client()
    code = client.start_device()
    waits: list[float] = []
    with pytest.raises(OAuthError, match="expired_token"):
        client.poll_device(code, sleep=waits.append)  # a sleep that lets no time pass
    assert len(waits) <= 8


def test_device_flow_expired_by_the_server(oauth_server: OAuthTestServer, clock: ManualClock,
                                           make_client: Callable[..., OAuthClient]) -> None:
    client = make_client()
    code = client.start_device()
    oauth_server.expire_device(code.user_code)
    with pytest.raises(OAuthError, match="expired_token"):
        client.poll_device(code, sleep=FakeSleep(clock))


def test_device_flow_rides_out_a_transient_failure(oauth_server: OAuthTestServer,
                                                   clock: ManualClock,
                                                   make_client: Callable[..., OAuthClient]) -> None:
    client = make_client()
    code = client.start_device()
    oauth_server.approve(code.user_code, "support")
    oauth_server.fail_next(1, status=502)
    sleep = FakeSleep(clock)
    assert client.poll_device(code, sleep=sleep).access_token
    assert sleep.waits == [5.0]


def test_device_code_is_used_once(oauth_server: OAuthTestServer, clock: ManualClock,
                                  make_client: Callable[..., OAuthClient]) -> None:
    client = make_client()
    code = client.start_device()
    oauth_server.approve(code.user_code, "support")
    client.poll_device(code, sleep=FakeSleep(clock))
    with pytest.raises(OAuthError, match="invalid_grant"):
        client.poll_device(code, sleep=FakeSleep(clock))
