"""The command line end to end: init, check-config, run --once on a Maildir, deliver, tickets, quarantine."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mailfactory import make_message
from maildesk.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def invoke(*args: str, input: bytes | None = None, config: Path | None = None):
    argv = (["--config", str(config)] if config else []) + list(args)
    return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)


@pytest.fixture
def site(tmp_path):
    """A directory set up by `maildesk init`."""
    result = invoke("init", str(tmp_path))
    assert result.exit_code == 0, result.output
    return tmp_path / "maildesk.toml"


def drop(config: Path, name: str, data: bytes) -> Path:
    path = config.parent / "var" / "inbox" / "new" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_init_writes_config_and_private_secret(site):
    secret = site.parent / "var" / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text().strip()) >= 32
    assert invoke("init", str(site.parent)).exit_code != 0  # never overwrites silently
    result = invoke("check-config", config=site)
    assert result.exit_code == 0 and "ok:" in result.output


def test_check_config_reports_key_path_and_exits_2(tmp_path):
    bad = tmp_path / "maildesk.toml"
    bad.write_text('[desk]\naddress = "s@example.test"\n[[mailbox]]\nname = "m"\nkind = "imap"\n'
                   'host = "h"\nusername = "u"\nport = "abc"\n')
    result = CliRunner().invoke(cli, ["--config", str(bad), "check-config"])
    assert result.exit_code == 2
    assert 'mailbox[0].port: expected an integer, got "abc"' in result.output


def test_check_config_needs_the_secret_file(tmp_path):
    path = tmp_path / "maildesk.toml"
    path.write_text('[desk]\naddress = "s@example.test"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "check-config"])
    assert result.exit_code == 2 and "desk.secret_file: file not found" in result.output


def test_run_once_turns_maildir_mail_into_tickets(site):
    first = drop(site, "1.eml", make_message())
    drop(site, "2.eml", make_message(sender="dan@other.example", subject="VPN down"))
    assert invoke("run", "--once", config=site).exit_code == 0
    assert not first.exists()
    cur = sorted(p.name for p in (site.parent / "var" / "inbox" / "cur").iterdir())
    assert cur == ["1.eml:2,S", "2.eml:2,S"]
    rows = json.loads(invoke("tickets", "list", "--json", config=site).output)
    assert {r["subject"] for r in rows} == {"Printer on floor 3 is jammed", "VPN down"}
    for key in ("id", "subject", "requester", "status", "tier", "priority", "created_at", "updated_at",
                "message_count"):
        assert key in rows[0]
    assert invoke("run", "--once", config=site).exit_code == 0  # nothing new: nothing doubled
    assert len(json.loads(invoke("tickets", "list", "--json", config=site).output)) == 2


def test_tickets_filters_show_and_export(site):
    drop(site, "1.eml", make_message())
    invoke("run", "--once", config=site)
    assert json.loads(invoke("tickets", "list", "--json", "--status", "closed", config=site).output) == []
    assert len(json.loads(invoke("tickets", "list", "--json", "--tier", "L1", config=site).output)) == 1
    shown = json.loads(invoke("tickets", "show", "1", "--json", config=site).output)
    assert {"participants", "messages", "events"} <= set(shown)
    msg = shown["messages"][0]
    for key in ("id", "message_id", "direction", "sender", "date", "subject", "body_text", "new_text",
                "thread_reason", "attachments"):
        assert key in msg
    (notice,) = shown["notices"]  # the acknowledgement, written to the outbox Maildir
    assert (notice["kind"], notice["recipient"], notice["status"]) == ("acknowledgement", "carol@customer.example",
                                                                       "sent")
    human = invoke("tickets", "show", "1", config=site).output
    assert "Ticket #1: Printer on floor 3 is jammed" in human
    assert "acknowledgement to carol@customer.example: sent" in human
    lines = invoke("export", config=site).output.splitlines()
    assert [json.loads(line) for line in lines] == [shown]
    missing = CliRunner().invoke(cli, ["--config", str(site), "tickets", "show", "99"])
    assert missing.exit_code == 1 and "no ticket 99" in missing.output


def test_quarantine_list_and_retry(site):
    site.write_text(site.read_text() + "\n[limits]\nmax_message_bytes = 2048\n")
    drop(site, "big.eml", make_message(body="x" * 4000))
    invoke("run", "--once", config=site)
    entries = json.loads(invoke("quarantine", "list", "--json", config=site).output)
    assert len(entries) == 1 and "2048" in entries[0]["reason"]
    still = CliRunner().invoke(cli, ["--config", str(site), "quarantine", "retry", str(entries[0]["id"])])
    assert still.exit_code == 1 and "still quarantined" in still.output
    site.write_text(site.read_text().replace("max_message_bytes = 2048", "max_message_bytes = 1048576"))
    result = invoke("quarantine", "retry", str(entries[0]["id"]), config=site)
    assert result.exit_code == 0 and "released" in result.output
    assert json.loads(invoke("quarantine", "list", "--json", config=site).output) == []
    assert len(json.loads(invoke("tickets", "list", "--json", config=site).output)) == 1


def deliver(config: Path, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), "deliver"],
                          input=data, capture_output=True, timeout=60)


def test_deliver_stores_once(site):
    data = make_message()
    first = deliver(site, data)
    assert first.returncode == 0 and b"stored ticket 1" in first.stdout
    again = deliver(site, data)  # the MTA retried after a timeout: not doubled
    assert again.returncode == 0 and b"already" in again.stdout


def test_deliver_exits_75_when_database_is_locked(site):
    site.write_text(site.read_text().replace('secret_file = "var/secret.key"',
                                             'secret_file = "var/secret.key"\ndb_busy_timeout_ms = 100'))
    deliver(site, make_message())  # creates the database
    conn = sqlite3.connect(site.parent / "var" / "maildesk.db", isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        result = deliver(site, make_message(subject="while locked"))
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert result.returncode == 75, result.stderr
    assert b"not stored" in result.stderr
    assert deliver(site, make_message(subject="while locked")).returncode == 0  # the MTA's retry works


def test_deliver_exits_75_when_database_cannot_be_opened(site):
    (site.parent / "var" / "maildesk.db").mkdir(parents=True)  # a directory where the file should be
    result = deliver(site, make_message())
    assert result.returncode == 75 and b"not stored" in result.stderr


def test_embedded_default_runs_without_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    inbox = tmp_path / "var" / "inbox" / "new"
    inbox.mkdir(parents=True)
    (inbox / "hello.eml").write_bytes(make_message())
    assert invoke("run", "--once").exit_code == 0
    assert (tmp_path / "var" / "secret.key").exists()
    assert "Printer on floor 3" in invoke("tickets", "list").output


def test_sample_messages_make_tickets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    inbox = tmp_path / "var" / "inbox" / "new"
    inbox.mkdir(parents=True)
    samples = sorted(SAMPLES.glob("*.eml"))
    assert samples
    for sample in samples:
        (inbox / sample.name).write_bytes(sample.read_bytes())
    assert invoke("run", "--once").exit_code == 0
    assert len(json.loads(invoke("tickets", "list", "--json").output)) >= 1


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, path + " ")
    return found


def test_every_command_is_documented_and_has_help():
    readme = (ROOT / "README.md").read_text()
    for path, command in _commands(cli):
        assert command.help, f"maildesk {path} has no help"
        assert re.search(rf"maildesk( --config \S+)? {re.escape(path)}\b", readme), f"README lacks `maildesk {path}`"


def _summary(config: Path) -> tuple[list, list]:
    tickets = [json.loads(line) for line in invoke("export", config=config).output.splitlines()]
    shape = sorted((t["subject"], t["requester"], [(m["thread_reason"], m["new_text"], m["kind"])
                                                   for m in t["messages"]]) for t in tickets)
    held = sorted((e["kind"], e["reason"]) for e in json.loads(invoke("quarantine", "list", "--json",
                                                                      config=config).output))
    return shape, held


def test_worker_processes_give_the_same_result_as_in_process(tmp_path):
    results = []
    for workers in (0, 1):
        site = tmp_path / f"w{workers}"
        assert invoke("init", str(site)).exit_code == 0
        config = site / "maildesk.toml"
        config.write_text(config.read_text() + f"\n[intake]\nworkers = {workers}\n[limits]\nmax_message_bytes = 4096\n")
        first = make_message(message_id="<root@customer.example>")
        drop(config, "000.eml", first)
        for i in range(1, 20):
            drop(config, f"{i:03}.eml", make_message(subject=f"Re: case {i % 4}", in_reply_to="<root@customer.example>"
                                                     if i % 2 else None))
        drop(config, "020.eml", make_message(body="x" * 9000, message_id="<big@customer.example>"))  # over the limit
        drop(config, "021.eml", make_message(headers={"Auto-Submitted": "auto-replied"}, subject="Out of office"))
        run = invoke("run", "--once", config=config)
        assert run.exit_code == 0
        assert ("intake worker process" in run.output) == bool(workers)
        results.append(_summary(config))
    assert results[0] == results[1]
    shape, held = results[1]
    assert len(shape) == 10 and {kind for kind, _ in held} == {"limit", "auto-reply"}


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_broken_mailbox_does_not_stop_the_others(site, monkeypatch):
    monkeypatch.setenv("MD_BROKEN_PW", "x")
    site.write_text(site.read_text() + f'\n[[mailbox]]\nname = "broken"\nkind = "imap"\nhost = "127.0.0.1"\n'
                    f'port = {_closed_port()}\nsecurity = "none"\nusername = "u"\npassword_env = "MD_BROKEN_PW"\n')
    drop(site, "1.eml", make_message())
    result = invoke("run", "--once", config=site)
    assert result.exit_code == 1 and "mailbox broken" in result.output
    assert len(json.loads(invoke("tickets", "list", "--json", config=site).output)) == 1


def test_attachments_are_stored_by_hash_never_by_their_name(site):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carol@customer.example", "support@example.test", "logs"
    msg["Message-ID"] = "<att@customer.example>"
    msg.set_content("see attached")
    msg.add_attachment(b"secret log line\n", maintype="text", subtype="plain", filename="../../etc/passwd")
    drop(site, "1.eml", msg.as_bytes())
    invoke("run", "--once", config=site)
    attachment = json.loads(invoke("tickets", "show", "1", "--json", config=site).output)["messages"][0]["attachments"][0]
    assert attachment["filename"] == "passwd"
    stored = (site.parent / "var" / attachment["path"]).resolve()
    assert stored.is_relative_to((site.parent / "var" / "attachments").resolve())
    assert stored.read_bytes() == b"secret log line\n" and stored.name == attachment["sha256"]
    assert not (site.parent / "etc").exists()


def test_sample_mail_to_the_embedded_desk_does_not_make_the_desk_a_participant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    inbox = tmp_path / "var" / "inbox" / "new"
    inbox.mkdir(parents=True)
    (inbox / "vpn.eml").write_bytes((SAMPLES / "vpn-outlook.eml").read_bytes())
    invoke("run", "--once")
    shown = json.loads(invoke("tickets", "show", "1", "--json").output)
    assert [p["address"] for p in shown["participants"]] == ["juergen@customer.example"]


def test_outbox_list_and_retry(site):
    from datetime import datetime, timezone

    from maildesk.config import load_config
    from maildesk.desk import Desk

    store = Desk.load(load_config(site)).open_store()
    with store.atomic():
        entry = store.outbox.enqueue(ticket_id=1, kind="acknowledgement", recipient="carol@customer.example",
                                     message_id="x1@example.test", envelope_from="support@example.test",
                                     data=b"m", smtputf8=False, automatic=True, now=datetime.now(timezone.utc))
        store.outbox.failed(entry, error="550 5.1.1 no such user", now=datetime.now(timezone.utc))
    store.close()
    listed = json.loads(invoke("outbox", "list", "--json", config=site).output)
    assert [(e["id"], e["status"], e["last_error"]) for e in listed] == [(entry, "failed", "550 5.1.1 no such user")]
    assert "550 5.1.1" in invoke("outbox", "list", config=site).output
    assert invoke("outbox", "retry", str(entry), config=site).exit_code == 0
    assert json.loads(invoke("outbox", "list", "--json", config=site).output)[0]["status"] == "queued"
    missing = CliRunner().invoke(cli, ["--config", str(site), "outbox", "retry", "99"])
    assert missing.exit_code == 1 and "no unsent notice 99" in missing.output


def test_check_config_warns_about_a_tier_nobody_works_in(tmp_path):
    invoke("init", str(tmp_path))
    path = tmp_path / "maildesk.toml"
    path.write_text(path.read_text() + '\n[[tier]]\nname = "L1"\nagents = ["alice@example.test"]\n'
                    '\n[[tier]]\nname = "L2"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "check-config"])
    assert result.exit_code == 0 and "ok:" in result.output
    assert result.stderr.splitlines() == ["warning: tier[1].agents: tier L2 has no agents, so nobody gets its alerts"]


RULES_TOML = '''
[[tier]]
name = "L1"
agents = ["alice@example.test"]
[[tier]]
name = "L2"
agents = ["carol@example.test"]

[[rule]]
name = "outages"
if.subject_matches = '(?i)\\boutage\\b'
if.body_matches = '(?i)production'
then.tier = "L2"
then.priority = "urgent"
'''


def test_rules_test_explains_each_rule_and_changes_nothing(site, tmp_path):
    site.write_text(site.read_text() + RULES_TOML)
    eml = tmp_path / "outage.eml"
    eml.write_bytes(make_message(subject="Outage in Berlin", body="production is down\n"))
    human = invoke("rules", "test", str(eml), config=site).output
    assert "✓  outages: matched" in human and "decision: tier L2, priority urgent" in human
    other = tmp_path / "other.eml"
    other.write_bytes(make_message(subject="Outage in Berlin", body="only the test system\n"))
    result = json.loads(invoke("rules", "test", str(other), "--json", config=site).output)
    (rule,) = result["rules"]
    assert not rule["matched"] and [c["held"] for c in rule["conditions"]] == [True, False]
    assert rule["conditions"][1]["key"] == "body_matches"
    assert result["decision"]["tier"] == "L1" and result["decision"]["rules"] == []
    assert json.loads(invoke("tickets", "list", "--json", config=site).output) == []


def test_queue_lists_each_tiers_open_tickets_oldest_first(site):
    site.write_text(site.read_text() + RULES_TOML)
    drop(site, "1.eml", make_message(subject="Printer jammed"))
    drop(site, "2.eml", make_message(subject="Outage!", body="production stopped\n", sender="ops@shop.example"))
    invoke("run", "--once", config=site)
    queues = json.loads(invoke("queue", "--json", config=site).output)
    assert [t["subject"] for t in queues["L1"]] == ["Printer jammed"]
    (outage,) = queues["L2"]
    assert outage["priority"] == "urgent" and outage["assignee"] is None and outage["age_seconds"] >= 0
    human = invoke("queue", "L2", config=site).output
    assert human.startswith("L2: 1 open") and "urgent" in human and "unassigned" in human
    assert CliRunner().invoke(cli, ["--config", str(site), "queue", "L9"]).exit_code == 1
    shown = invoke("tickets", "show", str(outage["id"]), config=site).output
    assert 'routed by: rule "outages"' in shown


def test_check_config_names_the_broken_rule(site):
    site.write_text(site.read_text() + RULES_TOML.replace("(?i)production", "(?i)produc(tion"))
    result = CliRunner().invoke(cli, ["--config", str(site), "check-config"])
    assert result.exit_code == 2 and "rule[0].if.body_matches" in result.output and '"outages"' in result.output


def test_run_once_now_lets_the_timers_act_at_a_given_time(site):
    from datetime import datetime, timedelta, timezone

    site.write_text(site.read_text() + '\n[sla.normal]\nfirst_response = "1h"\nbusiness_hours = false\n')
    drop(site, "1.eml", make_message())
    invoke("run", "--once", config=site)
    shown = invoke("tickets", "show", "1", config=site).output
    assert "SLA normal first response: running" in shown
    (queued,) = json.loads(invoke("queue", "--json", config=site).output)["L1"]
    assert queued["next_sla"]["timer"] == "first_response.warning"
    assert [(c["clock"], c["state"]) for c in queued["sla"]] == [("first_response", "running")]
    assert "first response: running  [first response.warning" in invoke("queue", config=site).output
    later = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(timespec="minutes")
    preview = json.loads(invoke("report", "--json", "--now", later, config=site).output)["timers_due"]
    assert preview == {"first_response.breach": 1, "first_response.warning": 1}  # what would fire then
    assert invoke("run", "--once", "--now", later, config=site).exit_code == 0
    ticket = json.loads(invoke("tickets", "show", "1", "--json", config=site).output)
    assert "sla-breach" in [e["kind"] for e in ticket["events"]]
    assert CliRunner().invoke(cli, ["--config", str(site), "run", "--now", later]).exit_code == 2
    assert CliRunner().invoke(cli, ["--config", str(site), "run", "--once", "--now", "soon"]).exit_code == 2
