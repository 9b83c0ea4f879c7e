"""The one loop that decides each message's fate: stored, duplicate or quarantined."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from maildesk.agents import AGENT_GATE, AGENT_STEPS
from maildesk.errors import Answered, Duplicate, Quarantine, StoreUnavailable
from maildesk.intake import INTAKE_PREPARE, INTAKE_STEPS, RECORD_STEPS
from maildesk.models import Outcome, RawMessage
from maildesk.notify import NOTIFY_STEPS
from maildesk.routing import ROUTING_GATE, ROUTING_PREPARE, ROUTING_STEPS
from maildesk.sla import SLA_STEPS
from maildesk.stage import Context, Failure, Step, Work

if TYPE_CHECKING:
    from maildesk.workers import PreparePool

log = logging.getLogger("maildesk.intake")

#: The order of processing, written down as data: first the pure steps (parse, classify, triage),
#: which may run in worker processes, then the ones inside the message's transaction: dedupe,
#: thread and screen; an agent's questions; the routing gate; record; route; an agent's commands;
#: notify; SLA timers.
PIPELINE: tuple[Step, ...] = (*INTAKE_PREPARE, *ROUTING_PREPARE, *INTAKE_STEPS, *AGENT_GATE, *ROUTING_GATE,
                              *RECORD_STEPS, *ROUTING_STEPS, *AGENT_STEPS, *NOTIFY_STEPS, *SLA_STEPS)


def raw_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Runner:
    """Runs every step for a message, the stateful ones inside one transaction, and records its fate once.

    ``prepare`` runs the leading pure steps (no store: they may run in a worker process);
    ``finish`` runs the rest in one transaction. ``process`` does both.
    """

    _held: list[dict[str, object]] | None = None  # decisions of the open group, logged at its commit

    def __init__(self, ctx: Context, steps: Sequence[Step] = PIPELINE, *, pool: PreparePool | None = None) -> None:
        self.ctx = ctx
        self.steps = tuple(steps)
        split = next((i for i, step in enumerate(self.steps) if not step.pure), len(self.steps))
        self.pure_steps, self.stateful_steps = self.steps[:split], self.steps[split:]
        self.pool = pool

    def process(self, raw: RawMessage, *, retry_of: int | None = None) -> Outcome:
        """Process one message. Raises StoreUnavailable when nothing could be committed."""
        return self.finish(self.prepare(raw), retry_of=retry_of)

    def prepare_batch(self, raws: Sequence[RawMessage]) -> Iterator[Work]:
        """Prepared messages in order; with a pool, their pure steps run ahead in worker processes."""
        if self.pool is not None and len(raws) >= self.pool.min_batch:
            return self.pool.prepare(raws)
        return map(self.prepare, raws)

    def finish_group(self, works: Sequence[Work]) -> list[Outcome]:
        """Finish ``works`` in one transaction, each message in its own savepoint so that a
        failure quarantines only that message. Nothing of the group is stored (and nothing
        logged) unless the whole commit succeeds; StoreUnavailable says it did not."""
        with self._group():
            known: set[tuple[str, str]] = set()
            for mailbox in {work.raw.origin.mailbox for work in works}:  # committed by another process
                refs = [work.raw.origin.ref for work in works if work.raw.origin.mailbox == mailbox]
                known.update((mailbox, ref) for ref in self.ctx.store.ledger.known_refs(mailbox, refs))
            return [self.finish(work, known=(work.raw.origin.mailbox, work.raw.origin.ref) in known)
                    for work in works]

    @contextmanager
    def _group(self) -> Iterator[None]:
        self._held = []
        try:
            with self.ctx.store.atomic():
                yield
            held = self._held
        finally:
            self._held = None
        for fields in held:
            log.info("decision", extra={"md": fields})

    def prepare(self, raw: RawMessage) -> Work:
        """Run the pure steps; a failure is carried in ``work.failure``, never raised."""
        work = Work(raw=raw, raw_hash=raw_hash(raw.data))
        for step in self.pure_steps:
            try:
                work = step.process(work, self.ctx)
            except Quarantine as q:
                return work.but(failure=Failure(step.name, q.reason, q.kind))
            except Exception as exc:  # the shunt: an unexpected failure never loses the message
                log.exception("step %s failed for %s %s", step.name, raw.origin.mailbox, raw.origin.ref)
                reason = f"internal error in step {step.name}: {type(exc).__name__}: {exc}"
                return work.but(failure=Failure(step.name, reason[:500]))
        return work

    def finish(self, work: Work, *, retry_of: int | None = None, known: bool | None = None) -> Outcome:
        """Run the stateful steps in one transaction and record the fate of the message;
        ``known`` says whether the ledger has its origin already (None: look it up)."""
        store, raw = self.ctx.store, work.raw
        if known is None and retry_of is None:
            known = bool(store.ledger.known_refs(raw.origin.mailbox, [raw.origin.ref]))
        if known and retry_of is None:
            return Outcome("already")
        if work.failure is not None:
            outcome = self._quarantine(work, Quarantine(work.failure.reason, kind=work.failure.kind), retry_of)
            self._log(raw, work, outcome)
            return outcome
        step_name = "start"
        try:
            with store.atomic():
                try:
                    for step in self.stateful_steps:
                        step_name = step.name
                        work = step.process(work, self.ctx)
                except Answered as answered:  # settled by a step: what it wrote commits, nothing else runs
                    outcome = Outcome("answered", request_id=answered.request_id, reason=answered.why)
                else:
                    outcome = Outcome("stored", ticket_id=work.ticket_id, message_pk=work.message_pk,
                                      new_ticket=work.new_ticket, reason=work.thread.reason if work.thread else "")
                if retry_of is not None:
                    store.quarantine.release(retry_of, message_pk=work.message_pk, now=self.ctx.desk.clock())
                else:
                    self._receipt(work, outcome.status, message_pk=work.message_pk, request_id=outcome.request_id)
        except StoreUnavailable:
            raise
        except Duplicate as dup:
            outcome = self._duplicate(work, dup, retry_of)
        except Quarantine as q:
            outcome = self._quarantine(work, q, retry_of)
        except Exception as exc:  # the shunt: an unexpected failure never loses the message
            log.exception("step %s failed for %s %s", step_name, raw.origin.mailbox, raw.origin.ref)
            reason = f"internal error in step {step_name}: {type(exc).__name__}: {exc}"
            outcome = self._quarantine(work, Quarantine(reason[:500], kind="error"), retry_of)
        self._log(raw, work, outcome)
        return outcome

    def _receipt(self, work: Work, outcome: str, **ids: int | None) -> None:
        self.ctx.store.ledger.record(work.raw.origin, raw_hash=work.raw_hash, outcome=outcome,
                                     received_at=work.raw.received_at, **ids)

    def _duplicate(self, work: Work, dup: Duplicate, retry_of: int | None) -> Outcome:
        with self.ctx.store.atomic() as store:
            if retry_of is not None:
                store.quarantine.release(retry_of, message_pk=dup.message_pk, now=self.ctx.desk.clock())
            else:
                self._receipt(work, "duplicate", message_pk=dup.message_pk)
        return Outcome("duplicate", message_pk=dup.message_pk, reason=dup.why)

    def _quarantine(self, work: Work, q: Quarantine, retry_of: int | None) -> Outcome:
        parsed, now = work.parsed, self.ctx.desk.clock()
        message_id = parsed.message_id if parsed else None
        with self.ctx.store.atomic() as store:
            if retry_of is not None:
                store.quarantine.update_failed_retry(retry_of, kind=q.kind, reason=q.reason,
                                                     ticket_id=q.ticket_id, now=now)
                return Outcome("quarantined", quarantine_id=retry_of, ticket_id=q.ticket_id, reason=q.reason)
            held = store.quarantine.find_held(message_id=message_id, raw_hash=work.raw_hash)
            if held is not None:
                self._receipt(work, "duplicate", quarantine_id=held)
                return Outcome("duplicate", quarantine_id=held, reason=f"already quarantined as {held}")
            qid = store.quarantine.add(
                raw=work.raw.data, raw_hash=work.raw_hash, message_id=message_id, mailbox=work.raw.origin.mailbox,
                kind=q.kind, reason=q.reason, ticket_id=q.ticket_id,
                sender=parsed.sender.addr if parsed and parsed.sender else None,
                subject=parsed.subject if parsed else "", now=now)
            for address in q.undeliverable:
                store.outbox.suppress(address, reason=q.reason, now=now)
                log.warning("no more automatic mail to %s until they write again: %s", address, q.reason)
            if q.ticket_id is not None and store.tickets.exists(q.ticket_id):
                store.tickets.event(q.ticket_id, at=now, actor="system", kind=q.kind,
                                    detail={"quarantine_id": qid, "reason": q.reason})
            self._receipt(work, "quarantined", quarantine_id=qid)
        return Outcome("quarantined", quarantine_id=qid, ticket_id=q.ticket_id, reason=q.reason)

    def _log(self, raw: RawMessage, work: Work, outcome: Outcome) -> None:
        """One line per message decision; its fields go out as structured data, which the text
        formatter writes as escaped ``key=value`` pairs and the JSON one as keys (``maildesk.logs``)."""
        fields = decision_fields(raw, work, outcome)
        if self._held is not None:
            self._held.append(fields)
        else:
            log.info("decision", extra={"md": fields})


def decision_fields(raw: RawMessage, work: Work, outcome: Outcome) -> dict[str, object]:
    """What became of one message and why: where it came from, its ticket, thread reason and routing rule."""
    route = work.route
    return {
        "mailbox": raw.origin.mailbox, "uid": raw.origin.uid, "ref": raw.origin.ref,
        "message_id": work.parsed.message_id if work.parsed else None, "outcome": outcome.status,
        "ticket": outcome.ticket_id, "new_ticket": outcome.new_ticket,
        "thread": work.thread.reason if work.thread else None,
        "rule": ",".join(route.rules) if route is not None and route.rules else None,
        "quarantine": outcome.quarantine_id, "request": outcome.request_id, "reason": outcome.reason or None,
    }
