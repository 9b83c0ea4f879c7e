"""Cheap, never-raising readers for parsed mail: headers, content types, parts and body text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.headerregistry import UnstructuredHeader
from email.message import Message
from email.policy import EmailPolicy
from email.utils import parseaddr
from functools import cached_property, lru_cache
from typing import Any

MAX_TEXT = 200_000  # characters of body text worth reading in any message
_MAX_DEPTH, _MAX_PARTS = 12, 200

_TOKEN = r"[A-Za-z0-9!#$%&'+.^_`{|}~-]+"  # an RFC 2045 token without "*", which marks RFC 2231 parameters
#: A Content-Type value (stripped) plain enough to read without the header parser: no comments, escapes or encodings.
_PLAIN_CONTENT_TYPE = re.compile(
    rf"({_TOKEN}/{_TOKEN})((?:[ \t]*;[ \t]*{_TOKEN}[ \t]*=[ \t]*(?:{_TOKEN}|\"[^\"\\;]*\"))*)[ \t]*;?"
)
_PARAM = re.compile(rf";[ \t]*({_TOKEN})[ \t]*=[ \t]*({_TOKEN}|\"[^\"\\;]*\")")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
_WORD = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
#: A From value (stripped) in the everyday shapes ``Name <addr>``, ``"Name" <addr>``, ``<addr>`` and ``addr``.
_PLAIN_MAILBOX = re.compile(rf"(?:\"([^\"\\]*)\"|({_WORD}(?:[ \t]+{_WORD})*))?[ \t]*<{_ADDR_SPEC}>|{_ADDR_SPEC}")


def clean(text: str) -> str:
    """Turn undecodable bytes carried as surrogates back into readable text."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that never was a byte
        return text.encode("utf-8", "replace").decode("utf-8")


def decode_words(text: str) -> str:
    """Unstructured header text with its RFC 2047 encoded words decoded, as the header registry reads it."""
    if "=?" not in text:
        return text
    kwds: dict[str, object] = {"defects": []}
    try:
        UnstructuredHeader.parse(text, kwds)
        return str(kwds["decoded"])
    except Exception:  # a value the parser chokes on stays as written
        return text


@lru_cache(maxsize=256)
def _unstructured(policy: EmailPolicy, name: str) -> bool:
    """Whether the policy reads this header as free text (so its raw value can be used as it is)."""
    factory: Any = policy.header_factory  # a HeaderRegistry, typed only as a callable
    return issubclass(factory[name], UnstructuredHeader)


def _unfold(value: object) -> str:
    """A stored header value without its line breaks, as the policy unfolds it (header objects as they are)."""
    return str(value) if hasattr(value, "name") else str(value).replace("\r", "").replace("\n", "")


def _raw_values(msg: Message, name: str) -> list[object]:
    return [value for key, value in msg.raw_items() if key.lower() == name]


def _field_text(value: object) -> str:
    """One stored header value as the policy would present it, before cleaning."""
    return str(value) if hasattr(value, "name") else decode_words(_unfold(value))


def headers(msg: Message, name: str, raw: list[object] | None = None) -> list[str]:
    """Every value of a header as plain text; raw values when parsing fails. Never raises.

    Free-text headers are read from the stored values without the header registry;
    ``raw`` may hold those values when the caller already collected them.
    """
    name = name.lower()
    try:
        if isinstance(msg.policy, EmailPolicy) and _unstructured(msg.policy, name):
            values = _raw_values(msg, name) if raw is None else raw
            return [clean(_field_text(value)).strip() for value in values]
    except Exception:  # fall back to the policy's own reading
        pass
    try:
        return [clean(str(value)).strip() for value in msg.get_all(name) or []]
    except Exception:  # a malformed header the policy could not parse
        pass
    try:
        return [clean(" ".join(str(v).split())) for k, v in msg.raw_items() if k.lower() == name]
    except Exception:
        return []


def header(msg: Message, name: str) -> str | None:
    """The first value of a header as plain text, or None."""
    values = headers(msg, name)
    return values[0] if values else None


def _first_raw(part: Message, name: str) -> str | None:
    """The first stored value of a header, unfolded, or None when absent."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return _unfold(value)
    return None


def content_type(part: Message) -> str:
    """The part's content type, lower-cased; text/plain when unreadable."""
    try:
        value = _first_raw(part, "content-type")
        if value is None:
            return part.get_default_type()
        plain = _PLAIN_CONTENT_TYPE.fullmatch(value.strip(" \t"))
        return plain.group(1).lower() if plain else part.get_content_type()
    except Exception:
        return "text/plain"


def content_charset(part: Message) -> str | None:
    """The part's charset parameter, lower-cased, or None."""
    try:
        value = _first_raw(part, "content-type")
        plain = _PLAIN_CONTENT_TYPE.fullmatch((value or "").strip(" \t"))
        if not plain:
            return part.get_content_charset()
        for key, param in _PARAM.findall(plain.group(2)):
            if key.lower() == "charset":
                charset = param[1:-1] if param.startswith('"') else param
                return charset.lower() if charset.isascii() else None
        return None
    except Exception:
        return None


def content_param(part: Message, name: str) -> str:
    """A Content-Type parameter, lower-cased, or ""."""
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    value = value[2] if isinstance(value, tuple) else value
    return clean(str(value)).strip().lower() if value else ""


def plain_mailbox(value: str) -> tuple[str, str] | None:
    """Display name and address of an everyday From value, or None when it needs the full parser."""
    found = _PLAIN_MAILBOX.fullmatch(value.strip(" \t"))
    if not found:
        return None
    quoted, bare, addr, alone = found.groups()
    name = quoted if quoted is not None else bare or ""
    name = decode_words(name).strip() if "=?" in name else " ".join(name.split())
    return clean(name), addr or alone


def walk(msg: Message, depth: int = 0) -> Iterator[tuple[Message, str]]:
    """Yield a message and its MIME descendants with their content types, attached messages left closed."""
    kind = content_type(msg)
    yield msg, kind
    if depth >= _MAX_DEPTH or not kind.startswith("multipart/"):
        return
    try:
        payload = msg.get_payload()
    except Exception:
        return
    if isinstance(payload, list):
        for sub in payload[:_MAX_PARTS]:
            if isinstance(sub, Message):
                yield from walk(sub, depth + 1)


def iter_parts(msg: Message) -> Iterator[Message]:
    """Yield a message and its MIME descendants without entering attached messages."""
    return (part for part, _ in walk(msg))


def part_text(part: Message) -> str:
    """The decoded text of one leaf part, LF line ends, bad charsets read as UTF-8."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return ""
    if not isinstance(data, bytes):
        return ""
    data = data[: MAX_TEXT * 2].replace(b"\r\n", b"\n")
    try:
        return data.decode(content_charset(part) or "utf-8", "replace")
    except Exception:  # unknown or broken charset name
        return data.decode("utf-8", "replace")


def html_text(html: str) -> str:
    """Rough readable text of HTML: line breaks kept, tags and common entities gone."""
    text = re.sub(r"<br\s*/?>|</(?:p|div|tr|li)>", "\n", html, flags=re.I)
    text = re.sub(r"<[^>]*>|&nbsp;", " ", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _readable(part: Message, kind: str) -> str:
    """How a part is read for body text: "plain", "html" or "" (not at all)."""
    if kind.startswith("text/plain") or (kind.startswith("multipart/") and not part.is_multipart()):
        return "plain"  # a multipart without a usable boundary is just text
    return "html" if kind == "text/html" else ""


class MailView:
    """One message's headers, parts and text, each read at most once and only when asked for."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self._texts: dict[int, str] = {}

    @cached_property
    def fields(self) -> dict[str, list[object]] | None:
        """Stored header values by lower-cased name, in order; None when they cannot be read."""
        fields: dict[str, list[object]] = {}
        try:
            for key, value in self.msg.raw_items():
                fields.setdefault(str(key).lower(), []).append(value)
        except Exception:
            return None
        return fields

    def headers(self, name: str) -> list[str]:
        """Every value of a header as plain text (see :func:`headers`)."""
        fields = self.fields
        return headers(self.msg, name, None if fields is None else fields.get(name.lower(), []))

    def header(self, name: str) -> str | None:
        """The first value of a header as plain text, or None."""
        values = self.headers(name)
        return values[0] if values else None

    @cached_property
    def header_names(self) -> frozenset[str]:
        """Lower-cased names of the headers present."""
        if self.fields is not None:
            return frozenset(self.fields)
        try:
            return frozenset(str(key).lower() for key in self.msg)
        except Exception:
            return frozenset()

    @cached_property
    def author(self) -> tuple[str, str, bool]:
        """The From display name, its address ("" when missing or <>) and whether From is literally <>."""
        raw = (self.fields or {}).get("from")
        value = _unfold(raw[0]) if raw and not hasattr(raw[0], "name") else ""
        plain = plain_mailbox(value) if value and isinstance(self.msg.policy, EmailPolicy) else None
        if plain:
            return plain[0], plain[1], "<>" in value.replace(" ", "")
        value = header(self.msg, "from") or ""
        name, addr = parseaddr(value)
        return name, addr.strip("<> "), "<>" in value.replace(" ", "")

    @cached_property
    def parts(self) -> list[tuple[Message, str]]:
        """The message and its MIME descendants with their content types."""
        return list(walk(self.msg))

    @cached_property
    def part_types(self) -> frozenset[str]:
        return frozenset(kind for _, kind in self.parts)

    def _text_of(self, index: int) -> str:
        if index not in self._texts:
            self._texts[index] = part_text(self.parts[index][0])
        return self._texts[index]

    @cached_property
    def text(self) -> str:
        """The message's own readable text (plain parts, else HTML), attached messages left out."""
        found: dict[str, list[str]] = {"plain": [], "html": []}
        for index, (part, kind) in enumerate(self.parts):
            readable = _readable(part, kind)
            if readable:
                found[readable].append(self._text_of(index))
        if found["plain"]:
            return "\n".join(found["plain"])[:MAX_TEXT]
        return html_text("\n".join(found["html"])[:MAX_TEXT])

    @cached_property
    def opening(self) -> str:
        """The first visible character of :attr:`text` or of its first plain part, or "" when blank."""
        for index, (part, kind) in enumerate(self.parts):
            if _readable(part, kind) == "plain":
                head = self._text_of(index).lstrip()
                if head:
                    return head[0]
        stripped = self.text.lstrip()
        return stripped[:1]


def body_text(msg: Message) -> str:
    """The message's own readable text (plain parts, else HTML), attached messages left out."""
    return MailView(msg).text
