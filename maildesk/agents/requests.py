"""Questions to the desk at an agent's personal address: answered by mail, opening no ticket."""

from __future__ import annotations

import logging
from dataclasses import asdict

from maildesk.agents.authority import Authority, agent_of_role, authorize_new, personal_address, personal_role
from maildesk.agents.looks import Answers, answer, refused_look
from maildesk.agents.workflow import look_effect
from maildesk.errors import Answered
from maildesk.intake.commands import ParsedCommands, help_text, parse_commands
from maildesk.models import Address
from maildesk.notify.desk_mail import queue_desk_notice
from maildesk.notify.notifier import Parent, agents_of
from maildesk.notify.notices import CommandResults
from maildesk.stage import Context, Work

log = logging.getLogger("maildesk.agents")

QUESTIONS = frozenset({"queue", "show", "file", "help"})  # commands that only ask, never change a ticket


class PersonalRequest:
    """Mail to an agent's personal address that only asks (``#queue``, ``#show``, ``#file``, ``#help``)
    is a question, not a ticket: kept raw as a request and answered, or refused when its sender is
    not the agent the address was issued to. Anything else there (``#requester``) opens a ticket."""

    name = "agent-request"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        c = work.classification
        if work.ticket_id is not None or c is None or c.automatic:
            return work
        role = personal_role(work, ctx)
        if role is None:
            return work
        parsed = parse_commands(work.new_text, tiers=tuple(t.name for t in ctx.desk.config.tiers))
        if not (parsed.commands or parsed.errors) or any(cmd.name not in QUESTIONS for cmd in parsed.commands):
            return work
        authority = authorize_new(work, ctx)
        owner = agent_of_role(ctx, role) or role
        if authority.agent is None:
            raise Answered(_refuse(work, ctx, parsed, authority, owner), f"refused: {authority.refused}")
        raise Answered(_answer(work, ctx, parsed, authority.agent), "answered")


def _keep(work: Work, ctx: Context, parsed: ParsedCommands, *, agent: str, outcome: str, reason: str = "") -> int:
    message = work.need_parsed()
    return ctx.store.requests.add(
        agent=agent, sender=message.sender.addr if message.sender else "", message_id=message.message_id,
        raw_hash=work.raw_hash, mailbox=work.raw.origin.mailbox, subject=message.subject,
        commands=[f"#{c.name} {c.args}".strip() for c in parsed.commands], outcome=outcome, reason=reason,
        raw=work.raw.data, now=ctx.desk.clock())


def _answer(work: Work, ctx: Context, parsed: ParsedCommands, agent: str) -> int:
    """Answer every question, or (any line failed) none: the agent learns which line to fix."""
    request = _keep(work, ctx, parsed, agent=agent, outcome="answered")
    failed = tuple(f"line {e.line}: {e.problem}" for e in parsed.errors)
    answers, done = Answers(), ()
    if not failed:
        answers = answer(ctx, agent, tuple(look_effect(c) for c in parsed.commands if c.name != "help"))
        done = tuple(f"#{c.name} {c.args}".strip() + ": answered below" for c in parsed.commands if c.name != "help")
        if any(c.name == "help" for c in parsed.commands):
            done += ("help sent", help_text())
    results = CommandResults(done=done, failed=failed, answers=answers.blocks,
                             ignored=("nothing was answered: fix the failed line(s) and send again",) if failed else ())
    _send(work, ctx, agent, results, answers)
    log.info("request %s from %s answered (%d questions)", request, agent, len(parsed.commands))
    return request


def _refuse(work: Work, ctx: Context, parsed: ParsedCommands, authority: Authority, owner: str) -> int:
    """Nothing is answered; each ticket asked about gets a security event. A known agent who wrote
    to someone else's address hears why, at their own address (never the From's alone)."""
    message = work.need_parsed()
    sender = message.sender.addr if message.sender else ""
    request = _keep(work, ctx, parsed, agent=owner, outcome="refused", reason=authority.refused)
    why = f"asked by mail to a personal desk address, refused: {authority.refused}"
    for command in parsed.commands:
        if command.name in ("show", "file") and command.values and command.values[0].isdigit():
            refused_look(ctx, int(command.values[0]), asked_by=sender, why=why)
    log.warning("request %s from %s refused: %s", request, sender or "?", authority.refused)
    if sender in agents_of(ctx):
        results = CommandResults(ignored=tuple(f"#{c.name}: not answered because {authority.refused}"
                                               for c in parsed.commands))
        _send(work, ctx, sender, results, Answers())
    return request


def _send(work: Work, ctx: Context, agent: str, results: CommandResults, answers: Answers) -> None:
    if ctx.desk.config.outbound is None:
        return
    if (reason := ctx.store.outbox.suppressed(agent)) is not None:
        log.warning("no answer to %s: undeliverable (%s)", agent, reason)
        return
    queue_desk_notice(ctx.desk, ctx.store, kind="answer", to=Address(agent), context={"results": asdict(results)},
                      reply_to=personal_address(ctx, agent), parent=Parent.of(work.need_parsed()),
                      files=answers.files)
