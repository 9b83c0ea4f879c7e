"""ImapSource against a real Dovecot on loopback, with an in-memory ledger."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from imapserver import DovecotServer

from maildesk.errors import MailboxError
from maildesk.mailbox.base import Reconciliation, Settlement
from maildesk.mailbox.imap import ImapSource
from maildesk.mailbox.imapplan import header_message_id, plan_batches
from maildesk.models import Origin, RawMessage

pytestmark = pytest.mark.imap

Server = DovecotServer
MakeServer = Callable[..., DovecotServer]
MakeSource = Callable[..., ImapSource]
NO_MOVE_NO_IDLE = "IMAP4rev1 LITERAL+ UIDPLUS"
BODY_FETCH = r"UID FETCH (\S+) \(BODY\.PEEK\[\]\)"


def message(n: int, size: int = 0) -> bytes:
    """A small plain message; ``size`` adds roughly that many bytes of body."""
    filler = ("x" * 70 + "\r\n") * (size // 72)
    return (
        f"From: Customer {n} <c{n}@customer.example>\r\nTo: support@example.test\r\n"
        f"Subject: case {n}\r\nMessage-ID: <case{n}@customer.example>\r\n\r\n"
        f"message {n}\r\n{filler}"
    ).encode()


def case_of(raw: RawMessage) -> int:
    match = re.search(rb"Subject: case (\d+)", raw.data)
    assert match, raw.data[:200]
    return int(match.group(1))


class DictLedger:
    """The store's ledger, in memory; ``commit`` does what the intake loop does."""

    def __init__(self) -> None:
        self.receipts: dict[tuple[str, str], Settlement] = {}
        self.settled: set[tuple[str, str]] = set()
        self.message_ids: set[str] = set()
        self.validity: dict[str, int] = {}
        self.stored: list[bytes] = []
        self.duplicates = 0

    def known_refs(self, mailbox: str, refs: Sequence[str]) -> set[str]:
        return {ref for ref in refs if (mailbox, ref) in self.receipts}

    def max_uid(self, mailbox: str, uidvalidity: int) -> int:
        origins = [s.origin for (box, _), s in self.receipts.items() if box == mailbox]
        return max((o.uid or 0 for o in origins if o.uidvalidity == uidvalidity), default=0)

    def uidvalidity(self, mailbox: str) -> int | None:
        return self.validity.get(mailbox)

    def set_uidvalidity(self, mailbox: str, value: int) -> None:
        self.validity[mailbox] = value

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        return {mid for mid in message_ids if mid in self.message_ids}

    def unsettled(self, mailbox: str) -> list[Settlement]:
        return [s for key, s in self.receipts.items() if key[0] == mailbox and key not in self.settled]

    def mark_settled(self, mailbox: str, refs: Sequence[str]) -> None:
        self.settled.update((mailbox, ref) for ref in refs)

    def commit(self, raw: RawMessage, quarantined: bool = False) -> None:
        """Store the message, or count a duplicate by Message-ID; either way, a receipt."""
        message_id = header_message_id(raw.data.split(b"\r\n\r\n", 1)[0] + b"\r\n")
        assert message_id
        if message_id in self.message_ids:
            self.duplicates += 1
        else:
            self.message_ids.add(message_id)
            self.stored.append(raw.data)
        self.receipts[(raw.origin.mailbox, raw.origin.ref)] = Settlement(raw.origin, quarantined)


def settle_all(source: ImapSource, ledger: DictLedger) -> None:
    done = ledger.unsettled(source.name)
    source.settle(done)
    ledger.mark_settled(source.name, [s.origin.ref for s in done])


def drain(source: ImapSource, ledger: DictLedger, *, settle: bool = True,
          quarantine: Sequence[int] = ()) -> list[list[RawMessage]]:
    """One pass of the intake loop: commit every batch, then settle."""
    batches = []
    for batch in source.batches(ledger):
        batches.append(list(batch))
        for raw in batch:
            ledger.commit(raw, quarantined=case_of(raw) in quarantine)
    if settle:
        settle_all(source, ledger)
    return batches


def cases(batches: list[list[RawMessage]]) -> list[int]:
    return [case_of(raw) for batch in batches for raw in batch]


def eventually(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def wait_in_thread(source: ImapSource, stop: threading.Event,
                   timeout: float) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            source.wait(stop, timeout)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def idling(server: Server) -> Callable[[], bool]:
    return lambda: bool(server.rawlog_commands(r"^\S+ \S+ IDLE$"))


@pytest.fixture
def make_source(dovecot: Server) -> Iterator[MakeSource]:
    sources: list[ImapSource] = []

    def make(server: Server | None = None, **options: Any) -> ImapSource:
        server = server or dovecot
        settings: dict[str, Any] = {
            "name": "support", "host": server.host, "port": server.port, "security": "none",
            "username": server.user, "password": server.password, "timeout": 10,
        }
        source = ImapSource(**(settings | options))
        sources.append(source)
        source.connect()
        return source

    yield make
    for source in sources:
        source.close()


# -- pure helpers ------------------------------------------------------------


def test_plan_batches_respects_count_and_bytes() -> None:
    sizes = [(1, 400), (2, 400), (3, 400), (4, 5000), (5, 100), (6, 100), (7, 100)]
    assert plan_batches(sizes, max_count=10, max_bytes=1000) == [[1, 2], [3], [4], [5, 6, 7]]
    assert plan_batches(sizes, max_count=2, max_bytes=10**6) == [[1, 2], [3, 4], [5, 6], [7]]
    assert plan_batches([], 5, 5) == []


def test_header_message_id() -> None:
    assert header_message_id(b"Message-ID:\r\n <a.b@c>\r\n\r\n") == "a.b@c"
    assert header_message_id(b"message-id: <x@y> (comment)\r\n") == "x@y"
    assert header_message_id(b"Message-ID: no-brackets\r\n") is None
    assert header_message_id(None) is None


def test_bad_arguments_are_refused() -> None:
    base: dict[str, Any] = {"name": "s", "host": "h", "username": "u", "password": "p"}
    with pytest.raises(ValueError, match="security"):
        ImapSource(**base, security="tls")
    with pytest.raises(ValueError, match="differ"):
        ImapSource(**base, processed_folder="INBOX")
    assert ImapSource(**base).port == 993 and ImapSource(**base, security="starttls").port == 143


# -- reading -----------------------------------------------------------------


def test_one_fetch_per_batch_in_ascending_order(dovecot: Server, make_source: MakeSource) -> None:
    uids = dovecot.append_many("INBOX", [message(n) for n in range(1, 13)])
    now = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
    source = make_source(batch_size=5, clock=lambda: now)
    batches = drain(source, DictLedger(), settle=False)
    source.close()

    assert [len(b) for b in batches] == [5, 5, 2]
    assert cases(batches) == list(range(1, 13))
    assert [raw.origin.uid for b in batches for raw in b] == uids
    assert all(raw.received_at == now for b in batches for raw in b)
    assert batches[0][0].data == message(1)
    assert batches[0][0].origin == Origin.imap("support", dovecot.uidvalidity("INBOX"), uids[0])
    # The server got exactly one FETCH of bodies per batch, naming the batch's UIDs.
    fetched = [re.search(BODY_FETCH, line).group(1) for line in dovecot.rawlog_commands(BODY_FETCH)]
    assert fetched == [",".join(str(raw.origin.uid) for raw in b) for b in batches]


def test_received_at_is_utc_by_default(dovecot: Server, make_source: MakeSource) -> None:
    dovecot.append("INBOX", message(1))
    (raw,) = drain(make_source(), DictLedger())[0]
    assert raw.received_at.utcoffset() is not None and raw.received_at.utcoffset().total_seconds() == 0


def test_batches_stay_under_batch_bytes(dovecot: Server, make_source: MakeSource) -> None:
    sizes = [1500, 1500, 1500, 9000, 1500, 1500]
    dovecot.append_many("INBOX", [message(n, size) for n, size in enumerate(sizes, 1)])
    source = make_source(batch_size=50, batch_bytes=4000)
    batches = drain(source, DictLedger(), settle=False)
    source.close()

    assert [cases([b]) for b in batches] == [[1, 2], [3], [4], [5, 6]]
    for batch in batches:
        assert len(batch) == 1 or sum(len(raw.data) for raw in batch) <= 4000
    assert len(dovecot.rawlog_commands(BODY_FETCH)) == len(batches)


def test_seen_set_by_another_client_hides_nothing(dovecot: Server, make_source: MakeSource) -> None:
    dovecot.append("INBOX", message(1), flags=[r"\Seen"])
    uid2 = dovecot.append("INBOX", message(2))
    uid3 = dovecot.append("INBOX", message(3))
    with dovecot.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uid2], [b"\\Seen"])
    assert cases(drain(make_source(), DictLedger(), settle=False)) == [1, 2, 3]
    assert r"\Seen" not in dovecot.flags("INBOX")[uid3]  # reading flags nothing


def test_highest_uid_below_the_ledger_is_not_new(dovecot: Server, make_source: MakeSource) -> None:
    dovecot.append_many("INBOX", [message(1), message(2), message(3)])
    ledger = DictLedger()
    ledger.set_uidvalidity("support", dovecot.uidvalidity("INBOX"))
    uid10 = Origin.imap("support", dovecot.uidvalidity("INBOX"), 10)
    ledger.commit(RawMessage(uid10, message(99), datetime.now(timezone.utc)))
    assert drain(make_source(), ledger, settle=False) == []
    assert dovecot.rawlog_commands(r"UID SEARCH UID 11:\*")  # answered with UID 3


def test_message_vanished_between_search_and_fetch(dovecot: Server, make_source: MakeSource) -> None:
    uids = dovecot.append_many("INBOX", [message(1), message(2), message(3)])
    batches = make_source(batch_size=1).batches(DictLedger())
    assert cases([list(next(batches))]) == [1]
    with dovecot.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uids[1]], [b"\\Deleted"])
        other.uid_expunge([uids[1]])
    assert cases([list(batch) for batch in batches]) == [3]


# -- settling ----------------------------------------------------------------


def test_settle_flags_seen_without_processed_folder(dovecot: Server, make_source: MakeSource) -> None:
    uids = dovecot.append_many("INBOX", [message(n) for n in range(1, 4)])
    source = make_source()
    ledger = DictLedger()
    assert cases(drain(source, ledger)) == [1, 2, 3]
    flags = dovecot.flags("INBOX")
    assert sorted(flags) == uids and all(r"\Seen" in flags[uid] for uid in uids)
    assert drain(source, ledger) == []
    assert ledger.unsettled("support") == []


def test_settle_moves_to_processed_and_quarantine(dovecot: Server, make_source: MakeSource) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(1, 5)])
    source = make_source(processed_folder="Done", quarantine_folder="Held")
    ledger = DictLedger()
    assert cases(drain(source, ledger, quarantine=[2])) == [1, 2, 3, 4]
    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids("Done")) == 3 and len(dovecot.uids("Held")) == 1
    assert dovecot.rawlog_commands(r"UID MOVE")
    assert not dovecot.rawlog_commands(r"^\S+ \S+ EXPUNGE")

    dovecot.append("INBOX", message(5))
    assert cases(drain(source, ledger)) == [5]
    assert len(dovecot.uids("Done")) == 4
    assert drain(source, ledger) == []


def test_settle_without_move_expunges_only_its_uids(make_dovecot: MakeServer,
                                                    make_source: MakeSource) -> None:
    server = make_dovecot(imap_capability=NO_MOVE_NO_IDLE)
    ours = server.append_many("INBOX", [message(1), message(2)])
    theirs = server.append("INBOX", message(3), flags=[r"\Deleted"])  # another client's
    source = make_source(server=server, processed_folder="Done")
    ledger = DictLedger()
    assert cases(drain(source, ledger, settle=False)) == [1, 2, 3]
    source.settle([s for s in ledger.unsettled("support") if s.origin.uid in ours])

    assert server.uids("INBOX") == [theirs]
    assert len(server.uids("Done")) == 2
    assert server.rawlog_commands(r"UID EXPUNGE")
    assert not server.rawlog_commands(r"^\S+ \S+ (EXPUNGE|CLOSE|UID MOVE)")


@pytest.mark.parametrize("processed", [None, "Done"])
def test_crash_before_settle_then_new_instance(dovecot: Server, make_source: MakeSource,
                                               processed: str | None) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(1, 5)])
    ledger = DictLedger()
    first = make_source(processed_folder=processed, batch_size=2)
    assert cases(drain(first, ledger, settle=False)) == [1, 2, 3, 4]
    dovecot.kill()  # the daemon dies with everything committed, nothing settled
    dovecot.start()

    second = make_source(processed_folder=processed)
    assert drain(second, ledger, settle=False) == []
    assert len(ledger.unsettled("support")) == 4
    settle_all(second, ledger)
    if processed:
        assert dovecot.uids("INBOX") == [] and len(dovecot.uids(processed)) == 4
    else:
        assert all(r"\Seen" in flags for flags in dovecot.flags("INBOX").values())
    assert len(ledger.stored) == 4 and ledger.duplicates == 0


# -- UIDVALIDITY ---------------------------------------------------------------


@pytest.mark.parametrize("new_mail", [True, False])
def test_new_uidvalidity_rescans_without_downloading_known_mail(
    dovecot: Server, make_source: MakeSource, new_mail: bool
) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(1, 4)])
    ledger = DictLedger()
    assert cases(drain(make_source(), ledger)) == [1, 2, 3]
    old = dovecot.uidvalidity("INBOX")
    dovecot.reset_uidvalidity("INBOX")  # same messages, UIDs from 1 again
    assert dovecot.uidvalidity("INBOX") != old
    if new_mail:
        dovecot.append("INBOX", message(4))

    source = make_source()
    batches = drain(source, ledger)
    assert ledger.uidvalidity("support") == dovecot.uidvalidity("INBOX")
    # Known Message-IDs are not downloaded; the highest UID always is, so that
    # the ledger's highest UID passes the skipped ones.
    assert cases(batches) == ([4] if new_mail else [3])
    assert dovecot.rawlog_commands(r"BODY\.PEEK\[HEADER\.FIELDS \(MESSAGE-ID\)\]")
    assert len(ledger.stored) == (4 if new_mail else 3)
    assert drain(source, ledger) == []
    assert drain(make_source(), ledger) == []


def test_recreated_folder_yields_unsettled_mail_again(dovecot: Server,
                                                      make_source: MakeSource) -> None:
    dovecot.append_many("Support", [message(1), message(2)])
    ledger = DictLedger()
    first = make_source(folder="Support", processed_folder="Done")
    assert cases(drain(first, ledger, settle=False)) == [1, 2]  # then a crash
    first.close()
    dovecot.delete_folder("Support")
    dovecot.append_many("Support", [message(1), message(2), message(3)])  # new UIDVALIDITY

    source = make_source(folder="Support", processed_folder="Done")
    settle_all(source, ledger)  # the old receipts are void: nothing moves
    assert len(dovecot.uids("Support")) == 3
    assert cases(drain(source, ledger)) == [1, 2, 3]
    assert ledger.duplicates == 2 and len(ledger.stored) == 3
    assert dovecot.uids("Support") == [] and len(dovecot.uids("Done")) == 3


# -- failures ----------------------------------------------------------------


def test_connection_lost_during_fetch_then_reconnect_yields_again(
    dovecot: Server, make_source: MakeSource
) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(1, 5)])
    ledger = DictLedger()
    source = make_source(batch_size=2)
    batches = source.batches(ledger)
    assert cases([list(next(batches))]) == [1, 2]  # fetched, never committed
    dovecot.freeze_sessions()
    outcome: dict[str, Any] = {}

    def fetch_next() -> None:
        try:
            outcome["batch"] = next(batches)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=fetch_next, daemon=True)
    thread.start()
    eventually(lambda: dovecot.unread_bytes() > 0, "the FETCH to reach the frozen server")
    dovecot.kill()  # the connection drops with the FETCH unanswered
    thread.join(10)
    assert "batch" not in outcome
    assert isinstance(outcome["error"], MailboxError)
    failure = r"'support' on 127\.0\.0\.1:\d+: fetch of 2 message\(s\) failed"
    assert re.search(failure, str(outcome["error"]))
    with pytest.raises(MailboxError, match="not connected"):
        source.settle([])
    source.close()

    dovecot.start()
    source.connect()
    assert cases(drain(source, ledger)) == [1, 2, 3, 4]
    assert len(ledger.stored) == 4


def test_close_tolerates_a_dead_connection(dovecot: Server, make_source: MakeSource) -> None:
    source = make_source()
    dovecot.kill()
    source.close()
    source.close()


def test_connect_errors_are_mailbox_errors(dovecot: Server, make_source: MakeSource) -> None:
    with pytest.raises(MailboxError, match=r"'support' on 127\.0\.0\.1.*connect"):
        make_source(password="wrong")
    with pytest.raises(MailboxError, match="STARTTLS"):
        make_source(security="starttls")  # never falls back to plain text
    dovecot.kill()
    with pytest.raises(MailboxError, match=r"127\.0\.0\.1"):
        make_source()


# -- waiting -----------------------------------------------------------------


def test_idle_wakes_on_append_from_another_client(dovecot: Server, make_source: MakeSource) -> None:
    source = make_source()
    ledger = DictLedger()
    assert drain(source, ledger) == []
    thread, result = wait_in_thread(source, threading.Event(), timeout=30)
    eventually(idling(dovecot), "the source to IDLE")
    dovecot.append("INBOX", message(1))
    thread.join(10)
    assert not thread.is_alive() and "error" not in result
    assert result["elapsed"] < 5
    assert dovecot.rawlog_commands(r"^\S+ DONE$")
    assert cases(drain(source, ledger)) == [1]


def test_wait_returns_at_once_when_mail_came_first(dovecot: Server, make_source: MakeSource) -> None:
    source = make_source()
    assert drain(source, DictLedger()) == []
    dovecot.append("INBOX", message(1))
    started = time.monotonic()
    source.wait(threading.Event(), timeout=30)
    assert time.monotonic() - started < 2
    assert not idling(dovecot)()


def test_stop_ends_idle_promptly(dovecot: Server, make_source: MakeSource) -> None:
    source = make_source()
    stop = threading.Event()
    thread, result = wait_in_thread(source, stop, timeout=60)
    eventually(idling(dovecot), "the source to IDLE")
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and "error" not in result
    assert result["elapsed"] < 3
    assert drain(source, DictLedger()) == []  # the connection is usable after IDLE


def test_wait_times_out(dovecot: Server, make_source: MakeSource) -> None:
    source = make_source()
    started = time.monotonic()
    source.wait(threading.Event(), timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 3


def test_polling_wait_honours_stop_and_timeout(make_dovecot: MakeServer,
                                               make_source: MakeSource) -> None:
    server = make_dovecot(imap_capability=NO_MOVE_NO_IDLE)
    source = make_source(server=server, poll_seconds=60)
    stop = threading.Event()
    thread, result = wait_in_thread(source, stop, timeout=60)
    eventually(thread.is_alive, "the waiting thread")
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and result["elapsed"] < 3
    started = time.monotonic()
    source.wait(threading.Event(), timeout=0.2)
    assert 0.15 <= time.monotonic() - started < 2
    assert not idling(server)()


def test_dead_connection_during_idle_raises(dovecot: Server, make_source: MakeSource) -> None:
    source = make_source()
    thread, result = wait_in_thread(source, threading.Event(), timeout=60)
    eventually(idling(dovecot), "the source to IDLE")
    dovecot.kill()
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(result.get("error"), MailboxError)
    assert result["elapsed"] < 5


# -- reconciliation ----------------------------------------------------------


def test_reconcile_counts_waiting_mail_and_names_what_was_looked_past(dovecot: Server,
                                                                     make_source: MakeSource) -> None:
    uids = dovecot.append_many("INBOX", [message(n) for n in range(1, 4)])
    ledger, source = DictLedger(), make_source()
    drain(source, ledger)
    assert source.reconcile(ledger) == Reconciliation(on_server=3, waiting=0, uidvalidity=source.uidvalidity)
    dovecot.append("INBOX", message(4))  # arrived after the last look: waiting, not missing
    assert source.reconcile(ledger).waiting == 1
    lost = Origin.imap("support", source.uidvalidity or 0, uids[1])
    del ledger.receipts[("support", lost.ref)]
    ledger.message_ids.discard("case2@customer.example")
    assert source.reconcile(ledger) == Reconciliation(on_server=4, waiting=1, missing=(lost.ref,),
                                                      uidvalidity=source.uidvalidity)


def test_after_a_rescan_mail_known_by_message_id_is_stored_and_checked_once(dovecot: Server,
                                                                            make_source: MakeSource) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(1, 4)])
    ledger = DictLedger()
    drain(make_source(), ledger)
    dovecot.reset_uidvalidity("INBOX")
    source = make_source()
    drain(source, ledger)  # the rescan downloads only the highest UID; the others have no receipt
    header_fetches = len(dovecot.rawlog_commands(r"BODY\.PEEK\[HEADER\.FIELDS \(MESSAGE-ID\)\]"))
    assert source.reconcile(ledger).missing == ()
    assert len(dovecot.rawlog_commands(r"BODY\.PEEK\[HEADER\.FIELDS \(MESSAGE-ID\)\]")) == header_fetches + 1
    assert source.reconcile(ledger).missing == ()
    assert len(dovecot.rawlog_commands(r"BODY\.PEEK\[HEADER\.FIELDS \(MESSAGE-ID\)\]")) == header_fetches + 1
