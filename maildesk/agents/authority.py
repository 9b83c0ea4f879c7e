"""Who may command: the reply token names an agent, the From is that agent, and (optionally) DMARC agrees."""

from __future__ import annotations

from dataclasses import dataclass

from maildesk.intake.authres import verify_sender
from maildesk.notify.notifier import agent_role, staff_of
from maildesk.stage import Context, Work
from maildesk.tokens import make_token, reply_address, tokens_in, verify_token


@dataclass(frozen=True)
class Authority:
    """The agent whose commands this mail carries, or why it carries none that count."""

    agent: str | None
    refused: str = ""


PERSONAL = 0  # the "ticket" of an agent's personal address: for opening tickets on a customer's behalf


def personal_address(ctx: Context, agent: str) -> str:
    """The agent's own address at the desk: mail to it with ``#requester`` opens a ticket for a customer."""
    return reply_address(ctx.desk.address, make_token(ctx.desk.secret, PERSONAL, agent_role(agent)))


def personal_role(work: Work, ctx: Context) -> str | None:
    """The agent role of the personal address this mail was sent to, if it went to one (signature checked)."""
    for token in tokens_in(work.need_parsed().recipients, ctx.desk.address):
        claim = verify_token(ctx.desk.secret, token)
        if claim and claim.ticket_id == PERSONAL and claim.role.startswith("a"):
            return claim.role
    return None


def authorize_new(work: Work, ctx: Context) -> Authority:
    """A new ticket (or a question) is an agent's only when it came to that agent's personal address,
    from that agent."""
    role = personal_role(work, ctx)
    if role is None:
        return Authority(None, "it was not sent to an agent's personal address")
    return _check(role, work, ctx)


def agent_of_role(ctx: Context, role: str) -> str | None:
    """The staff agent a token role was issued to."""
    return next((a for a in sorted(staff_of(ctx)) if agent_role(a) == role), None)


def authorize(work: Work, ctx: Context) -> Authority:
    """All must hold: a reply address issued to one agent for this very ticket (threading checked
    its signature and ticket), a From of that agent, and, when required, DKIM or DMARC pass."""
    thread = work.thread
    if thread is None or thread.reason != "token" or not thread.role.startswith("a"):
        return Authority(None, "it was not sent to an agent's reply address for this ticket")
    return _check(thread.role, work, ctx)


def _check(role: str, work: Work, ctx: Context) -> Authority:
    """The agent a token role belongs to must be the sender, authenticated when the desk requires it."""
    parsed = work.need_parsed()
    agent = agent_of_role(ctx, role)
    if agent is None:
        return Authority(None, "its reply address belongs to none of the desk's agents")
    sender = parsed.sender.addr if parsed.sender else ""
    if sender != agent:
        return Authority(None, f"it came from {sender or 'no valid address'}, not from the agent the reply "
                               "address was issued to")
    security = ctx.desk.config.security
    if security.require_dmarc:
        verdict = verify_sender(parsed.headers, authserv_id=security.authserv_id, domain=agent.rpartition("@")[2])
        if not verdict.passed:
            return Authority(None, f"its sender is not authenticated: {verdict.why}")
    return Authority(agent)
