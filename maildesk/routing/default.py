"""The default route: a new ticket starts in tier L1 and records that it was routed."""

from __future__ import annotations

from maildesk.stage import Context, Work

DEFAULT_TIER = "L1"


class DefaultTier:
    name = "route"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if work.new_ticket and work.ticket_id is not None:
            ctx.store.tickets.event(work.ticket_id, at=ctx.desk.clock(), actor="system", kind="routed",
                                    new=DEFAULT_TIER, detail={"rule": "default"})
        return work
