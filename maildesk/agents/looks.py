"""What agents may ask the desk by mail: a queue, a ticket's history, one file; only of tickets they may see."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maildesk.agents.workflow import Effect
from maildesk.models import StoredAttachment
from maildesk.notify.files import display_name
from maildesk.notify.notifier import agent_role
from maildesk.stage import Context
from maildesk.store import views
from maildesk.tokens import make_token, reply_address

log = logging.getLogger("maildesk.agents")

MAX_QUEUE = 100  # tickets one #queue answer lists
MAX_TEXT = 2000  # characters of each message #show gives


@dataclass(frozen=True)
class Answers:
    """The receipt's answers: text blocks, the files they carry, and the tickets refused."""

    blocks: tuple[str, ...] = ()
    files: tuple[StoredAttachment, ...] = ()
    refused: tuple[int, ...] = ()


def may_see(ctx: Context, agent: str, ticket_id: int) -> bool:
    """Its owner, the agents of its tier, and the desk's own agents of the tiers above it; a vendor
    only while the ticket is with them."""
    ticket = ctx.store.tickets.summary(ticket_id)
    if not ticket:
        return False
    tiers = ctx.desk.config.tiers
    names = [t.name for t in tiers]
    where = names.index(str(ticket["tier"])) if ticket["tier"] in names else 0
    if ticket.get("assignee") == agent:
        return True
    return any(agent in t.agents and (t.name == ticket["tier"] or (not t.vendor and i > where))
               for i, t in enumerate(tiers))


def answer(ctx: Context, agent: str, effects: tuple[Effect, ...]) -> Answers:
    """Each ``look`` effect answered in turn; a ticket the agent may not see gives nothing, and a
    security event on it names the agent who asked."""
    answers = _answer(ctx, agent, effects)
    for other in answers.refused:
        refused_look(ctx, other, asked_by=agent, why="asked by mail for a ticket outside their tiers")
    return answers


def refused_look(ctx: Context, ticket_id: int, *, asked_by: str, why: str) -> None:
    """Someone asked for a ticket they may not see: a security event on it (when it exists), a warning."""
    if ctx.store.tickets.exists(ticket_id):
        ctx.store.work.event(ticket_id, actor=asked_by or "unknown", kind="security", at=ctx.desk.clock(),
                             detail={"refused": asked_by, "why": why})
    log.warning("%s asked for ticket #%s, which is not theirs to see: %s", asked_by or "?", ticket_id, why)


def _answer(ctx: Context, agent: str, effects: tuple[Effect, ...]) -> Answers:
    blocks: list[str] = []
    files: list[StoredAttachment] = []
    refused: list[int] = []
    for effect in effects:
        what, values, text = effect.detail["what"], effect.detail["values"], effect.detail["text"]
        if what == "queue":
            blocks.append(queue_text(ctx, agent, values[0] if values else None))
            continue
        ticket_id = int(values[0])
        if not may_see(ctx, agent, ticket_id):
            refused.append(ticket_id)
            blocks.append(f"#{what} {ticket_id}: there is no ticket #{ticket_id} you may see")
            continue
        block, found = show_text(ctx, ticket_id) if what == "show" else file_text(ctx, ticket_id, text)
        blocks.append(block)
        files.extend(found)
    return Answers(tuple(blocks), tuple(files), tuple(refused))


def queue_text(ctx: Context, agent: str, which: str | None) -> str:
    """Open tickets, oldest first: a tier's, the agent's own tiers', or (``mine``) their own."""
    mine = which == "mine"
    tiers = [which] if which and not mine else [t.name for t in ctx.desk.config.tiers if agent in t.agents]
    tickets = [t for t in ctx.store.queues.open_tickets() if (t["assignee"] == agent if mine else t["tier"] in tiers)]
    tickets.sort(key=lambda t: (t["created_at"], t["id"]))
    title = "Your open tickets" if mine else f"Open tickets in {', '.join(tiers) or 'no tier of yours'}"
    lines = [f"{title}, oldest first ({len(tickets)}):"]
    now = ctx.desk.clock()
    for t in tickets[:MAX_QUEUE]:
        lines.append(_queue_line(ctx, agent, t, now))
    if len(tickets) > MAX_QUEUE:
        lines.append(f"  ... and {len(tickets) - MAX_QUEUE} more")
    return "\n".join(lines)


def _queue_line(ctx: Context, agent: str, t: dict[str, Any], now: datetime) -> str:
    age = _age(now - datetime.fromisoformat(str(t["created_at"])))
    pending = ctx.store.timers.pending(int(t["id"]))
    sla = min(pending.items(), key=lambda kv: kv[1]) if pending else None
    sla_text = f"next SLA {sla[0]} {sla[1][:16].replace('T', ' ')}" if sla else "no SLA timer"
    address = reply_address(ctx.desk.address, make_token(ctx.desk.secret, int(t["id"]), agent_role(agent)))
    return (f"  #{t['id']} {age} {t['priority']} {t['tier']} {t['status']}, owner {t['assignee'] or 'nobody'},"
            f" {sla_text}: {str(t['subject'])[:80]}\n      reply to {address}")


def _age(delta: Any) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d{hours % 24}h" if hours >= 24 else f"{hours}h"


def show_text(ctx: Context, ticket_id: int) -> tuple[str, list[StoredAttachment]]:
    """The ticket's story, oldest first: every message (internal notes marked) and its files."""
    ticket = views.show_ticket(ctx.store.db, ticket_id)
    lines = [f"Ticket #{ticket_id}: {ticket['subject']}",
             f"  {ticket['status']}, {ticket['tier']}, {ticket['priority']}, requester {ticket['requester']},"
             f" owner {ticket['assignee'] or 'nobody'}"]
    for m in ticket["messages"]:
        who = f"{m['sender']} ({m['sender_role'] or m['direction']})"
        names = ", ".join(display_name(a["filename"]) for a in m["attachments"])
        lines += ["", f"[{m['date'] or m['created_at']}] {who}" + (f", files: {names}" if names else ""),
                  str(m["new_text"])[:MAX_TEXT]]
    for e in ticket["events"]:
        if e["kind"] == "note":
            lines += ["", f"[{e['at']}] internal note by {e['actor']}:", str(e["detail"].get("text", ""))[:MAX_TEXT]]
    return "\n".join(lines), ctx.store.attachments.of_ticket(ticket_id)


def file_text(ctx: Context, ticket_id: int, name: str) -> tuple[str, list[StoredAttachment]]:
    wanted = display_name(name).lower()
    found = [a for a in ctx.store.attachments.of_ticket(ticket_id) if display_name(a.filename).lower() == wanted]
    if not found:
        return f"#file {ticket_id}: ticket #{ticket_id} has no file named {display_name(name)!r}", []
    return f"#file {ticket_id} {display_name(found[0].filename)}: attached", found[:1]
