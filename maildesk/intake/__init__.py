"""Intake: turn raw mail into a threaded, classified message on a ticket.

The steps run in this order; each is a small class with a ``name`` and ``process``.
Routing's steps run between these groups (see ``maildesk.pipeline.PIPELINE``).
"""

from __future__ import annotations

from maildesk.intake.steps import CheckLimits, Classify, Dedupe, Parse, Record, Screen, Sniff, Thread

INTAKE_PREPARE = (Sniff(), CheckLimits(), Parse(), Classify())  # pure: may run in worker processes
INTAKE_STEPS = (Dedupe(), Thread(), Screen())  # in the message's transaction
RECORD_STEPS = (Record(),)  # the store: the message on its (maybe new) ticket

__all__ = ["INTAKE_PREPARE", "INTAKE_STEPS", "RECORD_STEPS"]
