"""A rule pattern that would run for hours: check-config, deliver, run --once and the worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from desktools import make_desk
from mailfactory import make_message
from maildesk.cli import cli
from maildesk.models import Origin, RawMessage
from maildesk.pipeline import Runner
from maildesk.stage import Context
from maildesk.workers import PreparePool

# RE2 cannot run a backreference, so this needs the backtracking engine; the old check let it
# through, and Python's re took 40 s over 3 KB of "a" with it (then stored the ticket).
SLOW = r"(a).*a.*\1b"
LIMIT = 50  # ms: the tests stay fast
A_MAIL = make_message(subject="aaaa", body="a" * 3000 + "\n", sender="Mallory <mallory@customer.example>")


def rule(pattern: str, name: str = "slow rule") -> str:
    return f"\n[[rule]]\nname = \"{name}\"\nif.body_matches = '{pattern}'\nthen.tags = [\"hit\"]\n"


def invoke(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


@pytest.fixture
def site(tmp_path):
    """A desk made by `maildesk init` (a Maildir inbox) with the slow rule and a short time limit."""
    assert invoke(tmp_path / "x.toml", "init", str(tmp_path)).exit_code == 0
    config = tmp_path / "maildesk.toml"
    config.write_text(config.read_text() + f"\n[routing]\nmatch_time_limit_ms = {LIMIT}\n" + rule(SLOW))
    return config


def drop(config: Path, name: str, data: bytes) -> None:
    new = config.parent / "var" / "inbox" / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / name).write_bytes(data)


def quarantined(config: Path) -> list[dict]:
    return json.loads(invoke(config, "quarantine", "list", "--json").output)


def test_check_config_refuses_the_polynomial_pattern_when_it_needs_backtracking(tmp_path):
    assert invoke(tmp_path / "x.toml", "init", str(tmp_path)).exit_code == 0
    config = tmp_path / "maildesk.toml"
    base = config.read_text()
    config.write_text(base + rule(r"a.*a.*a.*a.*a.*b(?<!c)"))
    result = invoke(config, "check-config")
    assert result.exit_code == 2
    assert ('config error: rule[0].if.body_matches: in rule "slow rule": unsafe regex: 5 unbounded repeats in a row'
            in result.output)
    config.write_text(base + rule("a.*a.*a.*a.*a.*b"))  # as written in the report: RE2 runs it in linear time
    result = invoke(config, "check-config")
    assert result.exit_code == 0 and "ok:" in result.output


def test_the_polynomial_pattern_on_re2_takes_the_mail_that_hung_deliver(tmp_path):
    assert invoke(tmp_path / "x.toml", "init", str(tmp_path)).exit_code == 0
    config = tmp_path / "maildesk.toml"
    config.write_text(config.read_text() + rule("a.*a.*a.*a.*a.*b"))
    result = deliver(config, A_MAIL)
    assert result.returncode == 0 and result.stdout.startswith(b"stored ticket 1")


def deliver(config: Path, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), "deliver"],
                          input=data, capture_output=True, timeout=60)


def test_deliver_quarantines_a_message_whose_rule_runs_out_of_time_and_takes_the_next(site):
    slow = deliver(site, A_MAIL)
    assert slow.returncode == 0 and slow.stdout.strip() == b"quarantined"
    (entry,) = quarantined(site)
    assert entry["kind"] == "rule-timeout" and 'rule "slow rule" (rule[0])' in entry["reason"]
    assert f"{LIMIT} ms" in entry["reason"]
    nxt = deliver(site, make_message(subject="Printer jammed"))
    assert nxt.returncode == 0 and nxt.stdout.startswith(b"stored ticket 1")
    again = deliver(site, A_MAIL)  # the MTA tries again: already kept, not run again
    assert again.returncode == 0 and b"already" in again.stdout and len(quarantined(site)) == 1


def test_run_once_goes_on_past_the_message_and_never_retries_it(site):
    drop(site, "1.slow", A_MAIL)
    drop(site, "2.next", make_message(subject="Printer jammed"))
    assert invoke(site, "run", "--once").exit_code == 0
    (entry,) = quarantined(site)
    assert 'rule "slow rule"' in entry["reason"] and entry["subject"] == "aaaa"
    tickets = json.loads(invoke(site, "tickets", "list", "--json").output)
    assert [t["subject"] for t in tickets] == ["Printer jammed"]
    assert invoke(site, "run", "--once").exit_code == 0  # a restart: nothing is tried again
    assert len(quarantined(site)) == 1 and len(json.loads(invoke(site, "tickets", "list", "--json").output)) == 1


def test_rules_test_names_the_rule_that_ran_out_of_time(site, tmp_path):
    eml = tmp_path / "a.eml"
    eml.write_bytes(A_MAIL)
    result = invoke(site, "rules", "test", str(eml))
    assert result.exit_code == 1 and 'rule "slow rule" (rule[0])' in result.output


def test_the_time_limit_holds_in_a_worker_process(tmp_path):
    desk = make_desk(tmp_path, routing={"match_time_limit_ms": LIMIT},
                     rules=[{"name": "slow rule", "if": {"body_matches": SLOW}, "then": {"tags": ["hit"]}}])
    raws = [RawMessage(Origin("t", str(i)), data, desk.clock())
            for i, data in enumerate([A_MAIL, make_message(subject="Printer jammed")])]
    pool = PreparePool(desk, workers=1, min_batch=1)
    try:
        slow, ok = list(pool.prepare(raws))
    finally:
        pool.close()
    assert slow.failure.kind == "rule-timeout" and 'rule "slow rule"' in slow.failure.reason
    assert ok.failure is None and ok.route is not None
    with closing(desk.open_store()) as store:
        runner = Runner(Context(desk, store))
        assert [runner.finish(w).status for w in (slow, ok)] == ["quarantined", "stored"]
