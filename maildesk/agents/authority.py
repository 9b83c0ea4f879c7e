"""Who may command: the reply token names an agent, the From is that agent, and (optionally) DMARC agrees."""

from __future__ import annotations

from dataclasses import dataclass

from maildesk.intake.authres import verify_sender
from maildesk.notify.notifier import agent_role, agents_of
from maildesk.stage import Context, Work


@dataclass(frozen=True)
class Authority:
    """The agent whose commands this mail carries, or why it carries none that count."""

    agent: str | None
    refused: str = ""


def authorize(work: Work, ctx: Context) -> Authority:
    """All must hold: a reply address issued to one agent for this very ticket (threading checked
    its signature and ticket), a From of that agent, and, when required, DKIM or DMARC pass."""
    thread, parsed = work.thread, work.need_parsed()
    if thread is None or thread.reason != "token" or not thread.role.startswith("a"):
        return Authority(None, "it was not sent to an agent's reply address for this ticket")
    agent = next((a for a in sorted(agents_of(ctx)) if agent_role(a) == thread.role), None)
    if agent is None:
        return Authority(None, "its reply address belongs to no configured agent")
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
