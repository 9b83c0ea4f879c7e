"""Decide which ticket a message belongs to: token, then references, then a participant's subject tag."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from maildesk.models import ParsedMessage, ThreadDecision
from maildesk.tokens import tokens_in, verify_token

SUBJECT_TAG = re.compile(r"\[#(\d{1,12})\]")


class ThreadIndex(Protocol):
    """The look-ups threading needs; the store implements them."""

    def exists(self, ticket_id: int) -> bool: ...

    def current(self, ticket_id: int) -> int: ...

    def tickets_for_refs(self, refs: Sequence[str]) -> dict[str, int]: ...

    def is_participant(self, ticket_id: int, address: str) -> bool: ...

    def tickets_waiting_for(self, message_id: str) -> list[int]: ...


def by_token(msg: ParsedMessage, *, secret: bytes, desk_address: str, index: ThreadIndex) -> ThreadDecision | None:
    for token in tokens_in(msg.recipients, desk_address):
        claim = verify_token(secret, token)
        if claim and index.exists(claim.ticket_id):
            ticket_id = index.current(claim.ticket_id)
            merged = f", ticket #{claim.ticket_id} merged into #{ticket_id}" if ticket_id != claim.ticket_id else ""
            return ThreadDecision(ticket_id, "token", f"reply token ({claim.role}){merged}", role=claim.role)
    return None


def by_references(msg: ParsedMessage, *, index: ThreadIndex) -> ThreadDecision | None:
    """In-Reply-To first, then References newest first, then a reply that arrived before this message."""
    candidates = [("in-reply-to", r) for r in msg.in_reply_to]
    candidates += [("references", r) for r in reversed(msg.references)]
    if msg.message_id:  # a reply to this message was stored first (mail does arrive out of order)
        candidates.append(("references", msg.message_id))
    found = index.tickets_for_refs(list(dict.fromkeys(r for _, r in candidates)))
    for reason, ref in candidates:
        if ref in found:
            return ThreadDecision(found[ref], reason, f"<{ref}>")  # type: ignore[arg-type]
    return None


def by_subject_tag(msg: ParsedMessage, *, index: ThreadIndex) -> ThreadDecision | None:
    """``[#123]`` counts only when the sender already takes part in ticket 123."""
    if msg.sender is None:
        return None
    for match in SUBJECT_TAG.finditer(msg.subject):
        ticket_id = index.current(int(match.group(1)))
        if index.is_participant(ticket_id, msg.sender.addr):
            return ThreadDecision(ticket_id, "subject-tag", match.group(0))
    return None


def waiting(msg: ParsedMessage, ticket_id: int | None, *, index: ThreadIndex) -> tuple[int, ...]:
    """Other tickets that replies to this message opened because they arrived before it.

    Threads that a late parent ties together become one, as a mail reader shows them; whether a
    ticket may still be joined (nobody has worked it) is the store's to say.
    """
    if ticket_id is None or not msg.message_id:
        return ()
    return tuple(t for t in dict.fromkeys(index.tickets_waiting_for(msg.message_id)) if t != ticket_id)


def decide(msg: ParsedMessage, *, secret: bytes, desk_address: str, index: ThreadIndex) -> ThreadDecision:
    """The first rule that finds a ticket wins; otherwise the message starts a new one."""
    decision = (
        by_token(msg, secret=secret, desk_address=desk_address, index=index)
        or by_references(msg, index=index)
        or by_subject_tag(msg, index=index)
        or ThreadDecision(None, "new")
    )
    joins = waiting(msg, decision.ticket_id, index=index)
    return replace(decision, joins=joins) if joins else decision
