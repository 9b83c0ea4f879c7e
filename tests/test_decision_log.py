"""One log line per message decision, as text or as JSON for log shippers, from the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mailfactory import make_message


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maildesk.cli.__main__", *args], cwd=tmp_path, text=True,
                          capture_output=True, timeout=120, check=False)


def setup_site(tmp_path: Path) -> Path:
    assert run(tmp_path, "init", str(tmp_path)).returncode == 0
    inbox = tmp_path / "var" / "inbox" / "new"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "1.a.host").write_bytes(make_message(subject="Printer jammed", message_id="<first@customer.example>"))
    (inbox / "2.b.host").write_bytes(b"From: nobody\r\nSubject: =?utf-8?q?x=0D=0AX-Injected=3A_yes?=\r\n\r\nhi\r\n")
    return tmp_path / "maildesk.toml"


def test_json_logs_have_one_object_per_line_and_a_decision_per_message(tmp_path):
    config = setup_site(tmp_path)
    done = run(tmp_path, "--config", str(config), "--log-format", "json", "run", "--once")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]  # every line is one JSON object
    decisions = [r for r in records if r["msg"].startswith("decision")]
    assert len(decisions) == 2
    first = next(d for d in decisions if d["ref"] == "1.a.host")
    assert first["mailbox"] == "inbox" and first["message_id"] == "first@customer.example"
    assert first["outcome"] == "stored" and first["ticket"] == 1 and first["new_ticket"] is True
    assert first["thread"] == "new" and first["logger"] == "maildesk.intake" and first["level"] == "INFO"
    assert {"ts", "uid", "rule", "reason"} <= set(first)


def test_text_logs_keep_a_decision_on_one_line(tmp_path):
    config = setup_site(tmp_path)
    done = run(tmp_path, "--config", str(config), "run", "--once")
    assert done.returncode == 0, done.stderr
    decisions = [line for line in done.stderr.splitlines() if " decision " in line]
    assert len(decisions) == 2
    assert all("outcome=" in line and "mailbox=" in line for line in decisions)
    assert not any(line.startswith("X-Injected") for line in done.stderr.splitlines())


def test_a_decision_with_a_line_break_in_its_values_stays_one_line(caplog):
    import logging

    from maildesk.logs import JsonFormatter, TextFormatter
    from maildesk.models import Origin, Outcome, RawMessage
    from maildesk.pipeline import Runner
    from maildesk.stage import Work

    caplog.set_level(logging.INFO, logger="maildesk")
    raw = RawMessage(Origin("inbox", "r1"), b"", None)  # type: ignore[arg-type]
    Runner._log(Runner.__new__(Runner), raw, Work(raw=raw, raw_hash="h"),
                Outcome("quarantined", reason="bad\r\nX-Injected: yes"))
    (record,) = [r for r in caplog.records if r.getMessage() == "decision"]
    assert record.md["reason"] == "bad\r\nX-Injected: yes"
    for formatter in (TextFormatter(), JsonFormatter()):
        line = formatter.format(record)
        assert "\n" not in line and "\r" not in line and "X-Injected" in line
