"""The OAuth2 keys of [[mailbox]] and [outbound]: every mistake named with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.config import build
from maildesk.errors import ConfigError

DESK = {"name": "Desk", "address": "support@example.test"}
IMAP = {"name": "m365", "kind": "imap", "host": "imap.example.test", "username": "support@example.test"}
OAUTH = {"auth": "oauth2", "provider": "microsoft", "tenant": "example.test", "client_id": "abc"}


def problems(data: dict, tmp_path: Path) -> dict[str, str]:
    try:
        build({"desk": DESK, **data}, base=tmp_path, source=None)
    except ConfigError as exc:
        return dict(exc.problems)
    return {}


@pytest.mark.parametrize("extra, key, fragment", [
    ({"auth": "oauth2"}, "mailbox[0].provider", "required"),
    ({"auth": "oauth2", "provider": "google"}, "mailbox[0].client_id", "required"),
    ({**OAUTH, "provider": "yahoo"}, "mailbox[0].provider", "expected one of"),
    ({**OAUTH, "client_secret": "s3cret"}, "mailbox[0].client_secret", "never put a secret"),
    ({**OAUTH, "password_env": "PW"}, "mailbox[0].password_env", "not a password"),
    ({**OAUTH, "grant": "client_credentials"}, "mailbox[0].grant", "needs a client secret"),
    ({**OAUTH, "grant": "client_credentials", "client_secret_env": "S", "tenant": "common"},
     "mailbox[0].tenant", "tenant"),
    ({**OAUTH, "provider": "google", "tenant": ""}, "mailbox[0].client_secret_env", "Google requires"),
    ({**OAUTH, "provider": "generic"}, "mailbox[0].token_url", "required"),
    ({**OAUTH, "token_url": "http://idp.example.test/token"}, "mailbox[0].token_url", "https://"),
    ({**OAUTH, "client_secret_env": "A", "client_secret_file": "b"}, "mailbox[0].client_secret_file", "not both"),
    ({"provider": "microsoft", "password_env": "PW"}, "mailbox[0].provider", 'only used with auth = "oauth2"'),
])
def test_oauth_mistakes_are_named_by_key_path(tmp_path, extra, key, fragment):
    found = problems({"mailbox": [{**IMAP, **extra}]}, tmp_path)
    assert key in found and fragment in found[key], found


def test_a_valid_oauth_mailbox_and_outbound(tmp_path):
    (tmp_path / "secret").write_text("s3cret\n")
    config = build({"desk": {**DESK, "admins": ["Ops@Example.test"]},
                    "mailbox": [{**IMAP, **OAUTH, "client_secret_file": "secret"}],
                    "outbound": {"kind": "smtp", "host": "smtp.example.test", "username": "support@example.test",
                                 **OAUTH, "provider": "google", "tenant": "", "client_secret_env": "X"}},
                   base=tmp_path, source=None)
    oauth = config.mailboxes[0].oauth
    assert oauth is not None and oauth.client_secret() == "s3cret" and oauth.key == "mailbox[0]"
    assert config.outbound is not None and config.outbound.oauth is not None
    assert config.outbound.oauth.provider == "google"
    assert config.desk.admins == ("ops@example.test",)


def test_oauth_outbound_needs_the_account(tmp_path):
    found = problems({"outbound": {"kind": "smtp", "host": "smtp.example.test", **OAUTH}}, tmp_path)
    assert "required" in found["outbound.username"]


def test_a_maildir_has_no_login(tmp_path):
    found = problems({"mailbox": [{"name": "drop", "kind": "maildir", "path": "in", **OAUTH}]}, tmp_path)
    assert "no login" in found["mailbox[0].auth"]


def test_admins_must_be_addresses(tmp_path):
    found = problems({"desk": {**DESK, "admins": ["ops@example.test", "not an address"]}}, tmp_path)
    assert list(found) == ["desk.admins[1]"]


def test_the_desk_itself_cannot_be_an_admin(tmp_path):
    found = problems({"desk": {**DESK, "admins": ["Support@example.test", "ops@example.test", "ops@example.test"]}},
                     tmp_path)
    assert "cannot be an admin (its mail would loop)" in found["desk.admins[0]"]
    assert "listed twice" in found["desk.admins[2]"]
