"""Token logins (XOAUTH2, OAUTHBEARER) to a real Dovecot whose oauth2 passdb asks the local IdP."""

from __future__ import annotations

import base64
import imaplib
import socket
from collections.abc import Callable

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from imapserver import DovecotServer
from oauthserver import OAuthTestServer

from maildesk.auth import sasl
from maildesk.auth.oauth2 import OAuthClient
from maildesk.auth.providers import endpoints
from maildesk.errors import OAuthError

pytestmark = pytest.mark.imap

MakeServer = Callable[..., DovecotServer]
USER = DovecotServer.user
MESSAGE = (b"From: a@customer.example\r\nSubject: hello\r\n"
           b"Message-ID: <m1@customer.example>\r\n\r\nhi\r\n")


@pytest.fixture
def server(make_dovecot: MakeServer, oauth_server: OAuthTestServer) -> DovecotServer:
    return make_dovecot(oauth2=oauth_server)


def xoauth2(client: IMAPClient, user: str, token: str) -> None:
    client.oauth2_login(user, token)


def oauthbearer(client: IMAPClient, user: str, token: str) -> None:
    client.oauthbearer_login(user, token)


LOGINS = [pytest.param(xoauth2, id="XOAUTH2"), pytest.param(oauthbearer, id="OAUTHBEARER")]
Login = Callable[[IMAPClient, str, str], None]


def connect(server: DovecotServer) -> IMAPClient:
    return IMAPClient(server.host, server.port, ssl=False, timeout=10)


def login_error(server: DovecotServer, login: Login, user: str, token: str) -> str:
    """Log in (and open INBOX); "" when that worked, else the server's refusal."""
    client = connect(server)
    try:
        login(client, user, token)
    except LoginError as exc:
        client.shutdown()
        return str(exc)
    try:
        client.select_folder("INBOX", readonly=True)
        return ""
    finally:
        client.logout()


def login_works(server: DovecotServer, login: Login, user: str, token: str) -> bool:
    """True when the login worked, False when the credentials were refused."""
    error = login_error(server, login, user, token)
    assert not error or "AUTHENTICATIONFAILED" in error, error  # refused, not server trouble
    return not error


def password_login(client: IMAPClient, user: str, password: str) -> None:
    client.login(user, password)


def capabilities(server: DovecotServer) -> set[bytes]:
    client = connect(server)
    try:
        return set(client.capabilities())
    finally:
        client.logout()


def test_server_offers_both_token_mechanisms(server: DovecotServer) -> None:
    assert {b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER", b"AUTH=PLAIN"} <= capabilities(server)


def test_the_default_server_takes_passwords_only(dovecot: DovecotServer) -> None:
    assert not dovecot.token_logins
    offered = {c for c in capabilities(dovecot) if c.startswith(b"AUTH=")}
    assert offered == {b"AUTH=PLAIN", b"AUTH=LOGIN"}


@pytest.mark.parametrize("login", LOGINS)
def test_live_token_logs_in_to_the_users_mail(server: DovecotServer,
                                              oauth_server: OAuthTestServer,
                                              login: Login) -> None:
    uid = server.append("INBOX", MESSAGE)  # through a password login: both passdbs live
    access, _ = oauth_server.issue(USER)
    client = connect(server)
    try:
        login(client, USER, access)
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == [uid]
    finally:
        client.logout()
    assert oauth_server.introspections == ["POST form"]


@pytest.mark.parametrize("login", LOGINS)
def test_expired_token_is_refused(server: DovecotServer, oauth_server: OAuthTestServer,
                                  login: Login) -> None:
    access, _ = oauth_server.issue(USER)
    assert login_works(server, login, USER, access)
    oauth_server.expire(access)
    assert not login_works(server, login, USER, access)


@pytest.mark.parametrize("login", LOGINS)
def test_revoked_token_is_refused_at_the_next_login(server: DovecotServer,
                                                    oauth_server: OAuthTestServer,
                                                    login: Login) -> None:
    access, _ = oauth_server.issue(USER)
    assert login_works(server, login, USER, access)
    assert login_works(server, login, USER, access)
    assert oauth_server.count("/introspect") == 2  # no auth cache: every login asks the IdP
    oauth_server.revoke(access)
    assert not login_works(server, login, USER, access)


def test_revoking_the_refresh_token_ends_the_grant(server: DovecotServer,
                                                   oauth_server: OAuthTestServer) -> None:
    client = OAuthClient(endpoints("generic", token_url=oauth_server.token_url),
                         client_id=oauth_server.client_id)
    _, refresh = oauth_server.issue(USER)
    tokens = client.refresh(refresh)
    assert login_works(server, xoauth2, USER, tokens.access_token)
    oauth_server.revoke(refresh)
    assert not login_works(server, xoauth2, USER, tokens.access_token)
    with pytest.raises(OAuthError, match="invalid_grant"):
        client.refresh(refresh)


@pytest.mark.parametrize("login", LOGINS)
def test_another_users_token_cannot_log_in_as_support(server: DovecotServer,
                                                      oauth_server: OAuthTestServer,
                                                      login: Login) -> None:
    access, _ = oauth_server.issue("mallory")
    assert not login_works(server, login, USER, access)
    assert "did not match" in (server.root / "dovecot.log").read_text()


def test_password_is_no_token_and_token_is_no_password(server: DovecotServer,
                                                       oauth_server: OAuthTestServer) -> None:
    access, _ = oauth_server.issue(USER)
    assert not login_works(server, xoauth2, USER, server.password)
    assert not login_works(server, password_login, USER, access)
    assert login_works(server, password_login, USER, server.password)
    with server.client() as client:  # the password login of "another client" still works
        assert client.folder_exists("INBOX")


def test_idp_outage_is_a_temporary_failure(server: DovecotServer,
                                           oauth_server: OAuthTestServer) -> None:
    access, _ = oauth_server.issue(USER)
    oauth_server.fail_next(1, status=503)
    assert "[UNAVAILABLE] Temporary authentication failure" in login_error(
        server, xoauth2, USER, access)
    assert login_works(server, xoauth2, USER, access)


def test_app_only_token_for_the_mailbox(server: DovecotServer,
                                        oauth_server: OAuthTestServer) -> None:
    """Client credentials (the Microsoft service flow) for an app allowed into ``support``."""
    oauth_server.client_secret = "app-secret"
    oauth_server.app_user = USER
    client = OAuthClient(endpoints("generic", token_url=oauth_server.token_url),
                         client_id=oauth_server.client_id, client_secret="app-secret")
    assert login_works(server, xoauth2, USER, client.client_credentials().access_token)


@pytest.mark.parametrize(("mode", "suffix", "seen"), [
    ("post", "", "POST form"),
    ("auth", "", "GET header"),
    ("get", "?token=", "GET query"),
])
def test_introspection_modes(make_dovecot: MakeServer, oauth_server: OAuthTestServer,
                             mode: str, suffix: str, seen: str) -> None:
    server = make_dovecot(oauth2_introspection_url=oauth_server.introspection_url + suffix,
                          oauth2_introspection_mode=mode)
    access, _ = oauth_server.issue(USER)
    other, _ = oauth_server.issue("mallory")
    assert login_works(server, oauthbearer, USER, access)
    assert not login_works(server, oauthbearer, USER, other)
    oauth_server.revoke(access)
    assert not login_works(server, xoauth2, USER, access)
    assert set(oauth_server.introspections) == {seen}


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_sasl_strings_are_accepted(server: DovecotServer, oauth_server: OAuthTestServer,
                                   mechanism: str) -> None:
    access, _ = oauth_server.issue(USER)
    if mechanism == "XOAUTH2":
        payload = sasl.xoauth2(USER, access)
    else:
        payload = sasl.oauthbearer(USER, access, host=server.host, port=server.port)
    imap = imaplib.IMAP4(server.host, server.port, timeout=10)
    try:
        typ, _ = imap.authenticate(mechanism, lambda challenge: payload)
        assert typ == "OK"
    finally:
        imap.logout()


@pytest.mark.parametrize(("mechanism", "expected"), [
    ("OAUTHBEARER", {"status": "invalid_token"}),
    ("XOAUTH2", {"status": "401", "schemes": "bearer", "scope": "mail"}),
])
def test_failure_challenge(server: DovecotServer, oauth_server: OAuthTestServer,
                           mechanism: str, expected: dict[str, str]) -> None:
    """A refused token gets a JSON challenge (RFC 7628 3.2.2); the client answers ^A, gets NO."""
    access, _ = oauth_server.issue(USER)
    oauth_server.revoke(access)
    build = sasl.oauthbearer if mechanism == "OAUTHBEARER" else sasl.xoauth2
    initial = base64.b64encode(build(USER, access))
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"* OK")
        sock.sendall(b"a AUTHENTICATE " + mechanism.encode() + b" " + initial + b"\r\n")
        challenge = reader.readline()
        assert challenge.startswith(b"+ ")
        assert sasl.parse_oauthbearer_error(base64.b64decode(challenge[2:])) == expected
        sock.sendall(base64.b64encode(b"\x01") + b"\r\n")
        assert reader.readline().startswith(b"a NO [AUTHENTICATIONFAILED]")
