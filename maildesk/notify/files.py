"""Which stored files go with a notice to an agent: within the size limit, never programs, each once per agent."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from maildesk.models import StoredAttachment
from maildesk.notify.compose import clean_text
from maildesk.notify.mime import OutFile

if TYPE_CHECKING:
    from maildesk.config import Config

MAX_FILES = 20  # files one notice carries, whatever their sizes; the rest are listed
MAX_LISTED = 50  # files one notice lists; beyond that it says how many more


@dataclass(frozen=True)
class Listed:
    """One file as the notice's text shows it: its name, size and what became of it."""

    name: str
    size: int
    status: str  # "attached", "sent before", "over the limit", "not attached: a program or script", "missing"


@dataclass(frozen=True)
class Selection:
    attached: tuple[OutFile, ...]
    listed: tuple[Listed, ...]
    unlisted: int  # files beyond MAX_LISTED
    digests: tuple[str, ...]  # of the attached files, to record as sent


def file_limit(config: Config, *, asked: bool) -> int:
    """Bytes of files one notice may carry: the notices' limit, or for files an agent ``asked`` for,
    up to what fits in a message (base64 makes a file a third bigger)."""
    notify = config.notify.attach_max_bytes
    return max(notify, config.limits.max_message_bytes * 3 // 4) if asked else notify


def select(files: Sequence[StoredAttachment], *, data_dir: Path, sent: Collection[str], limit: int,
           never: Collection[str]) -> Selection:
    """Attach what fits in ``limit`` bytes (in order), skipping programs, files sent before and files
    no longer on disk; every file is listed with what became of it."""
    attached: list[OutFile] = []
    listed: list[Listed] = []
    digests: list[str] = []
    room = limit
    for stored in files[:MAX_LISTED]:
        name = display_name(stored.filename)
        status = _why_not(stored, name, sent=sent, room=room, never=never, count=len(attached))
        data = _read(data_dir, stored) if status is None else None
        if status is None and data is None:
            status = "missing"
        if status is None and data is not None:
            attached.append(OutFile(name, stored.content_type, data, stored.content_id, stored.inline))
            digests.append(stored.sha256)
            room -= len(data)
            status = "attached"
        listed.append(Listed(name, stored.size, status))
    return Selection(tuple(attached), tuple(listed), max(0, len(files) - MAX_LISTED), tuple(digests))


def _why_not(stored: StoredAttachment, name: str, *, sent: Collection[str], room: int, never: Collection[str],
             count: int) -> str | None:
    if stored.sha256 in sent:
        return "sent before"
    if any(name.lower().endswith(ending) for ending in never):
        return "not attached: a program or script"
    if stored.size > room or count >= MAX_FILES:
        return "over the limit"
    return None


def _read(data_dir: Path, stored: StoredAttachment) -> bytes | None:
    """The file's bytes, or None when it is gone or no longer what was stored."""
    path = (data_dir / stored.path).resolve()
    if not path.is_relative_to(data_dir.resolve()):
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if len(data) == stored.size else None


def refusals(files: Sequence[StoredAttachment], *, limit: int, never: Collection[str]) -> list[str]:
    """Why an agent's files cannot go to the customer as they are: each too-large total, program or
    excess, one line each; empty when all of them may go."""
    problems = [f"{display_name(f.filename)}: a program or script is never sent; share it another way"
                for f in files if any(display_name(f.filename).lower().endswith(e) for e in never)]
    total = sum(f.size for f in files)
    if total > limit:
        problems.append(f"the files come to {total:,} bytes, more than the limit of {limit:,}: send fewer or "
                        "smaller ones")
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files, more than {MAX_FILES} in one reply")
    return problems


def display_name(filename: str) -> str:
    """The stored name (made safe at intake) once more as one clean line, never with a directory."""
    name = clean_text(filename.replace("/", "_").replace("\\", "_"), 200).lstrip(". ")
    return name or "attachment"
