"""Who a message makes a participant of its ticket: the requester and the people they copy, never a stranger."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from maildesk.models import Address, ParsedMessage

#: How the sender of a message stands to its ticket.
REQUESTER, CC, AGENT, STRANGER = "requester", "cc", "agent", "stranger"


@dataclass(frozen=True)
class People:
    """What recording one message does to the ticket's participants."""

    standing: str  # REQUESTER, CC, AGENT or STRANGER
    add_requester: tuple[Address, ...] = ()
    add_cc: tuple[Address, ...] = ()


def is_desk_address(address: str, desk_address: str) -> bool:
    """The desk's own address or any plus-address of it (its reply tokens among them)."""
    desk_local, _, desk_domain = desk_address.lower().partition("@")
    local, _, domain = address.lower().rpartition("@")
    return domain == desk_domain and (local == desk_local or local.startswith(desk_local + "+"))


def people_of(parsed: ParsedMessage, *, new_ticket: bool, role_of: Callable[[str], str | None],
              agents: Collection[str], desk_address: str, by_customer_token: bool) -> People:
    """Who the message adds. A new ticket's sender is its requester and everyone else on To/Cc is in
    copy. On an existing ticket only the requester adds people, and only by writing to the ticket's
    reply address (which only those we wrote to have); agents add people with ``#cc``. Anyone who is
    neither a participant nor an agent is a stranger: stored, never added, never answered."""
    sender = parsed.sender if parsed.sender and not is_desk_address(parsed.sender.addr, desk_address) else None
    others = tuple(dict.fromkeys(a for a in parsed.to + parsed.cc
                                 if not is_desk_address(a.addr, desk_address) and a != sender
                                 and a.addr.lower() not in agents))
    if new_ticket:
        return People(REQUESTER, (sender,) if sender else (), others)
    if sender is None:
        return People(STRANGER)
    if sender.addr.lower() in agents:
        return People(AGENT)
    role = role_of(sender.addr)
    if role == REQUESTER:
        return People(REQUESTER, add_cc=others if by_customer_token else ())
    return People(CC) if role is not None else People(STRANGER)
