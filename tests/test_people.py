"""Who a message adds to its ticket, table-driven over the sender's standing and how the mail came."""

from __future__ import annotations

import pytest

from maildesk.intake.people import AGENT, CC, REQUESTER, STRANGER, is_desk_address, people_of
from maildesk.models import Address, ParsedMessage

DESK = "support@example.test"
ROLES = {"dana@customer.example": "requester", "colin@customer.example": "cc"}
AGENTS = frozenset({"alice@example.test"})


def msg(sender: str | None, *, cc: tuple[str, ...] = ()) -> ParsedMessage:
    return ParsedMessage(message_id="m@x", subject="s", sender=Address(sender) if sender else None, reply_to=(),
                         to=(Address(DESK), Address("support+7-c-abcdefghijklmnopqrst@example.test")),
                         cc=tuple(Address(a) for a in cc), envelope_to=(), date=None, in_reply_to=(),
                         references=(), body_text="", body_html=None, attachments=(), headers=())


CASES = [
    # sender, cc, new ticket, by customer token -> standing, requester added, cc added
    ("dana@customer.example", ("eve@x.example",), True, False, REQUESTER, ["dana@customer.example"],
     ["eve@x.example"]),
    ("dana@customer.example", ("eve@x.example", "alice@example.test"), True, False, REQUESTER,
     ["dana@customer.example"], ["eve@x.example"]),  # an agent in copy is staff, not a participant
    ("dana@customer.example", ("frank@customer.example",), False, True, REQUESTER, [], ["frank@customer.example"]),
    ("dana@customer.example", ("eve@x.example",), False, False, REQUESTER, [], []),  # From alone proves nothing
    ("Dana@Customer.Example", ("eve@x.example",), False, False, REQUESTER, [], []),
    ("colin@customer.example", ("eve@x.example",), False, True, CC, [], []),
    ("alice@example.test", ("eve@x.example",), False, True, AGENT, [], []),
    ("mallory@evil.example", ("eve@x.example",), False, True, STRANGER, [], []),
    ("mallory@evil.example", (), False, False, STRANGER, [], []),
    (None, ("eve@x.example",), False, False, STRANGER, [], []),
]


@pytest.mark.parametrize("sender,cc,new,token,standing,requester,copied", CASES)
def test_people_of(sender, cc, new, token, standing, requester, copied):
    people = people_of(msg(sender, cc=cc), new_ticket=new, agents=AGENTS, desk_address=DESK,
                       by_customer_token=token, role_of=lambda a: ROLES.get(a.lower()))
    assert people.standing == standing
    assert [a.addr.lower() for a in people.add_requester] == requester
    assert [a.addr for a in people.add_cc] == copied


@pytest.mark.parametrize("address,desk", [
    ("support@example.test", True), ("SUPPORT@Example.Test", True), ("support+1-c-x@example.test", True),
    ("support@other.example", False), ("supportx@example.test", False), ("x-support@example.test", False),
])
def test_is_desk_address(address, desk):
    assert is_desk_address(address, DESK) is desk
