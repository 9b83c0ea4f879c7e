"""Routing: decide each new ticket's tier queue.

Until rules exist, every new ticket goes to the first tier, ``L1``, with status ``new``.
"""

from __future__ import annotations

from maildesk.routing.default import DefaultTier

ROUTING_STEPS = (DefaultTier(),)

__all__ = ["ROUTING_STEPS"]
