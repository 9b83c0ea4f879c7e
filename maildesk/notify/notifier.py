"""Queue one notice: render its template, compose it, and write it to the outbox in the caller's transaction."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from maildesk.errors import MaildeskError
from maildesk.models import Address, ParsedMessage, StoredAttachment
from maildesk.notify.compose import AUTO_SUBMITTED, Outgoing, compose, envelope, new_message_id, to_bytes
from maildesk.notify.files import Selection, file_limit, select
from maildesk.notify.render import NOTICE_VARIABLES, Templates
from maildesk.stage import Context
from maildesk.tokens import make_token, reply_address

log = logging.getLogger("maildesk.notify")

DAY = timedelta(days=1)
CUSTOMER_ROLE = "c"  # the token role of every customer-side reply address


@dataclass(frozen=True)
class Parent:
    """The message a notice answers: its Message-ID and References keep mail clients threading."""

    message_id: str | None = None
    references: tuple[str, ...] = ()

    @classmethod
    def of(cls, parsed: ParsedMessage) -> Parent:
        return cls(parsed.message_id, parsed.references)


@lru_cache(maxsize=8)
def templates_for(override_dir: Path | None) -> Templates:
    """One template environment per override directory: compiled templates are kept, not rebuilt."""
    return Templates(override_dir=override_dir)


def agent_role(agent: str) -> str:
    """The token role of an agent: ties a reply address to one agent without naming them."""
    return "a" + hashlib.sha256(agent.lower().encode()).hexdigest()[:10]


def agents_of(ctx: Context) -> frozenset[str]:
    """Every configured agent, of every tier (a vendor's contacts included)."""
    return frozenset(a for tier in ctx.desk.config.tiers for a in tier.agents)


def staff_of(ctx: Context) -> frozenset[str]:
    """The desk's own agents: those of tiers that are not an outside vendor."""
    return frozenset(a for tier in ctx.desk.config.tiers if not tier.vendor for a in tier.agents)


def vendors_of(ctx: Context) -> frozenset[str]:
    return agents_of(ctx) - staff_of(ctx)


class Notifier:
    """Builds and queues notices for one desk; shared by the notify steps and the later notices."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def templates(self) -> Templates:
        return templates_for(self.ctx.desk.config.notify.templates_dir)

    def may_auto_answer(self, address: str, *, capped: bool = True) -> str | None:
        """Why no automatic mail may go to this address now, or None when it may.

        Agents' mail is not ``capped`` by the daily limit; a suppressed address gets nothing.
        """
        outbound, store = self.ctx.desk.config.outbound, self.ctx.store
        assert outbound is not None
        if (reason := store.outbox.suppressed(address)) is not None:
            return f"undeliverable: {reason}"
        if not capped:
            return None
        sent = store.outbox.automatic_since(address, self.ctx.desk.clock() - DAY)
        if sent >= outbound.daily_auto_limit:
            return f"daily limit of {outbound.daily_auto_limit} automatic messages reached"
        return None

    def queue(self, *, kind: str, ticket_id: int, to: Address, role: str, context: Mapping[str, Any],
              parent: Parent = Parent(), template: str | None = None,
              files: Sequence[StoredAttachment] = (), asked: bool = False) -> int | None:
        """Queue one notice (from the ``template`` family in place of ``kind``'s own files, when given),
        carrying those ``files`` this recipient has not had yet, within the limits; a broken template
        or address is logged on the ticket, never fatal. Files ``asked`` for go again, up to the
        message size limit rather than the notices' attachment limit."""
        try:
            return self._queue(kind=kind, ticket_id=ticket_id, to=to, role=role, context=context, parent=parent,
                               template=template, files=files, asked=asked)
        except MaildeskError as exc:
            log.error("ticket %s: %s notice to %s not queued: %s", ticket_id, kind, to.addr, exc)
            self.ctx.store.tickets.event(ticket_id, at=self.ctx.desk.clock(), actor="system", kind="notice-failed",
                                         detail={"notice": kind, "to": to.addr, "error": str(exc)[:500]})
            return None

    def _queue(self, *, kind: str, ticket_id: int, to: Address, role: str, context: Mapping[str, Any],
               parent: Parent, template: str | None, files: Sequence[StoredAttachment], asked: bool) -> int:
        desk, store = self.ctx.desk, self.ctx.store
        outbound = desk.config.outbound
        assert outbound is not None
        token_address = reply_address(desk.address, make_token(desk.secret, ticket_id, role))
        chosen = self._files(ticket_id, to, files, asked=asked)
        listing = ({"files": [asdict(f) for f in chosen.listed], "files_unlisted": chosen.unlisted}
                   if "files" in NOTICE_VARIABLES.get(kind, ()) else {})
        rendered = self.templates.render(kind, {**context, "reply_address": token_address,
                                                "recipient": {"address": to.addr, "name": to.name}, **listing},
                                         family=template)
        auto_submitted = AUTO_SUBMITTED.get(kind, "auto-generated")
        out = Outgoing(
            ticket_id=ticket_id, kind=kind, to=to, subject=rendered.subject, text=rendered.text, html=rendered.html,
            message_id=new_message_id(desk.config.desk.domain, ticket_id), in_reply_to=parent.message_id,
            references=parent.references, reply_to=token_address, auto_submitted=auto_submitted,
            files=chosen.attached)
        msg = compose(out, sender=outbound.sender, loop_id=desk.loop_id, clock=desk.clock)
        env_from, _, smtputf8 = envelope(out, outbound.sender)
        store.tickets.add_sent_ref(ticket_id, out.message_id)
        store.attachments.mark_sent(ticket_id, to.addr, chosen.digests, at=desk.clock())
        return store.outbox.enqueue(
            ticket_id=ticket_id, kind=kind, recipient=to.addr, message_id=out.message_id, envelope_from=env_from,
            data=to_bytes(msg, smtputf8=smtputf8), smtputf8=smtputf8, automatic=bool(auto_submitted),
            now=desk.clock())


    def _files(self, ticket_id: int, to: Address, files: Sequence[StoredAttachment], *, asked: bool) -> Selection:
        if not files:
            return NO_FILES
        config = self.ctx.desk.config
        sent = frozenset() if asked else self.ctx.store.attachments.sent_to(ticket_id, to.addr)
        return select(files, data_dir=self.ctx.desk.data_dir, sent=sent, limit=file_limit(config, asked=asked),
                      never=config.notify.attach_never)


NO_FILES = Selection((), (), 0, ())


def ticket_context(ctx: Context, ticket_id: int, *, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The variables every notice about a ticket gets: the desk, the ticket (its ``summary``, when
    read already), the self-help links."""
    desk = ctx.desk.config.desk
    links = [{"title": t, "url": u} for t, u in ctx.desk.config.notify.help_links]
    return {"desk": {"name": desk.name, "address": desk.address},
            "ticket": summary if summary is not None else ctx.store.tickets.summary(ticket_id),
            "help_links": links, "articles": []}


SUGGESTIONS = 3  # published articles an acknowledgement or alert may suggest
EXCERPT = 160  # characters of an article's resolution shown with its title


def suggested_articles(ctx: Context, text: str) -> list[dict[str, Any]]:
    """Up to three published knowledge articles matching the text: titles and short excerpts only."""
    found = ctx.store.kb.search(text, limit=SUGGESTIONS, published_only=True)
    return [{"id": a.id, "title": a.title, "excerpt": _excerpt(a.resolution)} for a in found]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[:EXCERPT].rsplit(" ", 1)[0] + " …"


def message_context(parsed: ParsedMessage, new_text: str) -> dict[str, Any]:
    """A message as notices show it (alert, relay, escalation history)."""
    return {"sender": parsed.sender.addr if parsed.sender else "", "sender_name": parsed.sender.name
            if parsed.sender else "", "date": parsed.date.isoformat() if parsed.date else "",
            "subject": parsed.subject, "new_text": new_text}
