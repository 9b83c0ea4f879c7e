"""Agents at work: authenticated email commands drive each ticket through its states and tiers.

``AGENT_GATE`` runs before a new ticket would be recorded: an agent's questions to their personal
address are answered there and open none. ``AGENT_STEPS`` runs after routing and before the notify
steps. Both run in the message's transaction.
"""

from __future__ import annotations

from maildesk.agents.requests import PersonalRequest
from maildesk.agents.steps import AgentMail, CustomerReply

AGENT_GATE = (PersonalRequest(),)
AGENT_STEPS = (AgentMail(), CustomerReply())

__all__ = ["AGENT_GATE", "AGENT_STEPS"]
