"""Intake: turn raw mail into a threaded, classified message on a ticket.

The steps run in this order; each is a small class with a ``name`` and ``process``.
"""

from __future__ import annotations

from maildesk.intake.steps import CheckLimits, Classify, Dedupe, Parse, Record, Screen, Thread

INTAKE_STEPS = (CheckLimits(), Parse(), Classify(), Dedupe(), Thread(), Screen(), Record())

__all__ = ["INTAKE_STEPS"]
