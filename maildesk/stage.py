"""The record a message carries through the pipeline, and the contract each step keeps."""

from __future__ import annotations

from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

from maildesk.models import Classification, ParsedMessage, RawMessage, ThreadDecision

if TYPE_CHECKING:  # the desk needs the config, which needs intake's limits: no import cycle at run time
    from maildesk.desk import Desk
    from maildesk.routing.model import Decision
    from maildesk.store import Store


@dataclass(frozen=True)
class Failure:
    """A pure step's verdict that the message cannot go on, carried back to the runner."""

    step: str
    reason: str
    kind: str = "error"


@dataclass(frozen=True)
class Work:
    """One message on its way through the steps; each step returns an updated copy."""

    raw: RawMessage
    raw_hash: str
    email: EmailMessage | None = None
    parsed: ParsedMessage | None = None
    new_text: str = ""
    classification: Classification | None = None
    route: Decision | None = None  # where the message would go if it opens a ticket
    thread: ThreadDecision | None = None
    ticket_id: int | None = None
    message_pk: int | None = None
    new_ticket: bool = False
    stranger: bool = False  # the sender takes no part in the ticket (maildesk.intake.people): never answered
    changed: bool = False  # an agent's commands or a customer's reply changed the ticket (timers re-plan)
    failure: Failure | None = None

    def but(self, **changes: Any) -> Work:
        return replace(self, **changes)

    def need_parsed(self) -> ParsedMessage:
        if self.parsed is None:
            raise RuntimeError("step ran before parse")
        return self.parsed


@dataclass(frozen=True)
class Context:
    """What steps may use: the desk and the store (inside the message's transaction)."""

    desk: Desk
    store: Store  # None only while pure steps run in a worker process


class Step(Protocol):
    """One named step. It returns the updated work, or raises a Disposition to end processing.

    A ``pure`` step reads only the message and the desk, never the store, so it may run in a
    worker process ahead of the transaction; the pipeline's pure steps all come first.
    """

    name: str
    pure: bool

    def process(self, work: Work, ctx: Context) -> Work: ...
