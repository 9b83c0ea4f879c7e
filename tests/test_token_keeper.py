"""Stored OAuth2 logins: sealed at rest, refreshed before expiry, rotated tokens kept, refusals named."""

from __future__ import annotations

from contextlib import closing

import pytest

from desktools import make_desk
from oauthserver import CLIENT_ID, OAuthTestServer
from maildesk.auth.keeper import TokenKeeper, client_for, save_login
from maildesk.auth.seal import SealBroken, Sealer
from maildesk.errors import AuthFailed, MailboxError

USER = "support@example.test"


def oauth_mailbox(server: OAuthTestServer, **extra: str) -> dict:
    return {"name": "m365", "kind": "imap", "host": "127.0.0.1", "username": USER, "auth": "oauth2",
            "provider": "generic", "client_id": CLIENT_ID, "token_url": server.token_url,
            "device_url": server.device_url, **extra}


@pytest.fixture
def desk(tmp_path, oauth_server):
    return make_desk(tmp_path, mailboxes=[oauth_mailbox(oauth_server)])


def keeper(desk, **kw) -> TokenKeeper:
    cfg = desk.config.mailboxes[0]
    assert cfg.oauth is not None
    return TokenKeeper(cfg.name, cfg.oauth, subject=kw.pop("subject", cfg.username), open_store=desk.open_store,
                       secret=desk.secret, clock=desk.clock, **kw)


def sign_in(desk, server: OAuthTestServer) -> tuple[str, str]:
    """What `maildesk auth login` leaves behind: tokens of a real grant, sealed in the database."""
    access, refresh = server.issue(USER)
    client = client_for(desk.config.mailboxes[0].oauth, clock=desk.clock)
    tokens = client.refresh(refresh)  # one real round trip gives a TokenSet with its expiry
    with closing(desk.open_store()) as store:
        save_login(store, Sealer(desk.secret), "m365", subject=USER, tokens=tokens, clock=desk.clock)
    return tokens.access_token, tokens.refresh_token or refresh


def stored(desk):
    with closing(desk.open_store()) as store:
        return store.tokens.get("m365")


def test_sealed_tokens_open_only_for_their_name_and_secret():
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal("m365", "the-refresh-token")
    assert b"the-refresh-token" not in sealed
    assert sealer.open("m365", sealed) == "the-refresh-token"
    with pytest.raises(SealBroken):
        sealer.open("outbound", sealed)  # copied to another login's row
    with pytest.raises(SealBroken, match="secret key"):
        Sealer(b"x" * 32).open("m365", sealed)
    with pytest.raises(SealBroken):
        sealer.open("m365", sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_without_a_login_the_admin_is_told_what_to_run(desk):
    with pytest.raises(AuthFailed, match="maildesk auth login m365"):
        keeper(desk).token()


def test_the_stored_access_token_is_used_until_shortly_before_it_expires(desk, oauth_server):
    access, _ = sign_in(desk, oauth_server)
    refreshes = oauth_server.count("/token", "refresh_token")
    k = keeper(desk)
    assert k.token() == access
    desk.clock.advance(minutes=54)  # 6 minutes left: still used
    assert k.token() == access
    assert oauth_server.count("/token", "refresh_token") == refreshes
    desk.clock.advance(minutes=2)  # 4 minutes left: refreshed first
    fresh = k.token()
    assert fresh != access and oauth_server.count("/token", "refresh_token") == refreshes + 1
    assert Sealer(desk.secret).open("m365", stored(desk).access_token) == fresh


def test_fresh_skips_a_token_the_server_refused(desk, oauth_server):
    access, _ = sign_in(desk, oauth_server)
    assert keeper(desk).token(fresh=True) != access


def test_rotated_refresh_tokens_are_saved_every_time(desk, oauth_server):
    oauth_server.rotate_refresh = True
    _, first = sign_in(desk, oauth_server)
    sealer, k = Sealer(desk.secret), keeper(desk)
    k.token(fresh=True)
    second = sealer.open("m365", stored(desk).refresh_token)
    k.token(fresh=True)
    third = sealer.open("m365", stored(desk).refresh_token)
    assert len({first, second, third}) == 3
    assert stored(desk).rotations >= 2


def test_a_refresh_token_rotated_by_another_process_is_picked_up(desk, oauth_server):
    oauth_server.rotate_refresh = True
    _, old = sign_in(desk, oauth_server)
    keeper(desk).token(fresh=True)  # "another process" rotated it: `old` is now void at the server
    late = keeper(desk)
    with closing(desk.open_store()) as store:
        assert late._refresh(store, old, retry=True)  # read before the rotation, refused, read again


def test_a_revoked_login_needs_the_admin(desk, oauth_server):
    _, refresh = sign_in(desk, oauth_server)
    oauth_server.revoke(refresh)
    with pytest.raises(AuthFailed, match="invalid_grant"):
        keeper(desk).token(fresh=True)


def test_an_unavailable_provider_is_only_a_temporary_failure(desk, oauth_server):
    sign_in(desk, oauth_server)
    oauth_server.fail_next(1, status=503)
    with pytest.raises(MailboxError) as caught:
        keeper(desk).token(fresh=True)
    assert not isinstance(caught.value, AuthFailed)
    assert keeper(desk).token(fresh=True)  # the next attempt works


def test_a_login_for_another_account_is_refused(desk, oauth_server):
    sign_in(desk, oauth_server)
    with pytest.raises(AuthFailed, match="is for support@example.test"):
        keeper(desk, subject="sales@example.test").token()


def test_client_credentials_get_and_cache_an_app_token(tmp_path, oauth_server, monkeypatch):
    oauth_server.client_secret = "app-secret"
    monkeypatch.setenv("APP_SECRET", "app-secret")
    desk = make_desk(tmp_path, mailboxes=[oauth_mailbox(oauth_server, grant="client_credentials",
                                                        client_secret_env="APP_SECRET")])
    k = keeper(desk)
    first = k.token()
    assert k.token() == first
    assert oauth_server.count("/token", "client_credentials") == 1
    assert stored(desk).refresh_token is None
