"""Generated list mail for threading checks: Outlook conversations with In-Reply-To only, and patch series."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
LIST = "dev.lists.example.org"
PREFIXES = ("RE: ", "Re: ", "AW: ", "SV: ", "Antw: ", "R: ", "VS: ")  # what Outlook writes in each language


@dataclass
class Mail:
    """One generated message: its id, its parent links and its wire text."""

    message_id: str
    sender: str
    subject: str
    date: datetime
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    outlook: bool = False

    def as_bytes(self) -> bytes:
        lines = [f"From: {self.sender.split('@')[0].title()} <{self.sender}>", f"To: <devel@{LIST}>",
                 f"Subject: {self.subject}", f"Date: {format_datetime(self.date)}",
                 f"Message-ID: <{self.message_id}>", f"List-Id: Development <devel.{LIST}>",
                 "Precedence: list", "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"]
        if self.in_reply_to:
            lines.append(f"In-Reply-To: <{self.in_reply_to}>")
        if self.references:
            lines.append("References: " + " ".join(f"<{r}>" for r in self.references))
        if self.outlook:
            lines += ["X-Mailer: Microsoft Outlook 16.0", f"Thread-Topic: {self.subject.split(': ')[-1]}"]
        body = f"Message {self.message_id}.\n\n> quoted text from earlier in the thread\n"
        return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("ascii")


def _people(rng: random.Random, n: int = 40) -> list[str]:
    return [f"dev{i:02d}@{rng.choice(['corp.example.com', 'example.net', 'mail.example.org'])}" for i in range(n)]


def _arrival(mails: list[Mail], rng: random.Random, late: float) -> list[Mail]:
    """Date order, but a share ``late`` of messages is delivered up to four messages later (greylisting
    and list servers do that), so some replies arrive before their parents."""
    keyed = [(i + (rng.randint(1, 4) + 0.5 if rng.random() < late else 0), m)
             for i, m in enumerate(sorted(mails, key=lambda m: m.date))]
    return [m for _, m in sorted(keyed, key=lambda k: k[0])]


def outlook_conversations(count: int = 150, *, seed: int = 7, late: float = 0.2) -> list[Mail]:
    """Conversations where every reply names only its parent (In-Reply-To, no References)."""
    rng, people, mails = random.Random(seed), _people(random.Random(seed)), []
    for c in range(count):
        topic = f"Build failure on branch {c} ({rng.choice(['x86', 'arm', 'ppc'])})"
        at = START + timedelta(hours=c * 5)
        root = Mail(f"conv{c}.0@corp.example.com", rng.choice(people), topic, at, outlook=True)
        thread = [root]
        for r in range(1, rng.randint(1, 12)):
            parent = rng.choice(thread)
            at += timedelta(minutes=rng.randint(2, 90))
            subject = rng.choice(PREFIXES) + topic
            thread.append(Mail(f"conv{c}.{r}@corp.example.com", rng.choice(people), subject, at,
                               in_reply_to=parent.message_id, outlook=True))
        mails += thread
    return _arrival(mails, rng, late)


def patch_series(count: int = 80, *, seed: int = 11, late: float = 0.2) -> list[Mail]:
    """git send-email series: cover letter, patches answering it (or chained), reviews, v2 answering v1."""
    rng, people, mails = random.Random(seed), _people(random.Random(seed)), []
    for s in range(count):
        author, n, at = rng.choice(people), rng.randint(1, 8), START + timedelta(hours=s * 7)
        chain = rng.random() < 0.3  # --chain-reply-to: each patch answers the previous one
        bare = rng.random() < 0.25  # sent by a client that writes In-Reply-To only
        previous_cover: Mail | None = None
        for version in range(1, rng.randint(1, 3) + 1):
            tag = "PATCH" if version == 1 else f"PATCH v{version}"
            cover = Mail(f"series{s}.v{version}.0@{author.split('@')[1]}", author,
                         f"[{tag} 0/{n}] subsystem: rework part {s}", at)
            if previous_cover is not None:  # --in-reply-to the previous version's cover letter
                cover.in_reply_to = previous_cover.message_id
                cover.references = [] if bare else [*previous_cover.references, previous_cover.message_id]

            series = [cover]
            for k in range(1, n + 1):
                parent = series[-1] if chain else cover
                at += timedelta(seconds=1)
                series.append(Mail(f"series{s}.v{version}.{k}@{author.split('@')[1]}", author,
                                   f"[{tag} {k}/{n}] subsystem: step {k}", at, in_reply_to=parent.message_id,
                                   references=[] if bare else [*parent.references, parent.message_id]))
            for r in range(rng.randint(0, 6)):
                parent = rng.choice(series[1:] or series)
                at += timedelta(minutes=rng.randint(5, 300))
                series.append(Mail(f"series{s}.v{version}.r{r}@example.net", rng.choice(people),
                                   f"Re: {parent.subject}", at, in_reply_to=parent.message_id,
                                   references=[] if bare else [*parent.references, parent.message_id],
                                   outlook=bare))
            mails += series
            previous_cover, at = cover, at + timedelta(days=1)
    return _arrival(mails, rng, late)


SETS = {"outlook-in-reply-to": outlook_conversations, "patch-series": patch_series}
