"""Routing: decide each new ticket's tier queue, priority, tags and owner from the configured rules.

``ROUTING_PREPARE`` runs with the pure steps (it only reads the message); in the message's
transaction, ``ROUTING_GATE`` runs before a new ticket is recorded and ``ROUTING_STEPS`` after.
"""

from __future__ import annotations

from maildesk.routing.steps import Gate, Route, Triage

ROUTING_PREPARE = (Triage(),)
ROUTING_GATE = (Gate(),)
ROUTING_STEPS = (Route(),)

__all__ = ["ROUTING_GATE", "ROUTING_PREPARE", "ROUTING_STEPS"]
