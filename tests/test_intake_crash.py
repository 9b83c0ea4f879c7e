"""A kill -9 at any point of the grouped intake, then a restart: each message stored once, settled, acknowledged once.

Each test fills a mailbox (Maildir, or INBOX on Dovecot flagged \\Seen or moved to a folder),
runs ``run_once`` in a child process that kills itself at one moment of the intake, checks
what the kill left behind, runs ``run_once`` again on a fresh desk and store, and checks the end state.
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from desktools import dovecot_mailbox, make_desk
from imapserver import DovecotServer
from mailfactory import make_message, message_id_of
from maildesk.daemon import run_once

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 250  # more than two groups of 100, and fewer than a Maildir batch of 500
KILL_AT = 137  # the k-th finished message: past the first group of 100
OUTBOUND = {"kind": "maildir", "path": "sent"}
POINTS = ["in-group", "before-sync", "before-flag", "after-flag"]
MAILDIR = {"name": "drop", "kind": "maildir", "path": "inbox", "poll_seconds": 1}


# The daemon's one pass over the mailbox in a child process that kills itself, hard, at one point:
# "in-group" after the k-th message is done in its savepoint (earlier groups committed, its own not),
# "before-sync" once a batch's groups committed, "before-flag" once synced, "after-flag" once the
# mailbox flagged or moved them but before the ledger knows.
CHILD = """
import os, signal, sys
sys.path[:0] = [{tests!r}, {root!r}]
import itertools, json
from pathlib import Path
from desktools import make_desk
from maildesk.daemon import run_once
from maildesk.mailbox.imap import ImapSource
from maildesk.mailbox.maildir import MaildirSource
from maildesk.pipeline import Runner
from maildesk.store import Store

cfg, point, kill_at = json.loads({mailbox!r}), {point!r}, {kill_at}
source = MaildirSource if cfg["kind"] == "maildir" else ImapSource
finish, settle, calls = Runner.finish, source.settle, itertools.count(1)

def die(*args, **kw):
    os.kill(os.getpid(), signal.SIGKILL)

def counted(self, work, **kw):
    outcome = finish(self, work, **kw)
    if next(calls) == kill_at:
        die()
    return outcome

def settled(self, done):
    settle(self, done)
    die()

if point == "in-group":
    Runner.finish = counted
elif point == "before-sync":
    Store.sync = die
elif point == "before-flag":
    source.settle = die
elif point == "after-flag":
    source.settle = settled
desk = make_desk(Path({tmp!r}), mailboxes=[cfg], outbound={outbound!r}, notify={{"enabled": True}})
sys.exit(run_once(desk))
"""


def crash(tmp_path: Path, mailbox: dict, point: str) -> tuple[int, str]:
    """The child's return code and the tail of its output."""
    script = CHILD.format(tests=str(ROOT / "tests"), root=str(ROOT), tmp=str(tmp_path), mailbox=json.dumps(mailbox),
                          point=point, kill_at=KILL_AT, outbound=OUTBOUND)
    # Output to a file: the killed child's intake workers hold its descriptors until they notice.
    log = tmp_path / "child.log"
    with open(log, "wb") as out:
        code = subprocess.run([sys.executable, "-c", script], stdout=out, stderr=out, timeout=60).returncode
    return code, log.read_text(errors="replace")[-2000:]


def restart(tmp_path: Path, mailbox: dict) -> int:
    """A fresh desk and store, as after a restart, taking in everything to the end."""
    return run_once(make_desk(tmp_path, mailboxes=[mailbox], outbound=OUTBOUND, notify={"enabled": True}))


@functools.cache
def letters() -> dict[str, bytes]:
    """Each from its own customer, on its own subject: one new ticket each."""
    mails = {}
    for n in range(MESSAGES):
        mid = f"crash{n:03d}@customer.example"
        mails[mid] = make_message(sender=f"Customer {n} <c{n}@customer.example>", subject=f"Order {n} never came",
                                  message_id=f"<{mid}>")
    return mails


class Maildir:
    def __init__(self, tmp_path: Path) -> None:
        self.path, self.config = tmp_path / "inbox", MAILDIR

    def fill(self, mails: dict[str, bytes]) -> None:
        (self.path / "new").mkdir(parents=True)
        for n, data in enumerate(mails.values()):
            (self.path / "new" / f"1800000000.M{n:04d}P1.mx").write_bytes(data)

    def look(self) -> tuple[set[str], int]:
        """Message-IDs moved to cur/ marked seen, and how many files still wait."""
        files = [*(self.path / "new").iterdir(), *(self.path / "cur").iterdir()]
        done = {f for f in files if f.parent.name == "cur" and "S" in f.name.partition(":2,")[2]}
        return {message_id_of(f.read_bytes()).strip("<>") for f in done}, len(files) - len(done)


class Imap:
    def __init__(self, tmp_path: Path, server: DovecotServer, processed: str | None) -> None:
        self.server, self.processed = server, processed
        self.config = {**dovecot_mailbox(tmp_path, server), **({"processed_folder": processed} if processed else {})}

    def fill(self, mails: dict[str, bytes]) -> None:
        with self.server.client() as client:
            client.multiappend("INBOX", list(mails.values()))  # in order, in one command

    def look(self) -> tuple[set[str], int]:
        """Message-IDs flagged \\Seen in INBOX or moved out of it, and how many still wait there."""
        done: set[str] = set()
        waiting = 0
        with self.server.client() as client:
            for folder in ["INBOX", *([self.processed] if self.processed else [])]:
                if not client.folder_exists(folder):
                    continue
                client.select_folder(folder, readonly=True)
                items = client.fetch(client.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                for item in items.values():
                    mid = message_id_of(item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]).strip("<>")
                    if folder != "INBOX" or b"\\Seen" in item[b"FLAGS"]:
                        done.add(mid)
                    else:
                        waiting += 1
        return done, waiting


def query(tmp_path: Path, sql: str) -> list[tuple]:
    store = make_desk(tmp_path).open_store()
    try:
        return store.db.execute(sql).fetchall()
    finally:
        store.close()


def stored_ids(tmp_path: Path) -> list[str]:
    return [row[0] for row in query(tmp_path, "SELECT message_id FROM messages")]


def check_left_behind(tmp_path: Path, box: Maildir | Imap, point: str) -> None:
    """What the kill left: committed groups only, never a settled message that is not stored."""
    stored, (settled, waiting) = set(stored_ids(tmp_path)), box.look()
    unsettled = query(tmp_path, "SELECT COUNT(*) FROM receipts WHERE settled = 0")[0][0]
    assert settled <= stored, "flagged or moved before it was stored"
    if point == "in-group":
        assert 0 < len(stored) < KILL_AT  # earlier groups committed, the killed one rolled back
        assert waiting == MESSAGES - len(settled) > 0
    else:
        assert 0 < unsettled == len(stored)  # committed, the ledger still owes the mailbox
        assert settled == (stored if point == "after-flag" else set())


def check_end(tmp_path: Path, box: Maildir | Imap, mails: dict[str, bytes]) -> None:
    stored = stored_ids(tmp_path)
    assert len(stored) == MESSAGES and set(stored) == set(mails)  # each once, none lost
    assert box.look() == (set(mails), 0)  # every one flagged or moved, none waiting
    assert query(tmp_path, "SELECT COUNT(*) FROM receipts WHERE settled = 0") == [(0,)]
    tickets = query(tmp_path, "SELECT COUNT(*) FROM tickets")[0][0]
    acks = query(tmp_path, "SELECT COUNT(*), COUNT(DISTINCT ticket_id) FROM outbox WHERE kind = 'acknowledgement'")
    assert tickets == MESSAGES and acks == [(tickets, tickets)]
    assert query(tmp_path, "SELECT ticket_id, recipient FROM outbox WHERE kind = 'acknowledgement'"
                           " GROUP BY ticket_id, recipient HAVING COUNT(*) > 1") == []


def mailbox(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Maildir | Imap:
    if kind == "maildir":
        return Maildir(tmp_path)
    return Imap(tmp_path, request.getfixturevalue("dovecot"), "Processed" if kind == "imap-move" else None)


KINDS = ["maildir", pytest.param("imap-flag", marks=pytest.mark.imap),
         pytest.param("imap-move", marks=pytest.mark.imap)]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_kill_during_intake_then_a_restart_stores_settles_and_acknowledges_each_message_once(
        tmp_path, request, kind, point):
    box, mails = mailbox(kind, tmp_path, request), letters()
    box.fill(mails)
    code, log = crash(tmp_path, box.config, point)
    assert code == -signal.SIGKILL, log  # the kill did happen
    check_left_behind(tmp_path, box, point)
    assert restart(tmp_path, box.config) == 0  # no mailbox failed
    check_end(tmp_path, box, mails)
