"""Typed, frozen records that the stages of maildesk hand to one another."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Direction = Literal["in", "out"]

#: What kind of sender a message came from, decided by ``maildesk.intake.classify``.
#: ``human`` and ``auto-generated``/``bulk`` open tickets; the others never do.
MailKind = Literal[
    "human",  # a person wrote it: may be answered automatically
    "auto-generated",  # monitoring alerts, notifications: ticket, never answered
    "bulk",  # lists, newsletters, Precedence bulk/junk/list: ticket, never answered
    "auto-reply",  # out-of-office and other auto-responders: no ticket of its own
    "bounce",  # delivery status notifications, standard or not: never a ticket
    "feedback",  # abuse/feedback reports (ARF): never a ticket
    "loop",  # our own mail came back: never a ticket, never answered
]

#: Kinds that may open a new ticket when they thread nowhere.
OPENS_TICKET: frozenset[str] = frozenset({"human", "auto-generated", "bulk"})

#: The header every message the desk sends carries, with ``Desk.loop_id`` as its value.
LOOP_HEADER = "X-Maildesk-Loop"


@dataclass(frozen=True)
class Origin:
    """Where a message was read from: the key that makes intake exactly-once.

    ``ref`` is unique per mailbox: ``"<uidvalidity>:<uid>"`` for IMAP, the
    unique part of the file name for a Maildir, the raw hash for ``deliver``.
    """

    mailbox: str
    ref: str
    uidvalidity: int | None = None
    uid: int | None = None

    @classmethod
    def imap(cls, mailbox: str, uidvalidity: int, uid: int) -> Origin:
        return cls(mailbox, f"{uidvalidity}:{uid}", uidvalidity, uid)


@dataclass(frozen=True)
class RawMessage:
    """The untouched bytes of one message and where they came from."""

    origin: Origin
    data: bytes
    received_at: datetime


@dataclass(frozen=True)
class Address:
    """One mailbox address; ``addr`` is lower-cased whole, as mail systems compare it in practice."""

    addr: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.addr}>" if self.name else self.addr


@dataclass(frozen=True)
class AttachmentPart:
    """A non-body MIME part. ``filename`` is metadata only, never a path."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False


@dataclass(frozen=True)
class ParsedMessage:
    """What intake reads out of the raw bytes; every string is already decoded."""

    message_id: str | None  # without angle brackets; None when absent or unusable
    subject: str
    sender: Address | None  # the From address, if it parsed as one valid address
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    envelope_to: tuple[str, ...]  # Delivered-To, X-Original-To, Envelope-To
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    body_text: str
    body_html: str | None
    attachments: tuple[AttachmentPart, ...]
    headers: tuple[tuple[str, str], ...]  # decoded (name, value) pairs, in order
    defects: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """First value of a header, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def header_all(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(v for k, v in self.headers if k.lower() == wanted)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the message was sent to, header and envelope."""
        seen = dict.fromkeys([a.addr for a in self.to + self.cc] + list(self.envelope_to))
        return tuple(seen)


@dataclass(frozen=True)
class BounceReport:
    """What a delivery report says: who failed, how, and about which message."""

    failed_recipients: tuple[str, ...] = ()
    status: str = ""  # e.g. "5.1.1"
    action: str = ""  # e.g. "failed", "delayed"
    original_message_id: str | None = None
    permanent: bool = False


@dataclass(frozen=True)
class Classification:
    """Whether a message came from a person, a machine or a loop, and why."""

    kind: MailKind = "human"
    reasons: tuple[str, ...] = ()
    bounce: BounceReport | None = None

    @property
    def automatic(self) -> bool:
        """Never answer this message automatically (RFC 3834)."""
        return self.kind != "human"

    @property
    def opens_ticket(self) -> bool:
        return self.kind in OPENS_TICKET


ThreadReason = Literal["token", "in-reply-to", "references", "subject-tag", "new"]


@dataclass(frozen=True)
class ThreadDecision:
    """Which ticket a message belongs to and the rule that decided it."""

    ticket_id: int | None
    reason: ThreadReason
    detail: str = ""
    role: str = ""  # threaded by a reply token: the role it was issued to ("c" customers, "a..." one agent)
    follows: int | None = None  # a new ticket that continues this closed (or long resolved) one
    joins: tuple[int, ...] = ()  # tickets opened by replies to this message that arrived before it


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment as kept on disk, by content hash."""

    filename: str
    content_type: str
    size: int
    sha256: str
    path: str  # relative to data_dir
    content_id: str = ""
    inline: bool = False


@dataclass(frozen=True)
class Outcome:
    """The fate of one raw message, as the intake loop decided it."""

    status: Literal["stored", "answered", "duplicate", "quarantined", "already"]
    ticket_id: int | None = None
    message_pk: int | None = None
    quarantine_id: int | None = None
    request_id: int | None = None  # "answered": an agent's question, opening no ticket
    reason: str = ""
    new_ticket: bool = False
    extra: tuple[str, ...] = field(default=())
