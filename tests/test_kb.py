"""The knowledge base: #kb drafts an article, publishing makes acknowledgements and alerts suggest it."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest
from click.testing import CliRunner

from desktools import harness
from mailfactory import make_message
from maildesk.cli import cli
from maildesk.cli.kb import markdown
from maildesk.store.kb import match_query

TIERS = [{"name": "L1", "agents": ["alice@example.test"]}]


def alert_address(h, ticket_id):
    row = h.store.db.execute("SELECT data FROM outbox WHERE kind = 'alert' AND ticket_id = ?", [ticket_id]).fetchone()
    return str(message_from_bytes(bytes(row[0]), policy=policy.default)["Reply-To"].addresses[0].addr_spec)


def latest(h, kind, ticket_id):
    row = h.store.db.execute("SELECT data FROM outbox WHERE kind = ? AND ticket_id = ? ORDER BY id DESC",
                             [kind, ticket_id]).fetchone()
    return message_from_bytes(bytes(row[0]), policy=policy.default).get_body(("plain",)).get_content()


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=TIERS)


def test_a_resolution_filed_with_kb_is_suggested_once_published(h):
    first = h.take(make_message(subject="VPN drops every hour", body="The VPN client disconnects hourly.\n"))
    h.take(make_message(sender="Alice <alice@example.test>", to=alert_address(h, first.ticket_id), subject="Re: x",
                        body="#resolve update the VPN client to 5.2; the old one renews keys too early\n"
                             "#kb VPN disconnects every hour\n"))
    (article,) = h.store.kb.list()
    assert (article.status, article.title, article.source_ticket) == ("draft", "VPN disconnects every hour",
                                                                     first.ticket_id)
    assert "disconnects hourly" in article.symptoms and "5.2" in article.resolution
    second = h.take(make_message(sender="Ed <ed@customer.example>", subject="vpn keeps dropping"))
    assert "VPN disconnects every hour" not in latest(h, "acknowledgement", second.ticket_id)  # a draft
    with h.store.atomic():
        h.store.kb.set_status(article.id, "published", now=h.desk.clock())
    third = h.take(make_message(sender="Flo <flo@customer.example>", subject="VPN drops again"))
    ack = latest(h, "acknowledgement", third.ticket_id)
    assert "VPN disconnects every hour" in ack and "update the VPN client to 5.2" in ack
    assert "disconnects hourly" not in ack  # never what another customer wrote
    assert "VPN disconnects every hour" in latest(h, "alert", third.ticket_id)


def test_kb_without_a_resolution_fails_the_mail(h):
    out = h.take(make_message(subject="Printer"))
    h.take(make_message(sender="Alice <alice@example.test>", to=alert_address(h, out.ticket_id), subject="Re: x",
                        body="#kb printers\n"))
    assert h.store.kb.list() == []


@pytest.mark.parametrize("text, query", [
    ("VPN drops", '"vpn" OR "drops"'),
    ('a OR b" NEAR(x) -- *', '"near"'),  # FTS syntax in mail is never syntax: each word is quoted text
    ("Ärger mit Drucker", '"ärger" OR "mit" OR "drucker"'),
])
def test_match_query_quotes_every_word(text, query):
    assert match_query(text) == query


def test_kb_commands(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    config = tmp_path / "maildesk.toml"
    from maildesk.config import load_config
    from maildesk.desk import Desk
    desk = Desk.load(load_config(config))
    store = desk.open_store()
    with store.atomic():
        article = store.kb.add(title="Reset a locked account", symptoms="cannot log in", resolution="unlock it",
                               tags=["account"], source_ticket=None, author="alice@example.test", now=desk.clock())
    store.close()
    run = lambda *args: runner.invoke(cli, ["--config", str(config), "kb", *args])  # noqa: E731
    assert "Reset a locked account" in run("list").output
    assert json.loads(run("search", "locked", "--json").output)[0]["id"] == article
    assert run("publish", str(article)).exit_code == 0
    assert json.loads(run("list", "--status", "published", "--json").output)[0]["status"] == "published"
    assert "## Resolution" in run("show", str(article)).output
    assert run("export", str(tmp_path / "out")).exit_code == 0
    assert (tmp_path / "out" / f"kb-{article}-reset-a-locked-account.md").read_text().startswith("# Reset")
    assert run("retire", str(article)).exit_code == 0 and run("show", "999").exit_code == 1


def test_markdown_of_an_article_from_mail_carries_no_html_or_script_links(h, tmp_path):
    first = h.take(make_message(subject="Login page", body="It shows <img src=x onerror=alert(1)> and "
                                "[help](javascript:alert(2))\n[ref]: javascript:alert(3)\n"))
    h.take(make_message(sender="Alice <alice@example.test>", to=alert_address(h, first.ticket_id), subject="Re: x",
                        body="#resolve cleared the cache <script>steal()</script> & [docs]( JavaScript:x())\n"
                             "#kb Login <script>alert(document.cookie)</script>\n"))
    (article,) = h.store.kb.list()
    assert "<script>" in article.title  # the store keeps what was written
    text = markdown(article)
    for raw in ("<script", "<img", "](javascript:", "]( JavaScript:", "\n[ref]: javascript"):
        assert raw not in text, raw
    assert "# Login &lt;script&gt;alert(document.cookie)&lt;/script&gt;\n" in text
    assert "cleared the cache &lt;script&gt;steal()&lt;/script&gt; &amp;" in text
    assert "\\[ref]: javascript:alert(3)" in text and "[help]\\(javascript:alert(2))" in text


def test_kb_export_writes_the_escaped_markdown(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    config = tmp_path / "maildesk.toml"
    from maildesk.config import load_config
    from maildesk.desk import Desk
    desk = Desk.load(load_config(config))
    store = desk.open_store()
    with store.atomic():
        article = store.kb.add(title="<img src=x onerror=alert(1)>", symptoms="", resolution="<b>bold</b>",
                               tags=[], source_ticket=None, author="alice@example.test", now=desk.clock())
    store.close()
    run = lambda *args: runner.invoke(cli, ["--config", str(config), "kb", *args])  # noqa: E731
    assert "&lt;img src=x onerror=alert(1)&gt;" in run("show", str(article)).output
    assert run("export", str(tmp_path / "out")).exit_code == 0
    (written,) = (tmp_path / "out").iterdir()
    assert "<img" not in written.read_text() and "&lt;b&gt;bold&lt;/b&gt;" in written.read_text()
