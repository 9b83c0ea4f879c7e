"""Render outgoing notices from sandboxed Jinja templates: built-in files, replaced per file by an admin's."""

from __future__ import annotations

import copy
import logging
import re
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from maildesk.errors import MaildeskError

log = logging.getLogger("maildesk.notify")



def builtin_dir(*, source: Path = Path(__file__).resolve().parents[2] / "templates",
                installed: Path = Path(sysconfig.get_path("data")) / "share" / "maildesk" / "templates") -> Path:
    """The built-in templates: ``templates/`` of a source checkout, else where the wheel put them."""
    return source if source.is_dir() or not installed.is_dir() else installed


BUILTIN_DIR = builtin_dir()

NOTICES: tuple[str, ...] = ("acknowledgement", "alert", "relay", "status", "escalation", "resolution", "receipt",
                           "answer", "forward", "sla", "update", "admin", "digest")
PARTS: tuple[str, ...] = ("subject", "txt", "html")  # NAME.PART.j2; only html may be absent

COMMON_VARIABLES: tuple[str, ...] = ("desk", "ticket", "recipient", "reply_address")
NOTICE_VARIABLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "acknowledgement": ("help_links", "articles"),
    "alert": ("message", "articles", "files", "files_unlisted"),
    "relay": ("message", "agent_name"),
    "status": ("old_status", "new_status"),
    "escalation": ("history", "handover", "files", "files_unlisted"),
    "resolution": ("resolution",),
    "receipt": ("results",),
    "answer": ("results",),
    "forward": ("message", "files", "files_unlisted"),
    "sla": ("sla",),
    "update": (),
    "admin": ("problem",),
    "digest": ("digest",),
})

_SAMPLE_MESSAGE: dict[str, object] = {
    "sender": "dana@customer.example",        # address of the message's author
    "sender_name": "Dana Reyes",              # display name; may be ""
    "date": "2024-05-02T09:14:00+00:00",      # ISO 8601 (or a datetime); may be ""
    "subject": "Cannot log in after password reset",
    "new_text": "Hello,\n\nSince resetting my password this morning I get \"invalid credentials\".\n\nThanks,\nDana",
}

# Every variable a notice template may use; COMMON_VARIABLES go to every notice, NOTICE_VARIABLES
# names the others each notice gets. Values from mail (subjects, texts, names) are untrusted.
SAMPLE_CONTEXT: Mapping[str, object] = MappingProxyType({
    "desk": {"name": "Example Support", "address": "support@example.test"},
    "ticket": {"id": 123, "subject": "Cannot log in after password reset", "status": "open", "tier": "L1",
               "priority": "normal", "requester": "dana@customer.example", "assignee": "alice@example.test",
               "created_at": "2024-05-02T09:14:05+00:00"},
    "recipient": {"address": "dana@customer.example", "name": "Dana Reyes"},
    "reply_address": "support+123-c-0123456789abcdef0123@example.test",
    "message": _SAMPLE_MESSAGE,               # the message the notice is about (alert, relay)
    "agent_name": "Alice Martin",             # relay: the agent's name, never their address
    "help_links": [{"title": "Reset your password", "url": "https://help.example.test/password"}],
    "articles": [{"id": 7, "title": "Locked out after a password reset",   # published knowledge articles
                  "excerpt": "Wait 15 minutes, then sign in with the new password; the old one is cached."}],
    "old_status": "open",
    "new_status": "pending",
    "resolution": "Your account was locked after several failed attempts; we have unlocked it.",
    "history": [_SAMPLE_MESSAGE,              # escalation: every message of the ticket, oldest first
                {**_SAMPLE_MESSAGE, "sender": "alice@example.test", "sender_name": "Alice Martin",
                 "date": "2024-05-02T10:02:00+00:00", "subject": "Re: Cannot log in after password reset",
                 "new_text": "Hi Dana,\n\nCould you tell us which browser you use?\n\nAlice"}],
    "handover": {"from_tier": "L1", "to_tier": "L2", "reason": "The account lock needs an administrator.",
                 "tried": "Password reset link, cleared the browser session.",
                 "time_in_tier": timedelta(hours=26, minutes=5)},   # a timedelta, seconds or text
    "files": [{"name": "screenshot.png", "size": 48213, "status": "attached"},   # files of the message or
              {"name": "trace.zip", "size": 31_000_000, "status": "over the limit"},  # ticket, names made safe
              {"name": "setup.exe", "size": 90112, "status": "not attached: a program or script"}],
    "files_unlisted": 0,
    "results": {"done": ["status pending"], "failed": ["tier L9: no such tier"], "ignored": ["thanks!"],
                "answers": ["Your open tickets, oldest first (1):\n  #123 2h normal L1 open, owner you: Cannot log in"]},
    "sla": {"clock": "first_response", "what": "warning",      # sla: a warning or a breach of one clock
            "due_at": "2024-05-02T10:14:05+00:00", "escalated_to": "L2"},
    "digest": {"day": "2024-05-02", "tiers": ["L1"],              # digest: the agent's day, oldest first
               "mine": [{"id": 123, "subject": "Cannot log in after password reset", "status": "open",
                         "tier": "L1", "priority": "high", "age": timedelta(hours=26),
                         "sla": {"state": "running", "clock": "resolution", "due_at": "2024-05-02T16:00:00+02:00"},
                         "reply_address": "support+123-a1b2c3@example.test"}],
               "mine_unlisted": 0,
               "unowned": [{"id": 124, "subject": "Printer offline", "status": "new", "tier": "L1",
                            "priority": "normal", "age": timedelta(hours=3),
                            "sla": {"state": "breached", "clock": "first_response",
                                    "due_at": "2024-05-02T09:00:00+02:00"},
                            "reply_address": "support+124-d4e5f6@example.test"}],
               "unowned_unlisted": 0},
    "problem": {"mailbox": "support", "state": "failing",      # admin: a mailbox failing or recovered
                "error": "imap.example.test refused the login of 'support'", "kind": "auth",
                "since": "2024-05-02T09:00:00+00:00", "hint": "Run `maildesk auth login support`."},
})

# The acknowledgement shows nothing a sender wrote, so nobody can relay content through the desk.
_ACK_TICKET_KEYS = ("id", "status", "tier", "priority", "created_at")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


class TemplateError(MaildeskError):
    """A notice template is unknown, missing, broken or failed to render; the message names the file."""

    def __init__(self, message: str, *, template: str | None = None, line: int | None = None) -> None:
        self.template = template
        self.line = line
        super().__init__(message)


def sample_context(name: str) -> dict[str, object]:
    """A fresh copy of the sample variables one notice receives: the common ones plus its own."""
    if name not in NOTICE_VARIABLES:
        raise TemplateError(_unknown(name), template=name)
    return copy.deepcopy({key: SAMPLE_CONTEXT[key] for key in (*COMMON_VARIABLES, *NOTICE_VARIABLES[name])})


class Templates:
    """The notice templates of one desk: built-in files, each replaceable by one in ``override_dir``."""

    def __init__(self, *, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        self.search_path = [p for p in (override_dir, BUILTIN_DIR) if p is not None]
        if override_dir is not None and not override_dir.is_dir():
            log.warning("templates directory %s does not exist; using the built-in templates", override_dir)
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(p) for p in self.search_path]),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False,
                                                default=False),
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
            auto_reload=False)  # templates are read once per process: restart to pick up edits
        self.env.filters.update(duration=duration, when=when, paragraphs=paragraphs, filesize=filesize)

    def render(self, name: str, context: Mapping[str, object], *, family: str | None = None) -> Rendered:
        """Subject (one line), text and optional HTML of notice ``name``; raises TemplateError.

        ``family`` names other files to use (``FAMILY.subject.j2``...), e.g. a routing rule's own
        acknowledgement; they get exactly the variables notice ``name`` gets.
        """
        if name not in NOTICES:
            raise TemplateError(_unknown(name), template=name)
        variables = _screen(name, context)
        files = family or name
        subject = self._render(f"{files}.subject.j2", variables) or ""
        text = self._render(f"{files}.txt.j2", variables) or ""
        html = self._render(f"{files}.html.j2", variables, optional=True)
        return Rendered(subject=one_line(subject), text=text, html=html if html and html.strip() else None)

    def check(self, families: Mapping[str, str] = MappingProxyType({})) -> list[str]:
        """Every problem found by rendering each file of each notice with its sample context;
        ``families`` maps extra template families (a rule's ``then.template``) to the notice they stand for."""
        problems = self._check_directory(families)
        for name, notice in [*((n, n) for n in NOTICES), *families.items()]:
            variables = _screen(notice, sample_context(notice))
            for part in PARTS:
                file = f"{name}.{part}.j2"
                try:
                    out = self._render(file, variables, optional=part == "html")
                except TemplateError as exc:
                    problems.append(str(exc))
                    continue
                if part != "html" and out is not None and not out.strip():
                    problems.append(f"template {self._path_of(file)}: renders to nothing")
        return problems

    def _check_directory(self, families: Mapping[str, str]) -> list[str]:
        if self.override_dir is None:
            return []
        if not self.override_dir.is_dir():
            return [f"templates directory {self.override_dir} does not exist"]
        known = {f"{n}.{p}.j2" for n in (*NOTICES, *families) for p in PARTS}
        return [f"template {path}: not a notice template (expected NAME.subject.j2, NAME.txt.j2 or NAME.html.j2 "
                f"with NAME one of {', '.join(NOTICES)}; shared pieces start with '_')"
                for path in sorted(self.override_dir.glob("*.j2"))
                if path.name not in known and not path.name.startswith("_")]

    def _render(self, file: str, variables: Mapping[str, object], *, optional: bool = False) -> str | None:
        try:
            template = self.env.get_template(file)
        except jinja2.TemplateNotFound as exc:
            if optional and exc.name == file:
                return None
            raise self._failure(file, exc) from exc
        except Exception as exc:
            raise self._failure(file, exc) from exc
        try:
            return template.render(variables)
        except Exception as exc:
            raise self._failure(file, exc) from exc

    def _failure(self, file: str, exc: Exception) -> TemplateError:
        """A TemplateError naming the file (and line) at fault, and the notice file being rendered."""
        path, line = _location(exc)
        where = path or self._path_of(file)
        if Path(where).name != file:
            where += f" (rendering {file})"
        if isinstance(exc, jinja2.TemplateNotFound):
            dirs = ", ".join(str(p) for p in self.search_path)
            problem = f"no template {exc.name} in {dirs}"
        elif isinstance(exc, jinja2.exceptions.SecurityError):
            problem = f"blocked by the sandbox: {exc}"
        elif isinstance(exc, jinja2.TemplateSyntaxError):
            problem = f"syntax error: {exc.message}"
        elif isinstance(exc, jinja2.UndefinedError) and file.startswith("acknowledgement.") and _hidden(exc):
            problem = f"{exc} (the acknowledgement gets no subject, text or names from mail)"
        elif isinstance(exc, jinja2.TemplateError):
            problem = str(exc)
        else:
            problem = f"{type(exc).__name__}: {exc}"
        message = f"template {where}" + (f", line {line}" if line else "") + f": {problem}"
        return TemplateError(message, template=file, line=line)

    def _path_of(self, file: str) -> str:
        for directory in self.search_path:
            if (directory / file).is_file():
                return str(directory / file)
        return file


def _location(exc: Exception) -> tuple[str | None, int | None]:
    """The template file and line an exception arose in, from a syntax error or the traceback."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.filename, exc.lineno
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _hidden(exc: Exception) -> bool:
    """Whether an undefined name is one the acknowledgement is deliberately not given."""
    names = re.findall(r"'([^']*)'", str(exc))
    return bool(names) and names[-1] in {"subject", "requester", "name", "message", "history"}


def _unknown(name: str) -> str:
    return f"unknown notice {name!r} (templates {name}.*.j2); the notices are: {', '.join(NOTICES)}"


def _screen(name: str, context: Mapping[str, object]) -> dict[str, object]:
    """The variables a notice gets: all of them, except that the acknowledgement never sees mail content."""
    if name != "acknowledgement":
        return dict(context)
    safe = {key: context[key] for key in ("desk", "reply_address", "help_links", "articles") if key in context}
    if isinstance(ticket := context.get("ticket"), Mapping):
        safe["ticket"] = {key: ticket[key] for key in _ACK_TICKET_KEYS if key in ticket}
    if isinstance(recipient := context.get("recipient"), Mapping) and "address" in recipient:
        safe["recipient"] = {"address": recipient["address"]}
    return safe


def one_line(value: str) -> str:
    """A subject: control characters (CR, LF, tabs...) become spaces, runs of whitespace one space."""
    return " ".join(_CONTROL.sub(" ", value).split())


def duration(value: object) -> str:
    """Filter: a timedelta or seconds as "1 day 2 hours" / "45 minutes"; text passes through."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        return str(value)
    minutes = max(0, int(value.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    units = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}" + ("s" if n != 1 else "") for n, unit in units if n]
    return " ".join(words[:2]) or "less than a minute"


def when(value: object) -> str:
    """Filter: an ISO 8601 string or datetime as "2024-05-02 09:14 UTC"; anything else as text."""
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        return "" if value is None else str(value)
    offset = moment.utcoffset()
    zone = "" if offset is None else " UTC" if not offset else moment.strftime(" %z")
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def filesize(value: object) -> str:
    """Filter: a number of bytes as "512 bytes", "34 KB" or "1.2 MB"."""
    size = int(value) if isinstance(value, int) else 0
    if size < 1000:
        return f"{size} byte" + ("" if size == 1 else "s")
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1_000_000:.1f} MB"


def paragraphs(value: object) -> Markup:
    """Filter for HTML: plain text as escaped <p> paragraphs, line breaks kept as <br>."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    blocks = [block for block in re.split(r"\n[ \t]*\n", text) if block.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(escape(line) for line in block.split("\n")))
        for block in blocks)
