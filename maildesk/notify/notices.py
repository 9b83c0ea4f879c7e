"""The notices after the first one: status, resolution, relay, escalation and receipt, each to the right people."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from maildesk.models import Address, StoredAttachment
from maildesk.notify.notifier import CUSTOMER_ROLE, Notifier, Parent, agent_role, agents_of, ticket_context
from maildesk.stage import Context

log = logging.getLogger("maildesk.notify")


@dataclass(frozen=True)
class Handover:
    """What the receiving tier learns about an escalated ticket."""

    from_tier: str
    to_tier: str
    reason: str
    tried: str
    time_in_tier: timedelta


@dataclass(frozen=True)
class CommandResults:
    """What became of the commands in one agent's message, one line each."""

    done: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()  # what #queue, #show and #file asked for, a text block each


class Notices:
    """Queues the notices that agents' commands and the clock cause, in the caller's transaction.

    Customer notices go to the requester and the people in copy, never to agents or the desk;
    automatic ones skip undeliverable addresses and respect the daily limit. Each call returns
    the outbox ids it queued.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.notifier = Notifier(ctx)

    def status_change(self, ticket_id: int, *, old: str, new: str) -> list[int]:
        return self._to_customers("status", ticket_id, {"old_status": old, "new_status": new})

    def resolution(self, ticket_id: int, *, summary: str) -> list[int]:
        return self._to_customers("resolution", ticket_id, {"resolution": summary})

    def relay(self, ticket_id: int, *, agent_name: str, text: str, parent: Parent | None = None,
              files: Sequence[StoredAttachment] = ()) -> list[int]:
        """An agent's words and files to the customers, from the desk address, with the agent's name only."""
        message = {"sender": "", "sender_name": agent_name, "date": self.ctx.desk.clock().isoformat(),
                   "subject": "", "new_text": text}
        return self._to_customers("relay", ticket_id, {"agent_name": agent_name, "message": message},
                                  parent=parent, files=files)

    def escalation(self, ticket_id: int, *, handover: Handover) -> list[int]:
        """The receiving tier's agents each get the ticket's full story with their own reply address."""
        tier = next((t for t in self.ctx.desk.config.tiers if t.name == handover.to_tier), None)
        context = {**ticket_context(self.ctx, ticket_id), "handover": asdict(handover),
                   "history": self.ctx.store.tickets.history(ticket_id)}
        queued, files = [], self.ctx.store.attachments.of_ticket(ticket_id)
        for agent in tier.agents if tier else ():
            if why_not := self.notifier.may_auto_answer(agent, capped=False):
                log.warning("ticket %s: no escalation notice to %s (%s)", ticket_id, agent, why_not)
                continue
            queued.append(self.notifier.queue(kind="escalation", ticket_id=ticket_id, to=Address(agent),
                                              role=agent_role(agent), context=context, parent=self._parent(ticket_id),
                                              files=files))
        return [q for q in queued if q is not None]

    def receipt(self, ticket_id: int, *, agent: Address, results: CommandResults, parent: Parent,
                files: Sequence[StoredAttachment] = ()) -> int | None:
        """One receipt to the agent whose message carried commands: done, failed, ignored, the answers
        to their questions and the files those carry."""
        if why_not := self.notifier.may_auto_answer(agent.addr, capped=False):
            log.warning("ticket %s: no receipt to %s (%s)", ticket_id, agent.addr, why_not)
            return None
        context = {**ticket_context(self.ctx, ticket_id), "results": asdict(results)}
        return self.notifier.queue(kind="receipt", ticket_id=ticket_id, to=agent, role=agent_role(agent.addr),
                                   context=context, parent=parent, files=files, asked=True)

    def forward(self, ticket_id: int, *, to: list[str], message: dict[str, Any],
                files: Sequence[StoredAttachment] = ()) -> list[int]:
        """A vendor's reply, with its files, to the agents who handle the ticket; never to a customer."""
        context = {**ticket_context(self.ctx, ticket_id), "message": message}
        queued = [self.notifier.queue(kind="forward", ticket_id=ticket_id, to=Address(agent), role=agent_role(agent),
                                      context=context, files=files) for agent in to]
        return [q for q in queued if q is not None]

    def customers(self, ticket_id: int) -> list[Address]:
        """The requester and the people in copy, without agents or the desk itself."""
        staff = agents_of(self.ctx) | {self.ctx.desk.address.lower()}
        return [p for p in self.ctx.store.tickets.participants(ticket_id) if p.addr.lower() not in staff]

    def _to_customers(self, kind: str, ticket_id: int, extra: dict[str, Any], *,
                      parent: Parent | None = None, files: Sequence[StoredAttachment] = ()) -> list[int]:
        automatic = kind != "relay"
        context = {**ticket_context(self.ctx, ticket_id), **extra}
        queued = []
        for person in self.customers(ticket_id):
            if automatic and (why_not := self.notifier.may_auto_answer(person.addr)):
                log.info("ticket %s: no %s notice to %s (%s)", ticket_id, kind, person.addr, why_not)
                continue
            queued.append(self.notifier.queue(kind=kind, ticket_id=ticket_id, to=person, role=CUSTOMER_ROLE,
                                              context=context, parent=parent or self._seen(ticket_id, person),
                                              files=files))
        return [q for q in queued if q is not None]

    def _seen(self, ticket_id: int, person: Address) -> Parent:
        """Answer the latest mail this person has had about the ticket, so their client keeps one
        thread; never an agent's internal mail, which they never received."""
        first, latest = self.ctx.store.tickets.seen_by(ticket_id, person.addr)
        if latest is None:  # someone in copy: they were sent the request itself, if anything
            requester = self.ctx.store.tickets.summary(ticket_id).get("requester")
            if requester and requester != person.addr:
                return Parent(self.ctx.store.tickets.seen_by(ticket_id, str(requester))[0])
        return Parent(latest, (first,) if first and first != latest else ())

    def _parent(self, ticket_id: int) -> Parent:
        """Answer the ticket's latest message, referencing its first, so clients keep one thread."""
        first, latest = self.ctx.store.tickets.thread_ends(ticket_id)
        return Parent(latest, (first,) if first and first != latest else ())
