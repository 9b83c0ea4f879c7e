"""Agents at work: authenticated email commands drive each ticket through its states and tiers.

``AGENT_STEPS`` runs after routing and before the notify steps, in the message's transaction.
"""

from __future__ import annotations

from maildesk.agents.steps import AgentMail, CustomerReply

AGENT_STEPS = (AgentMail(), CustomerReply())

__all__ = ["AGENT_STEPS"]
