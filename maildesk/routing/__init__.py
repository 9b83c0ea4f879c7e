"""Routing: decide each new ticket's tier queue, priority, tags and owner from the configured rules.

``ROUTING_PREPARE`` runs with the pure steps (it only reads the message); ``ROUTING_STEPS`` runs in
the message's transaction, after the ticket exists.
"""

from __future__ import annotations

from maildesk.routing.steps import Route, Triage

ROUTING_PREPARE = (Triage(),)
ROUTING_STEPS = (Route(),)

__all__ = ["ROUTING_PREPARE", "ROUTING_STEPS"]
