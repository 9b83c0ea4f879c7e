"""Service levels: business-time clocks per ticket and the timers that act on them.

``SLA_STEPS`` runs after the agents' steps, in the message's transaction.
"""

from __future__ import annotations

from maildesk.sla.timers import ScheduleTimers

SLA_STEPS = (ScheduleTimers(),)

__all__ = ["SLA_STEPS"]
