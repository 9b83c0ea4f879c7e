"""The intake steps: limits, parse, classify, dedupe, thread, screen and record."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from maildesk.errors import Duplicate, Quarantine
from maildesk.intake.classify import classify
from maildesk.intake.limits import check_raw, check_tree
from maildesk.intake.parse import parse_bytes, read_message
from maildesk.intake.people import STRANGER, People, people_of
from maildesk.intake.rating import parse_rating
from maildesk.intake.sniff import not_mail
from maildesk.intake.reply import extract_new_text
from maildesk.intake.thread import decide
from maildesk.models import ParsedMessage, StoredAttachment, ThreadDecision
from maildesk.stage import Context, Work
from maildesk.store.files import save_attachment
from maildesk.store.tickets import NewMessage

log = logging.getLogger("maildesk.intake")

NEW_STATUS = "new"
BOUNCE_WINDOW = timedelta(days=7)  # a report naming no message may be about notices this recent
UNROUTED_TIER = "L1"


class Sniff:
    """What is not an email at all (empty, a binary file) is held, never made a ticket."""

    name = "sniff"
    pure = True

    def process(self, work: Work, ctx: Context) -> Work:
        if why := not_mail(work.raw.data):
            raise Quarantine(f"not an email: {why}", kind="not-mail")
        return work


class CheckLimits:
    name = "limits"
    pure = True

    def process(self, work: Work, ctx: Context) -> Work:
        check_raw(work.raw.data, ctx.desk.config.limits)
        return work


class Parse:
    name = "parse"
    pure = True

    def process(self, work: Work, ctx: Context) -> Work:
        msg = parse_bytes(work.raw.data)
        check_tree(msg, ctx.desk.config.limits)
        parsed = read_message(msg)
        return work.but(email=msg, parsed=parsed, new_text=extract_new_text(parsed.body_text))


class Classify:
    name = "classify"
    pure = True

    def process(self, work: Work, ctx: Context) -> Work:
        assert work.email is not None
        return work.but(classification=classify(work.email, loop_id=ctx.desk.loop_id,
                                                 own_addresses=own_addresses(ctx)))


def own_addresses(ctx: Context) -> frozenset[str]:
    """The desk's address and its notices' From; their plus-addresses (reply tokens) are ours too."""
    outbound = ctx.desk.config.outbound
    return frozenset({ctx.desk.address.lower(), *([outbound.sender.addr.lower()] if outbound else [])})


class Dedupe:
    """One Message-ID is one message; without one, the same bytes are one message."""

    name = "dedupe"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        parsed = work.need_parsed()
        tickets = ctx.store.tickets
        if parsed.message_id:
            pk = tickets.message_by_id(parsed.message_id)
            why = f"Message-ID <{parsed.message_id}>"
        else:
            pk = tickets.message_by_hash(work.raw_hash)
            why = "same raw bytes"
        if pk is not None:
            raise Duplicate(pk, why)
        if (request := ctx.store.requests.known(message_id=parsed.message_id, raw_hash=work.raw_hash)) is not None:
            raise Duplicate(None, f"{why}, already taken as request {request}")
        return work


class Thread:
    name = "thread"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        decision = decide(work.need_parsed(), secret=ctx.desk.secret, desk_address=ctx.desk.address,
                          index=ctx.store.tickets)
        if decision.ticket_id is not None and (why := _finished(work, decision.ticket_id, ctx)):
            decision = ThreadDecision(None, "new", f"follow-up of #{decision.ticket_id}: it is {why}",
                                      follows=decision.ticket_id)
        return work.but(thread=decision, ticket_id=decision.ticket_id)


def _finished(work: Work, ticket_id: int, ctx: Context) -> str | None:
    """Why a person's new mail on this ticket starts a follow-up instead: the ticket is closed, or
    resolved longer ago than the reopen window. Agents' mail and machines' stay on the ticket."""
    c, sender = work.classification, work.need_parsed().sender
    if c is None or c.automatic or sender is None:
        return None
    if any(sender.addr in tier.agents for tier in ctx.desk.config.tiers) or parse_rating(work.new_text):
        return None  # an agent's mail, or a rating of the resolution, belongs on the ticket itself
    status = ctx.store.work.statuses([ticket_id]).get(ticket_id)
    if status == "closed":
        return "closed"
    if status == "resolved":
        since = ctx.store.work.status_since(ticket_id)
        window = timedelta(days=ctx.desk.config.tickets.reopen_window_days)
        if since is not None and ctx.desk.clock() - since > window:
            return f"resolved since {since:%Y-%m-%d}"
    return None


class Screen:
    """Machines never open tickets of their own: bounces, loops and stray auto-replies are held."""

    name = "screen"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        c = work.classification
        assert c is not None
        if c.kind == "loop":
            raise Quarantine(f"our own mail came back ({'; '.join(c.reasons)})", kind="loop", ticket_id=work.ticket_id)
        if c.kind in ("bounce", "feedback"):
            raise Quarantine(_bounce_reason(work), kind=c.kind, ticket_id=_reported_ticket(work, ctx),
                             undeliverable=_undeliverable(work, ctx))
        if work.ticket_id is None and not c.opens_ticket:
            raise Quarantine(f"{c.kind} that belongs to no ticket ({'; '.join(c.reasons)})", kind=c.kind)
        return work


def _reported_ticket(work: Work, ctx: Context) -> int | None:
    """The ticket of the message a delivery report is about, where it can be found."""
    c = work.classification
    original = c.bounce.original_message_id if c and c.bounce else None
    if work.ticket_id is not None or not original:
        return work.ticket_id
    return ctx.store.tickets.tickets_for_refs([original]).get(original)


def _undeliverable(work: Work, ctx: Context) -> tuple[str, ...]:
    """Addresses a permanent failure report proves unreachable: only ones we sent the reported notice
    (or, when the report names none, any notice lately), so a forged report cannot silence anyone else."""
    report = work.classification.bounce if work.classification else None
    if report is None or not report.permanent:
        return ()
    since = ctx.desk.clock() - BOUNCE_WINDOW
    addresses = dict.fromkeys(addr.lower() for addr in report.failed_recipients)  # stored lower-cased
    return tuple(addr for addr in addresses
                 if ctx.store.outbox.sent_to(addr, message_id=report.original_message_id, since=since))


def _bounce_reason(work: Work) -> str:
    c = work.classification
    assert c is not None
    report = c.bounce
    if report is None:
        return f"{c.kind} ({'; '.join(c.reasons)})"
    who = ", ".join(report.failed_recipients) or "unknown recipient"
    status = f" {report.status}" if report.status else ""
    return f"{c.kind}: {report.action or 'failed'}{status} for {who}"


class Record:
    """Store the message: a new ticket if threading found none, participants, refs, attachments.

    A stranger's mail (neither a participant nor an agent) is kept on the ticket, marked as such,
    and named in a security event; it adds nobody, so its sender never hears from the ticket.
    """

    name = "record"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        parsed, now = work.need_parsed(), ctx.desk.clock()
        tickets = ctx.store.tickets
        new = work.ticket_id is None
        ticket_id = work.ticket_id
        if ticket_id is None:
            ticket_id = tickets.create(subject=parsed.subject or "(no subject)",
                                       requester=parsed.sender.addr if parsed.sender else None,
                                       tier=UNROUTED_TIER, status=NEW_STATUS, priority="normal",
                                       mailbox=work.raw.origin.mailbox, now=now)
        people = _people(work, ctx, ticket_id, new)
        stored = tuple(save_attachment(ctx.desk.data_dir, a) for a in parsed.attachments)
        pk = tickets.add_message(_new_message(work, parsed, ticket_id, stored, now, people.standing))
        tickets.add_participants(ticket_id, people.add_requester, role="requester", now=now)
        tickets.add_participants(ticket_id, people.add_cc, role="cc", now=now)
        if people.standing == STRANGER:
            _stranger_event(work, ctx, ticket_id, pk)
        if work.thread is not None and not new:
            _join_waiting(ctx, ticket_id, work.thread.joins)
        if new and work.thread is not None and work.thread.follows is not None:
            ctx.store.work.link(ticket_id, work.thread.follows, kind="follow-up", at=now)
            ctx.store.work.event(ticket_id, actor="system", kind="follow-up", at=now, new=str(work.thread.follows),
                                 detail={"follows": work.thread.follows})
        return work.but(ticket_id=ticket_id, message_pk=pk, new_ticket=new, stranger=people.standing == STRANGER)


def _people(work: Work, ctx: Context, ticket_id: int, new: bool) -> People:
    thread = work.thread
    agents = frozenset(a.lower() for tier in ctx.desk.config.tiers for a in tier.agents)
    return people_of(work.need_parsed(), new_ticket=new, agents=agents, desk_address=ctx.desk.address,
                     role_of=lambda addr: ctx.store.tickets.participant_role(ticket_id, addr),
                     by_customer_token=thread is not None and thread.reason == "token" and thread.role == "c")


def _join_waiting(ctx: Context, ticket_id: int, joins: tuple[int, ...]) -> None:
    """Replies that arrived before this message opened tickets of their own: nobody has worked
    them, so their mail joins this ticket's thread, their senders as strangers unless they take part."""
    now = ctx.desk.clock()
    for other in joins:
        if not ctx.store.work.joinable(other):
            continue
        strangers = ctx.store.work.join_thread(other, ticket_id, at=now)
        log.info("ticket %s: the mail of ticket %s answers this thread and joins it", ticket_id, other)
        if strangers:
            ctx.store.work.event(ticket_id, actor="system", kind="security", at=now,
                                 detail={"strangers": strangers, "joined_from": other,
                                         "why": "not participants of the ticket: their mail is kept, nothing is sent"
                                                " back to them"})


def _stranger_event(work: Work, ctx: Context, ticket_id: int, message_pk: int) -> None:
    sender, thread = work.need_parsed().sender, work.thread
    who = sender.addr if sender else "unknown sender"
    how = f"{thread.reason} {thread.detail}".strip() if thread else "?"
    ctx.store.work.event(ticket_id, actor=who, kind="security", at=ctx.desk.clock(),
                         detail={"stranger": who, "message": message_pk, "threaded_by": how,
                                 "why": "not a participant of the ticket: stored, nobody added, nothing sent back"})
    log.warning("ticket %s: mail from %s, who takes no part in it (threaded by %s): kept, not answered",
                ticket_id, who, how)


def _new_message(work: Work, parsed: ParsedMessage, ticket_id: int, stored: tuple[StoredAttachment, ...],
                 now: datetime, standing: str) -> NewMessage:
    c, t = work.classification, work.thread
    assert c is not None and t is not None
    return NewMessage(
        ticket_id=ticket_id, message_id=parsed.message_id, raw_hash=work.raw_hash, direction="in",
        sender=parsed.sender, recipients=parsed.recipients, date=parsed.date, subject=parsed.subject,
        body_text=parsed.body_text, new_text=work.new_text, kind=c.kind, kind_reasons=c.reasons,
        thread_reason=t.reason, thread_detail=t.detail, mailbox=work.raw.origin.mailbox, created_at=now,
        raw=work.raw.data, refs=parsed.in_reply_to + parsed.references, attachments=stored, sender_role=standing,
    )
