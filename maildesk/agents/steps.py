"""The agent step: an agent's reply runs its commands all or nothing, relays its words, and gets a receipt."""

from __future__ import annotations

import logging
from datetime import timedelta

from maildesk.agents.looks import Answers, answer
from maildesk.agents.authority import Authority, authorize, authorize_new, personal_address
from maildesk.agents.workflow import Desk, Effect, Plan, plan
from maildesk.intake.commands import ParsedCommands, help_text, parse_commands
from maildesk.intake.rating import parse_rating
from maildesk.models import Address, StoredAttachment
from maildesk.notify.files import refusals
from maildesk.notify.notices import CommandResults, Handover, Notices
from maildesk.notify.notifier import Parent, agents_of, message_context, vendors_of
from maildesk.stage import Context, Work

log = logging.getLogger("maildesk.agents")


class CustomerReply:
    """A customer's reply wakes a ticket that waits for them (pending) or one resolved within the
    reopen window, unless it is just a rating of the resolution (1 to 5): that is recorded instead."""

    name = "customer-reply"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        c, sender = work.classification, work.need_parsed().sender
        if work.new_ticket or work.ticket_id is None or c is None or c.automatic or sender is None or work.stranger:
            return work  # a stranger's mail neither wakes nor rates the ticket
        if sender.addr in agents_of(ctx):
            return work
        status = ctx.store.work.statuses([work.ticket_id]).get(work.ticket_id)
        if status is None:
            return work
        if status in ("resolved", "closed") and (rating := parse_rating(work.new_text)):
            if ctx.store.work.rate(work.ticket_id, score=rating.score, comment=rating.comment, by=sender.addr,
                                   at=ctx.desk.clock()):
                return work  # a rating is thanks, not a new problem: the ticket stays as it is
        if not self._wakes(status, work.ticket_id, ctx):
            return work
        ctx.store.work.set_status(work.ticket_id, "open", actor=sender.addr, at=ctx.desk.clock(),
                                  reason=f"the customer replied to a {status} ticket")
        return work.but(changed=True)

    def _wakes(self, status: str, ticket_id: int, ctx: Context) -> bool:
        if status == "pending":
            return True
        if status != "resolved":
            return False
        since = ctx.store.work.status_since(ticket_id)
        window = timedelta(days=ctx.desk.config.tickets.reopen_window_days)
        return since is None or ctx.desk.clock() - since <= window


class AgentMail:
    """Mail on an existing ticket from a configured agent, or carrying commands."""

    name = "agent-mail"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if work.ticket_id is None or work.classification is None or work.classification.automatic:
            return work
        sender = work.need_parsed().sender
        if not work.new_ticket and sender is not None and sender.addr in vendors_of(ctx):
            forward_vendor_reply(work, ctx)
            return work
        tiers = tuple(t.name for t in ctx.desk.config.tiers)
        parsed = parse_commands(work.new_text, tiers=tiers)
        authority = authorize_new(work, ctx) if work.new_ticket else authorize(work, ctx)
        if work.new_ticket and authority.agent is None:
            return work  # a new ticket from anyone else: its text is just text
        if authority.agent is None:
            refuse(work, ctx, parsed, authority)
            return work
        run(work, ctx, parsed, authority.agent)
        return work.but(changed=True)


def refuse(work: Work, ctx: Context, parsed: ParsedCommands, authority: Authority) -> None:
    """Commands that do not count: the mail stays a customer message; a security event says why,
    and a known agent gets a receipt explaining it (at their own address, never the From's)."""
    if not (parsed.commands or parsed.errors):
        return
    assert work.ticket_id is not None
    sender = work.need_parsed().sender
    who = sender.addr if sender else ""
    ctx.store.work.event(work.ticket_id, actor=who or "unknown", kind="security", at=ctx.desk.clock(),
                         detail={"ignored_commands": [c.name for c in parsed.commands], "why": authority.refused})
    log.warning("ticket %s: commands from %s ignored: %s", work.ticket_id, who or "?", authority.refused)
    if who in agents_of(ctx):
        results = CommandResults(ignored=tuple(f"#{c.name}: not applied because {authority.refused}"
                                               for c in parsed.commands))
        Notices(ctx).receipt(work.ticket_id, agent=Address(who), results=results, parent=Parent.of(work.need_parsed()))


def run(work: Work, ctx: Context, parsed: ParsedCommands, agent: str) -> None:
    """Plan every command; apply all and send what they cause, or (any failure) nothing but the receipt."""
    ticket_id = work.ticket_id
    assert ticket_id is not None
    state = ctx.store.work.state(ticket_id)
    assert state is not None
    config = ctx.desk.config
    named = [int(v) for c in parsed.commands if c.name in ("merge", "link") for v in c.values[:1] if v.isdigit()]
    desk = Desk(tuple(t.name for t in config.tiers), {t.name: t.agents for t in config.tiers}, agent,
                others=ctx.store.work.statuses(named) if named else {},
                vendors=frozenset(t.name for t in config.tiers if t.vendor))
    result = plan(state, parsed.commands, desk)
    relaying = bool(parsed.reply) and not parsed.internal_only and not _has_note(parsed.reply)
    files = _relayed_files(work, ctx) if relaying else []
    failed = (tuple(f"line {e.line}: {e.problem}" for e in parsed.errors) + result.failed
              + tuple(refusals(files, limit=config.notify.attach_max_bytes, never=config.notify.attach_never)))
    notices, message = Notices(ctx), work.need_parsed()
    if not failed:
        apply(work, ctx, result, agent, notices)
        if relaying:
            name = message.sender.name if message.sender and message.sender.name else ""
            notices.relay(ticket_id, agent_name=name, text=parsed.reply, parent=None, files=files)
    if parsed.commands or parsed.errors:
        done = result.done if not failed else ()
        skipped = ("nothing was applied and your reply was not sent: fix the failed command(s) and send again",) \
            if failed else ()
        extra = (help_text(), f"to open a ticket for a customer, write to {personal_address(ctx, agent)} "
                 "with #requester ADDRESS") if any(e.kind == "help" for e in result.effects) else ()
        answers = _answers(ctx, agent, result) if not failed else Answers()
        notices.receipt(ticket_id, agent=Address(agent), parent=Parent.of(message), files=answers.files,
                        results=CommandResults(done=done + extra, failed=failed, ignored=skipped,
                                               answers=answers.blocks))


def apply(work: Work, ctx: Context, result: Plan, agent: str, notices: Notices) -> None:
    """Write the plan, then queue what its effects call for, in the message's transaction."""
    assert work.ticket_id is not None
    now = ctx.desk.clock()
    in_tier = ctx.store.work.time_in_tier(work.ticket_id, now=now)
    for effect in result.effects:  # a merge moves the history first, so this mail's events stay here
        if effect.kind == "merge":
            ctx.store.work.merge(work.ticket_id, effect.detail["into"], actor=agent, at=now)
    ctx.store.work.apply(result, actor=agent, at=now)
    for effect in result.effects:
        _effect(work.ticket_id, effect, ctx, agent, notices, in_tier)
    told = {"resolved", "escalated", "deescalated"} & {e.kind for e in result.effects}
    if result.start.status != result.end.status and not told and result.start.status != "new":
        notices.status_change(work.ticket_id, old=result.start.status, new=result.end.status)


def _effect(ticket_id: int, effect: Effect, ctx: Context, agent: str, notices: Notices, in_tier: object) -> None:
    now, detail = ctx.desk.clock(), effect.detail
    if effect.kind in ("escalated", "deescalated"):
        ctx.store.work.event(ticket_id, actor=agent, kind=effect.kind, at=now, detail=detail)
        reason, _, tried = str(detail["reason"]).partition("\n")
        notices.escalation(ticket_id, handover=Handover(from_tier=detail["from_tier"], to_tier=detail["to_tier"],
                                                        reason=reason, tried=tried.strip() or reason,
                                                        time_in_tier=in_tier))  # type: ignore[arg-type]
        # the customer learns that specialists took over, never the internal reason
        notices.status_change(ticket_id, old="with our support team", new="with our specialists"
                              if effect.kind == "escalated" else "back with our support team")
    elif effect.kind == "resolved":
        ctx.store.work.event(ticket_id, actor=agent, kind="resolution", at=now, detail=detail)
        notices.resolution(ticket_id, summary=detail["summary"])
        resolve_incidents(ticket_id, detail["summary"], ctx, agent, notices)
    elif effect.kind == "link":
        ctx.store.work.link(ticket_id, detail["problem"], kind="incident", at=now)
        ctx.store.work.event(ticket_id, actor=agent, kind="linked", at=now, new=str(detail["problem"]),
                             detail=detail)
    elif effect.kind == "kb":
        file_article(ticket_id, str(detail["title"]), ctx, agent)
    elif effect.kind == "requester":
        ctx.store.work.set_requester(ticket_id, detail["address"], actor=agent, at=now)
    elif effect.kind == "hold":
        ctx.store.work.event(ticket_id, actor=agent, kind="vendor-reference", at=now, new=detail["reference"],
                             detail=detail)
    elif effect.kind == "help":
        ctx.store.work.event(ticket_id, actor=agent, kind="help", at=now)
    elif effect.kind == "note":
        ctx.store.work.event(ticket_id, actor=agent, kind="note", at=now, detail=detail)


def _answers(ctx: Context, agent: str, result: Plan) -> Answers:
    """The receipt's answers to #queue, #show and #file."""
    return answer(ctx, agent, tuple(e for e in result.effects if e.kind == "look"))


def _relayed_files(work: Work, ctx: Context) -> list[StoredAttachment]:
    """The files of an agent's reply that go to the customer: all but inline images, which belong to
    the agent's own HTML (signature logos) and not to the words relayed."""
    stored = ctx.store.attachments.of_message(work.message_pk) if work.message_pk else []
    return [f for f in stored if not (f.inline and f.content_id and f.content_type.startswith("image/"))]


def _has_note(reply: str) -> bool:
    """A ``#note`` line after the reply text began: the agent meant it internal, so nothing is relayed."""
    return any(line.lstrip().lower().startswith("#note") for line in reply.splitlines())


def resolve_incidents(problem_id: int, summary: str, ctx: Context, agent: str, notices: Notices) -> None:
    """The permanent fix reaches everyone affected: each open incident of the problem is resolved
    with the problem's summary, and its requester told."""
    now, work = ctx.desk.clock(), ctx.store.work
    incidents = work.incidents(problem_id)
    for incident, status in work.statuses(incidents).items():
        if status not in ("new", "open", "pending", "on_hold"):
            continue
        work.set_status(incident, "resolved", actor=agent, at=now, reason=f"problem #{problem_id} was resolved")
        work.event(incident, actor=agent, kind="resolution", at=now, detail={"summary": summary,
                                                                            "problem": problem_id})
        notices.resolution(incident, summary=summary)


def forward_vendor_reply(work: Work, ctx: Context) -> None:
    """A vendor's mail stays internal on the ticket and goes to its owner (or the staff of the tier
    below the vendor's); nothing reaches the customer unless an agent relays it."""
    assert work.ticket_id is not None
    state = ctx.store.work.state(work.ticket_id)
    assert state is not None
    tiers = [t for t in ctx.desk.config.tiers if not t.vendor]
    below = next((t for t in reversed(tiers) if ctx.desk.config.tiers.index(t) < _index(ctx, state.tier)), None)
    owners = [state.assignee] if state.assignee else list(below.agents if below else ())
    sender = work.need_parsed().sender
    ctx.store.work.event(work.ticket_id, actor=sender.addr if sender else "vendor", kind="vendor-reply",
                         at=ctx.desk.clock(), detail={"forwarded_to": owners})
    files = ctx.store.attachments.of_message(work.message_pk) if work.message_pk else []
    Notices(ctx).forward(work.ticket_id, to=owners, message=message_context(work.need_parsed(), work.new_text),
                         files=files)


def _index(ctx: Context, tier: str) -> int:
    names = [t.name for t in ctx.desk.config.tiers]
    return names.index(tier) if tier in names else len(names)


def file_article(ticket_id: int, title: str, ctx: Context, agent: str) -> None:
    """A draft knowledge article from the ticket: its subject (or the title given), what the
    requester wrote, the resolution summary and the tags. Published only after review."""
    store, now = ctx.store, ctx.desk.clock()
    summary = store.tickets.summary(ticket_id)
    state = store.work.state(ticket_id)
    article = store.kb.add(title=title or str(summary.get("subject", "")), symptoms=store.work.symptoms(ticket_id),
                           resolution=store.work.resolution_summary(ticket_id),
                           tags=state.tags if state else (), source_ticket=ticket_id, author=agent, now=now)
    store.work.event(ticket_id, actor=agent, kind="kb-article", new=str(article), at=now)
