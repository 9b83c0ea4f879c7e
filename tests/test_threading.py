"""Threading: replies that arrive before their parents, In-Reply-To-only chains and patch series end in one ticket."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from desktools import harness
from mailfactory import make_message, message_id_of
from maildesk.intake.thread import decide, waiting
from maildesk.models import Address, ParsedMessage
from maildesk.store import views
from threadmail import SETS, Mail


@dataclass
class Index:
    """A ThreadIndex over plain dicts."""

    refs: dict[str, int] = field(default_factory=dict)  # message-id -> ticket of a stored or referenced message
    waiting: dict[str, list[int]] = field(default_factory=dict)  # message-id -> tickets naming it as a parent

    def exists(self, ticket_id: int) -> bool:
        return True

    def current(self, ticket_id: int) -> int:
        return ticket_id

    def tickets_for_refs(self, refs):
        return {r: self.refs[r] for r in refs if r in self.refs}

    def is_participant(self, ticket_id: int, address: str) -> bool:
        return False

    def tickets_waiting_for(self, message_id: str) -> list[int]:
        return self.waiting.get(message_id, [])


def parsed(message_id: str | None, in_reply_to: tuple[str, ...] = ()) -> ParsedMessage:
    return ParsedMessage(
        message_id=message_id, subject="Re: build", sender=Address("x@example.org"), reply_to=(),
        to=(Address("support@example.test"),), cc=(), envelope_to=(), date=None, in_reply_to=in_reply_to,
        references=(), body_text="", body_html=None, attachments=(), headers=())


@pytest.mark.parametrize("msg, index, ticket, joins", [
    # the parent is in ticket 1; replies to this message opened 2 and 3 before it came
    (parsed("m", ("p",)), Index({"p": 1}, {"m": [2, 3]}), 1, (2, 3)),
    (parsed("m", ("p",)), Index({"p": 1}, {"m": [1, 2, 2]}), 1, (2,)),  # its own ticket and repeats drop out
    (parsed("m", ("p",)), Index({"p": 1}), 1, ()),  # nothing waits for it
    (parsed("m"), Index({"m": 2}, {"m": [2, 3]}), 2, (3,)),  # a new thread's root: the first early reply hosts
    (parsed(None, ("p",)), Index({"p": 1}, {"": [2]}), 1, ()),  # no Message-ID: nothing can name it
    (parsed("m"), Index(), None, ()),  # a new ticket with nothing waiting
])
def test_decide_names_the_tickets_that_early_replies_opened(msg, index, ticket, joins):
    decision = decide(msg, secret=b"k" * 32, desk_address="support@example.test", index=index)
    assert (decision.ticket_id, decision.joins) == (ticket, joins)
    assert waiting(msg, None, index=index) == ()  # a message that opens a ticket joins nothing


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path)


def tickets_of(h) -> dict[str, int]:
    rows = h.store.db.execute("SELECT message_id, ticket_id FROM messages").fetchall()
    return {mid: t for mid, t in rows}


def test_an_in_reply_to_only_chain_delivered_backwards_is_one_ticket(h):
    a = make_message(sender="ann@customer.example", subject="Build failure")
    b = make_message(sender="bob@customer.example", subject="RE: Build failure", in_reply_to=message_id_of(a))
    c = make_message(sender="cat@customer.example", subject="AW: Build failure", in_reply_to=message_id_of(b))
    d = make_message(sender="dan@customer.example", subject="SV: Build failure", in_reply_to=message_id_of(c))
    outs = [h.take(m) for m in (d, c, a, b)]  # the leaf first, the link between the halves last
    assert [o.new_ticket for o in outs] == [True, False, True, False]
    assert len(set(tickets_of(h).values())) == 1
    (ticket,) = set(tickets_of(h).values())
    assert ticket == outs[2].ticket_id  # the root's ticket holds them all
    t = views.show_ticket(h.store.db, ticket)
    assert {p["address"] for p in t["participants"]} == {"ann@customer.example"}
    assert views.show_ticket(h.store.db, outs[0].ticket_id)["status"] == "closed"


def test_a_worked_ticket_is_not_joined(h):
    a = make_message(sender="ann@customer.example", subject="Build failure")
    b = make_message(sender="bob@customer.example", subject="RE: Build failure", in_reply_to=message_id_of(a))
    h.take(a)
    early = h.take(make_message(sender="cat@customer.example", subject="RE: Build failure",
                                in_reply_to=message_id_of(b)))
    h.store.db.execute("UPDATE tickets SET assignee = 'alice@example.test' WHERE id = ?", [early.ticket_id])
    h.take(b)
    assert tickets_of(h)[message_id_of(b).strip("<>")] != early.ticket_id
    assert views.show_ticket(h.store.db, early.ticket_id)["status"] != "closed"
    assert len(views.show_ticket(h.store.db, early.ticket_id)["messages"]) == 1


def components(mails: list[Mail]) -> dict[str, str]:
    """Each message's thread root, following In-Reply-To and References (what a mail reader groups)."""
    parent = {m.message_id: m.message_id for m in mails}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for m in mails:
        for other in [m.in_reply_to, *m.references]:
            if other:
                parent[root(other)] = root(m.message_id)
    return {m.message_id: root(m.message_id) for m in mails}


@pytest.mark.parametrize("name", sorted(SETS))
def test_generated_list_mail_groups_exactly_as_its_reply_links(tmp_path, name):
    mails = SETS[name](count=25, seed=3, late=0.3)
    h = harness(tmp_path)
    for i, m in enumerate(mails):
        assert h.take(m.as_bytes(), ref=str(i)).status == "stored"
    got, want = tickets_of(h), components(mails)
    pairs = Counter((want[mid], got[mid]) for mid in want)
    assert len(set(got.values())) == len(set(want.values()))
    assert all(n == 1 for n in Counter(w for w, _ in pairs).values())  # no thread split over two tickets
    assert all(n == 1 for n in Counter(g for _, g in pairs).values())  # no ticket holding two threads
