"""Best-effort text decoding for mail: charsets, encoded words, 8-bit headers, format=flowed, filenames."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

#: Labels that Python does not know, or knows under a narrower meaning than mail uses.
_ALIASES = {"windows-874": "cp874", "x-sjis": "cp932", "ks_c_5601-1987": "cp949", "x-gbk": "gbk"}
#: Codecs to try for a declared one: wider supersets first, as browsers do.
_WIDER: dict[str, tuple[str, ...]] = {
    "ascii": ("utf-8", "cp1252"),
    "iso8859-1": ("cp1252", "iso8859-1"),
    "iso8859-9": ("cp1254", "iso8859-9"),
    "tis-620": ("cp874", "tis-620"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "shift_jis": ("cp932", "shift_jis"),
    "euc_kr": ("cp949",),
    "big5": ("big5hkscs", "cp950"),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext"),
}
#: Python codecs that no mail charset means and that could turn text into escapes.
_NOT_MAIL = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})
_FALLBACK = ("utf-8", "cp1252", "latin-1")
_EW = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _declared_codecs(label: str | None) -> list[str]:
    if not label:
        return []
    wanted = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(_ALIASES.get(wanted, wanted)).name
    except Exception:  # LookupError, or ValueError for names with NUL
        return []
    return [] if name in _NOT_MAIL else list(_WIDER.get(name, (name,)))


def decode_bytes(data: bytes, label: str | None, defects: list[str], where: str) -> str:
    """Text of ``data``: declared charset, else UTF-8, else windows-1252, else latin-1.

    A charset that fits all but a few bytes of text that is otherwise clearly in it is kept,
    with those bytes replaced, rather than reading everything in a wrong single-byte charset.
    """
    declared = _declared_codecs(label)
    plan = [(name, False) for name in declared] + [(name, True) for name in declared[:1]]
    plan += [("utf-8", False), ("utf-8", True), ("cp1252", False), ("latin-1", False)]
    for name, lenient in plan:
        text = _attempt(data, name, lenient)
        if text is None:
            continue
        if label and (lenient or name not in declared) and not data.isascii():
            how = f"{name} with bad bytes replaced" if lenient else name
            defects.append(f"{where}: charset {clean_header(label)[:40]!r} does not fit; read as {how}")
        return _SURROGATE.sub("\ufffd", text)
    return data.decode("latin-1")


def _attempt(data: bytes, name: str, lenient: bool) -> str | None:
    try:
        if not lenient:
            return data.decode(name)
        text = data.decode(name, "replace")
    except Exception:  # UnicodeError, or LookupError for codecs that are not text codecs
        return None
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    return text if good >= 10 * bad else None


def recover_8bit(value: str) -> str:
    """Undo the parser's surrogate escapes: raw 8-bit header bytes become UTF-8 or windows-1252 text."""
    if not _SURROGATE.search(value):
        return value
    try:
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None, [], "header")
    except UnicodeEncodeError:  # a surrogate that no byte stands for
        return _SURROGATE.sub("\ufffd", value)


def clean_header(value: str) -> str:
    """One line of text: control characters and line breaks become spaces, runs of space one."""
    return " ".join(_SURROGATE.sub("\ufffd", _CONTROL.sub(" ", value)).split())


def header_text(value: str) -> str:
    """A header value as readable text: 8-bit bytes and RFC 2047 words decoded, then cleaned."""
    return clean_header(decode_words(recover_8bit(value)))


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words in one charset are decoded together."""
    out: list[str] = []
    run: tuple[str, bytearray] | None = None
    pos = 0
    for match in _EW.finditer(text):
        gap, charset = text[pos:match.start()], match.group(1).lower()
        joins = pos > 0 and not gap.strip()  # only white space since the previous word
        if run is not None and not (joins and run[0] == charset):
            out.append(decode_bytes(bytes(run[1]), run[0], [], "header"))
            run = None
        if not joins:
            out.append(gap)
        if run is None:
            run = (charset, bytearray())
        run[1].extend(_word_bytes(match.group(2), match.group(3)))
        pos = match.end()
    if run is not None:
        out.append(decode_bytes(bytes(run[1]), run[0], [], "header"))
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(encoding: str, payload: str) -> bytes:
    data = payload.encode("utf-8", "surrogateescape")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return b64decode_lenient(data)


def b64decode_lenient(data: bytes) -> bytes:
    """Base64 that skips foreign characters and repairs padding instead of failing."""
    chunks: list[bytes] = []
    for piece in re.split(rb"=+", re.sub(rb"[^A-Za-z0-9+/=]", b"", data)):
        piece = piece[:-1] if len(piece) % 4 == 1 else piece
        if piece:
            chunks.append(base64.b64decode(piece + b"=" * (-len(piece) % 4)))
    return b"".join(chunks)


def unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676); quote depth is kept."""
    out: list[str] = []
    pending: list[str] = []
    pending_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content.removeprefix(" ")  # space-stuffing
        soft = content.endswith(" ") and content != "-- "
        if pending and depth != pending_depth:
            out.append(_quoted(pending_depth, "".join(pending)))
            pending = []
        pending.append(content[:-1] if soft and delsp else content)
        pending_depth = depth
        if not soft:
            out.append(_quoted(depth, "".join(pending)))
            pending = []
    if pending:
        out.append(_quoted(pending_depth, "".join(pending)))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    return (">" * depth + " " + content).rstrip(" ") if depth else content


def safe_filename(name: str) -> str:
    """A display name for an attachment: no directories, controls, bidi tricks or leading dots."""
    name = _BIDI.sub("", _CONTROL.sub("", unicodedata.normalize("NFC", name)))
    name = re.split(r"[/\\]", name)[-1]
    name = " ".join(name.split()).lstrip(". ").rstrip(" ")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 199 - len(ext)] + "." + ext if dot and 0 < len(ext) <= 16 else name[:200]
    return name or "attachment"
