"""OAuth2 end to end: `auth login` by device code, then Dovecot (oauth2 passdb) and aiosmtpd (XOAUTH2)
checking every token at a local identity provider: expired, rotated and revoked tokens."""

from __future__ import annotations

from contextlib import closing

import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from imapserver import DovecotServer
from mailfactory import make_message
from maildesk.auth.seal import Sealer
from maildesk.cli import cli
from maildesk.config import load_config
from maildesk.daemon import run_once
from maildesk.desk import Desk
from maildesk.tokens import write_secret
from oauthserver import CLIENT_ID, OAuthTestServer
from smtpserver import SmtpTestServer

pytestmark = pytest.mark.imap

USER = "support"  # the account of both the mailbox and the outbound server
CUSTOMER = "carol@customer.example"
ADMIN = "ops@example.test"


@dataclass
class Site:
    config: Path
    imap: DovecotServer
    smtp: SmtpTestServer
    idp: OAuthTestServer

    def desk(self) -> Desk:
        return Desk.load(load_config(self.config))

    def cli(self, *args: str):
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])

    def login(self, name: str) -> str:
        """`maildesk auth login NAME`, approved in the "browser" as soon as the code is shown."""
        before = set(self.idp.user_codes())

        def approve() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                fresh = set(self.idp.user_codes()) - before
                if fresh:
                    self.idp.approve(fresh.pop(), USER)
                    return
                time.sleep(0.01)

        approver = threading.Thread(target=approve)
        approver.start()
        result = self.cli("auth", "login", name)
        approver.join()
        assert result.exit_code == 0, result.output
        return result.output

    def stored(self, name: str, which: str) -> str:
        desk = self.desk()
        with closing(desk.open_store()) as store:
            row = store.tokens.get(name)
        assert row is not None
        return Sealer(desk.secret).open(name, getattr(row, which))

    def health(self, name: str = "m365"):
        with closing(self.desk().open_store()) as store:
            return store.health.get(name)

    def received(self, to: str) -> list:
        return [message_from_bytes(r.content, policy=policy.default) for r in self.smtp.received if to in r.rcpt_tos]


@pytest.fixture
def site(tmp_path, oauth_server, make_dovecot, make_smtp_server) -> Site:
    imap = make_dovecot(oauth2=oauth_server)
    smtp = make_smtp_server(oauth_introspection_url=oauth_server.introspection_url)
    oauth = {"auth": "oauth2", "provider": "generic", "client_id": CLIENT_ID, "token_url": oauth_server.token_url,
             "device_url": oauth_server.device_url}
    config = {
        "desk": {"name": "Example Support", "address": "support@example.test", "data_dir": "var", "admins": [ADMIN]},
        "mailbox": [{"name": "m365", "kind": "imap", "host": imap.host, "port": imap.port, "security": "none",
                     "username": USER, "idle": False, **oauth}],
        "outbound": {"kind": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none", "username": USER,
                     **oauth},
    }
    path = tmp_path / "maildesk.toml"
    path.write_text(tomli_w.dumps(config))
    write_secret(tmp_path / "var" / "secret.key")
    oauth_server.interval = 1
    return Site(path, imap, smtp, oauth_server)


def test_device_login_then_mail_flows_in_and_out_with_tokens_only(site):
    shown = site.login("m365")
    assert f"open {site.idp.base_url}" in shown and "enter the code" in shown
    site.login("outbound")
    site.imap.append("INBOX", make_message(subject="Laptop will not boot"))
    assert run_once(site.desk()) == 0
    (ack,) = site.received(CUSTOMER)
    assert "[#1]" in str(ack["Subject"])
    assert site.smtp.auth_attempts == [("XOAUTH2", USER, True)]
    logins = [line for line in (site.imap.root / "dovecot.log").read_text().splitlines() if "Login: user=" in line]
    methods = [line.split("method=")[1].split(",")[0] for line in logins]
    assert sorted(methods) == ["OAUTHBEARER", "PLAIN"]  # ours (offered: preferred), and the test's APPEND
    refresh = site.stored("m365", "refresh_token")
    database = (site.config.parent / "var" / "maildesk.db").read_bytes()
    assert refresh.encode() not in database  # sealed at rest
    assert site.health().connected and site.health().failing_since is None
    assert site.cli("status").exit_code == 0


def test_an_expired_access_token_is_refreshed_once_and_the_mailbox_keeps_working(site):
    site.login("m365")
    site.login("outbound")
    assert run_once(site.desk()) == 0
    stale = site.stored("m365", "access_token")
    site.idp.expire(stale)  # the provider ends it early; our copy still says an hour is left
    refreshes = site.idp.count("/token", "refresh_token")
    site.imap.append("INBOX", make_message(subject="Printer offline"))
    assert run_once(site.desk()) == 0
    assert site.idp.count("/token", "refresh_token") == refreshes + 1
    assert site.stored("m365", "access_token") != stale
    assert len(site.received(CUSTOMER)) == 1


def test_rotated_refresh_tokens_are_saved_and_the_old_ones_are_dead(site):
    site.idp.rotate_refresh = True
    site.login("m365")
    site.login("outbound")
    first = site.stored("m365", "refresh_token")
    site.idp.expire(site.stored("m365", "access_token"))
    assert run_once(site.desk()) == 0
    second = site.stored("m365", "refresh_token")
    assert second != first
    site.idp.expire(site.stored("m365", "access_token"))
    assert run_once(site.desk()) == 0  # works with the rotated one: the first is void at the provider
    assert site.stored("m365", "refresh_token") not in (first, second)
    assert site.health().failing_since is None


def test_a_revoked_login_is_failing_told_to_the_admins_once_and_never_loops(site):
    site.login("m365")
    site.login("outbound")
    assert run_once(site.desk()) == 0
    site.idp.revoke(site.stored("m365", "refresh_token"))  # ends its access token too
    before = site.idp.count("/token")
    assert run_once(site.desk()) == 1
    assert site.idp.count("/token") == before + 1  # one refresh attempt, refused: no login loop
    health = site.health()
    assert health.failing_since is not None and "invalid_grant" in health.last_error
    (alert,) = site.received(ADMIN)
    assert alert["Subject"] == "Mailbox m365 is failing"
    assert "maildesk auth login m365" in alert.get_content() and "invalid_grant" in alert.get_content()
    status = site.cli("status")
    assert status.exit_code == 1 and "invalid_grant" in status.output
    assert run_once(site.desk()) == 1
    assert len(site.received(ADMIN)) == 1  # the same problem again within the hour: no second email
    site.login("m365")
    site.imap.append("INBOX", make_message(subject="Still there?"))
    assert run_once(site.desk()) == 0
    assert [str(m["Subject"]) for m in site.received(ADMIN)] == ["Mailbox m365 is failing", "Mailbox m365 works again"]
    assert len(site.received(CUSTOMER)) == 1


def test_outbound_refreshes_a_refused_token_once_and_sends(site):
    site.login("m365")
    site.login("outbound")
    site.idp.expire(site.stored("outbound", "access_token"))
    site.imap.append("INBOX", make_message(subject="Monitor flickers"))
    assert run_once(site.desk()) == 0
    assert len(site.received(CUSTOMER)) == 1
    assert site.smtp.auth_attempts == [("XOAUTH2", USER, False), ("XOAUTH2", USER, True)]


def test_outbound_without_a_login_keeps_notices_queued_and_status_says_why(site):
    site.login("m365")
    site.imap.append("INBOX", make_message(subject="Mouse broken"))
    assert run_once(site.desk()) == 0  # the intake works; the notice waits
    assert site.received(CUSTOMER) == []
    outbox = site.cli("outbox", "list", "--json")
    assert '"queued"' in outbox.output and "auth login" in outbox.output
    status = site.cli("status")
    assert status.exit_code == 1 and "maildesk auth login outbound" in status.output
    assert "1 notice(s) failed once and are retried (last error:" in status.output


def add_google_style_mailbox(site: Site) -> None:
    """A mailbox that signs in through a browser (Google's only way to the mail scope)."""
    config = tomllib.loads(site.config.read_text())
    imap = config["mailbox"][0]
    config["mailbox"].append({**imap, "name": "gmail", "grant": "authorization_code", "auth_url": site.idp.auth_url})
    site.config.write_text(tomli_w.dumps(config))
    site.idp.browser_user = USER


def start_login(site: Site, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`maildesk auth login ...` as a real process; returns it and the sign-in address it shows."""
    proc = subprocess.Popen([sys.executable, "-m", "maildesk.cli", "--config", str(site.config), "auth", "login",
                             *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("  http"):
            return proc, line.strip()
    raise AssertionError(f"no sign-in address shown: {proc.communicate(timeout=30)}")


def test_browser_sign_in_comes_back_to_the_loopback_listener_and_the_mailbox_works(site):
    add_google_style_mailbox(site)
    proc, url = start_login(site, "gmail")
    with urllib.request.urlopen(url, timeout=10) as page:  # the browser, redirected back to the CLI
        assert b"Sign-in received" in page.read()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "gmail: signed in as support; refresh token stored encrypted" in out
    desk = site.desk()
    site.imap.append("INBOX", make_message(subject="Calendar invites vanish"))
    assert run_once(desk, mailboxes=(desk.config.mailbox("gmail"),)) == 0
    assert site.health("gmail").connected and site.health("gmail").failing_since is None


def test_browser_sign_in_on_another_machine_by_pasting_the_final_address(site):
    add_google_style_mailbox(site)
    proc, url = start_login(site, "gmail", "--paste")

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # the other machine's browser ends on this address
            return None

    try:
        urllib.request.build_opener(Stay()).open(url, timeout=10)
        raise AssertionError("the provider did not redirect")
    except urllib.error.HTTPError as answer:
        final = answer.headers["Location"]
    out, err = proc.communicate(input=final + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert "signed in as support" in out
    assert site.stored("gmail", "refresh_token")


def test_a_declined_browser_sign_in_stores_nothing(site):
    add_google_style_mailbox(site)
    site.idp.browser_user = None
    proc, url = start_login(site, "gmail")
    with urllib.request.urlopen(url, timeout=10):
        pass
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "access_denied" in err
    with closing(site.desk().open_store()) as store:
        assert store.tokens.get("gmail") is None
