"""What is not an email at all is held with a reason: it never opens a ticket or reaches an agent."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mailfactory import make_message
from maildesk.cli import cli
from maildesk.intake.sniff import not_mail

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
RANDOM = bytes(random.Random(7).randrange(256) for _ in range(4096))

CASES = {
    "empty": (b"", "empty input"),
    "whitespace": (b" \r\n\t\n", "only whitespace"),
    "png": (PNG, "a PNG image"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
    "outlook msg": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "OLE2"),
    "random bytes": (RANDOM, "header"),
    "plain text": (b"Hello,\nplease call me back.\n", "no mail header fields"),
    "only a mime entity": (b"Content-Type: text/plain\n\nBlah\n", "no mail header fields"),
    "nul in header": (b"From: a@b.example\nSub\x00ject: x\n\nhi\n", "NUL bytes"),
}
MAIL = {
    "generated": make_message(),
    "mbox from line": b"From carol@customer.example Mon Nov  2 09:30:00 2026\nFrom: carol@customer.example\n\nhi\n",
    "only a date": b"Date: Mon, 02 Nov 2026 09:30:00 +0000\n\nno sender, but a message\n",
    "crlf": b"Received: from x by y; Mon, 02 Nov 2026 09:30:00 +0000\r\nSubject: hi\r\n\r\nbody\r\n",
    "binary body": b"From: a@b.example\nContent-Transfer-Encoding: binary\n\n\x00\x01\x89PNG",
}


@pytest.mark.parametrize("data,why", CASES.values(), ids=CASES.keys())
def test_what_is_not_mail_is_named(data, why):
    assert why in (not_mail(data) or "")


@pytest.mark.parametrize("data", MAIL.values(), ids=MAIL.keys())
def test_mail_is_mail(data):
    assert not_mail(data) is None


@pytest.fixture
def site(tmp_path):
    assert CliRunner().invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    return tmp_path / "maildesk.toml"


def _deliver(site, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maildesk", "--config", str(site), "deliver"],
                          input=data, capture_output=True, timeout=60)


def _json(site, *args):
    result = CliRunner().invoke(cli, ["--config", str(site), *args, "--json"], catch_exceptions=False)
    return json.loads(result.output)


@pytest.mark.parametrize("data", [b"", b"  \n\n\t \r\n"], ids=["empty", "whitespace"])
def test_deliver_refuses_empty_input_with_ex_dataerr(site, data):
    done = _deliver(site, data)
    assert done.returncode == 65 and b"not a message" in done.stderr
    assert _json(site, "tickets", "list") == []


def test_deliver_quarantines_a_binary_file_with_the_reason(site):
    done = _deliver(site, PNG)
    assert done.returncode == 0 and b"quarantined" in done.stdout
    assert _json(site, "tickets", "list") == []
    (entry,) = _json(site, "quarantine", "list")
    assert entry["kind"] == "not-mail" and "PNG image" in entry["reason"]


def test_binary_files_in_the_maildir_are_held_and_the_mail_beside_them_is_served(site):
    site.write_text(site.read_text() + '\n[[tier]]\nname = "L1"\nagents = ["alice@example.test"]\n')
    inbox = site.parent / "var" / "inbox" / "new"
    inbox.mkdir(parents=True, exist_ok=True)
    for name, data in (("a.png", PNG), ("b.bin", RANDOM), ("c.eml", make_message()), ("d.empty", b"")):
        (inbox / name).write_bytes(data)
    assert CliRunner().invoke(cli, ["--config", str(site), "run", "--once"]).exit_code == 0
    (ticket,) = _json(site, "tickets", "list")
    assert ticket["requester"] == "carol@customer.example"
    held = _json(site, "quarantine", "list")
    assert sorted(e["kind"] for e in held) == ["not-mail"] * 3
    outbox = _json(site, "outbox", "list")
    assert sorted(n["kind"] for n in outbox) == ["acknowledgement", "alert"]  # the real mail's, nothing else
