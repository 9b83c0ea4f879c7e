"""Extract what the sender newly wrote in a reply: no quoted history, no signature.

* ``>``-quoted lines are dropped wherever they are; unquoted lines between
  quotes (an interleaved reply) are kept.  A user's own ``>``-starting line,
  such as a pasted shell prompt, is dropped too: it reads exactly like a quote.
* Attributions ("On <date>, Name <addr> wrote:" in several clients' and
  languages' shapes, wrapped over up to five lines) are dropped; one followed
  by unquoted text after new text cuts the rest, as the history is unquoted.
* Outlook header blocks ("From:" plus two of "Sent:/To:/Subject:"..., also
  localized), "-----Original Message-----" and forward markers cut the rest
  after new text; at the top (a forward without comment) only the marker and
  headers go and the forwarded text is kept.
* A "-- " line cuts the signature; "Sent from my iPhone"-style taglines,
  separator rules and blank lines are trimmed from the ends.

Each rule looks at a bounded stretch around one line, so time is linear.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("maildesk.intake")

_LONG = 300  # longer lines are never attributions, markers or header lines
_WRAP = 5  # an attribution may be wrapped over at most this many lines
_WINDOW = 12  # lines after "From:" searched for the rest of a header block
_TAGLINE_LEN = 200

_VERBS_AT_END = (
    r"wrote|writes|wrote the following|a écrit|a ecrit|escribió|escribio|escreveu|"
    r"ha scritto|geschreven|kirjoitti|napisał\(a\)|napisała|napisał|napsal\(a\)|napsal|"
    r"написал\(а\)|написала|написал|написав|пише|написа|yazdı|写道|寫道|のメッセージ|書きました|작성"
)
_VERBS_BEFORE_NAME = r"schrieb|schreef|skrev"
_ATTR_END = re.compile(
    rf"(?:(?:{_VERBS_AT_END})\s*|(?:{_VERBS_BEFORE_NAME})\b.{{0,100}})[:：]\s*$",
    re.I,
)
_ATTR_END_BARE = re.compile(rf"(?:{_VERBS_AT_END})\s*$", re.I)
_YEAR_OR_DATE = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
_OPENER_WORD = re.compile(r"^(?:On|Am|Le|El|Op|Em|Il|Den|Dnia|W dniu|At|Dne|På)\b")
_OPENER = re.compile(rf"{_OPENER_WORD.pattern}|^\d")
_WHEN = re.compile(rf"{_YEAR_OR_DATE.pattern}|\d{{1,2}}:\d{{2}}")
_ADDRESS = re.compile(r"[\w.+-]@[\w-]+\.\w")
_DATE_FIRST = re.compile(  # Gmail: "2016-03-03 17:21 GMT+01:00 Name <addr>:"
    r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}"
    r"(?:\s+\d{1,2}:\d{2}(?:\s*(?P<gmt>GMT[+-]\d{1,2}:\d{2}))?)?"
    r"\s+[^:<>]{1,80}?(?P<addr><\s*[^<>\s]+@[^<>\s]+\s*>)?\s*:?$"
)

_ORIGINAL = (
    r"original message|ursprüngliche nachricht|original-nachricht|originalnachricht|"
    r"message d['’]origine|message original|mensaje original|messaggio originale|"
    r"oorspronkelijk bericht|origineel bericht|ursprungligt meddelande|"
    r"opprinnelig melding|oprindelig meddelelse|mensagem original|wiadomość oryginalna|"
    r"oryginalna wiadomość|исходное сообщение|původní zpráva|alkuperäinen viesti"
)
_FORWARDED = (
    r"forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"doorgestuurd bericht|messaggio inoltrato|mensagem encaminhada|"
    r"vidarebefordrat meddelande|videresendt melding|videresendt meddelelse|"
    r"przekazana wiadomość|wiadomość przekazana|пересылаемое сообщение|přeposlaná zpráva"
)
_MARKER = re.compile(
    rf"^[\s*_]*-{{2,}}\s*(?:{_ORIGINAL}|{_FORWARDED})\s*-{{2,}}[\s*_]*$"
    r"|^[\s*]*(?:begin forwarded message|anfang der weitergeleiteten nachricht|"
    r"début du message (?:réexpédié|transféré)|inicio del mensaje reenviado|"
    r"comienzo del mensaje reenviado|begin doorgestuurd bericht|inizio messaggio inoltrato)"
    r"\s*:[\s*]*$",
    re.I,
)

_FROM_KEYS = (
    "from|von|de|da|från|fra|van|afzender|od|от|від|lähettäjä|feladó|kimden|"
    "发件人|寄件者|差出人"
)
_OTHER_KEYS = (
    "sent|date|to|cc|bcc|subject|reply-to|importance|gesendet|datum|an|betreff|antwort an|"
    "envoyé|envoyé le|à|a|objet|répondre à|enviado|enviado el|enviada|fecha|para|asunto|"
    "responder a|inviato|data|oggetto|risposta|rispondi a|verzonden|aan|onderwerp|"
    "beantwoorden aan|skickat|till|ämne|kopia|sendt|til|emne|kopi|dato|assunto|wysłano|"
    "do|temat|dw|отправлено|кому|тема|копия|дата|надіслано|"
    "日期|收件人|主题|主旨|送信日時|宛先|件名"
)
_FROM_LINE = re.compile(rf"^[\s*]*(?:{_FROM_KEYS})[\s*]*[:：][\s*]*\S", re.I)
_OTHER_LINE = re.compile(rf"^[\s*]*(?:{_OTHER_KEYS})[\s*]*[:：]", re.I)

_SEPARATOR = re.compile(r"^\s*[-_=*+#]{2,}\s*$")
_INVISIBLE = frozenset(" \t\u00a0\u200b\u200c\u200d\u2060\ufeff\u1427")
_TAGLINE = re.compile(
    r"^[\s(<\[*_]*(?:"
    r"(?:sent|envoyé|envoye|enviado|gesendet|verzonden|verstuurd|inviato|sendt|skickat|"
    r"wysłane|odesláno|отправлено|надіслано|lähetetty)\s+"
    r"(?:from|with|via|by|using|on|depuis|de|avec|desde|con|do|von|mit|met|vanaf|van|da|dal|"
    r"fra|från|med|z|ze|с|із|з)\b"
    r"|get\s+\[?outlook\s+for\b"
    r"|von\s+meinem\b.{0,60}\bgesendet"
    r"|diese\s+nachricht\s+wurde\s+von\s+meinem\b.{0,80}\bgesendet"
    r"|from\s+my\s+(?:iphone|ipad|ipod|android|mobile|phone|cell|smartphone|samsung|galaxy|"
    r"blackberry|pixel|huawei|xiaomi|nokia|htc)\b"
    r"|(?:從|从)我的.{0,30}(?:傳送|发送)|发自我的|.{0,30}から送信)",
    re.I,
)
_TAGLINE_TAIL = re.compile(
    r"\bfrom\s+(?:my\s+)?(?:mobile|phone|cell(?:\s?phone)?|smartphone)\W*$", re.I
)


def extract_new_text(text: str) -> str:
    """The part of a plain-text body the sender newly wrote; "" when there is none."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ""
    try:
        return _extract(text)
    except Exception:  # a defect here must never lose a message
        log.exception("reply extraction failed; keeping the whole body")
        return text.strip()


def _extract(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = _scan(lines)
    _trim_tail(kept)
    start = 0
    while start < len(kept) and _is_filler(kept[start]):
        start += 1
    return "\n".join(kept[start:]).rstrip()


def _scan(lines: list[str]) -> list[str]:
    """Walk the body once, keeping new text and stopping where the history starts."""
    kept: list[str] = []
    fresh = False  # some new text has been kept
    dropped = False  # something was dropped since the last kept line
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        skip_to = _history_at(lines, i, fresh, kept)
        if skip_to is None:  # the rest is history
            break
        if skip_to > i:
            i, dropped = skip_to, True
            continue
        if fresh and line.rstrip() == "--":
            break
        if dropped and not line.strip() and (not kept or not kept[-1].strip()):
            i += 1
            continue
        kept.append(line)
        dropped = False
        fresh = fresh or _is_content(line)
        i += 1
    return kept


def _history_at(lines: list[str], i: int, fresh: bool, kept: list[str]) -> int | None:
    """Where to go on from line ``i``: ``i`` keeps it, more drops lines, None cuts the rest."""
    line = lines[i]
    if _is_quoted(line):
        return i + 1
    if not line.strip() or len(line) > _LONG:
        return i
    end = _attribution_end(lines, i)
    if end is not None:
        after = _next_nonblank(lines, end + 1)
        if fresh and after is not None and not _is_quoted(lines[after]):
            return None
        return end + 1
    if line.rstrip()[-1] in ":：" and _introduces_quote(lines, i):
        return i + 1
    if _MARKER.match(line):
        return None if fresh else i + 1
    end = _header_block_end(lines, i, kept)
    if end is not None:
        return None if fresh else end + 1
    return i


def _attribution_end(lines: list[str], i: int) -> int | None:
    """Index of the last line of an attribution starting at line ``i``, if one does."""
    dated = _date_first_end(lines, i)
    if dated is not None:
        return dated
    first = lines[i].strip()
    if first[-1] in ":：-" and _is_attribution(first):
        return i
    dated_start = _OPENER.match(first) and _WHEN.search(first)
    if not dated_start and not ("@" in first and _ADDRESS.search(first)):
        return None  # only a dated or addressed first line may wrap on
    parts = [first]
    for j in range(i + 1, min(i + _WRAP, len(lines))):
        cur = lines[j].strip()
        if not cur:
            continue
        if len(cur) > _LONG or (_is_quoted(cur) and len(cur) > 12) or _OPENER_WORD.match(cur):
            return None
        parts.append(cur)
        if cur[-1] in ":：-" and _is_attribution(" ".join(parts)):
            return j
    return None


def _introduces_quote(lines: list[str], i: int) -> bool:
    """An undated "Name wrote:", or a dated "<when> Name <addr>:", right above a quote."""
    line = lines[i]
    if len(line) > 200:
        return False
    if not _ATTR_END.search(line) and not ("@" in line and _WHEN.search(line)):
        return False
    after = _next_nonblank(lines, i + 1)
    return after is not None and _is_quoted(lines[after])


def _is_attribution(candidate: str) -> bool:
    """Whether joined lines read as "<when>, <who> wrote:" in some client's shape."""
    wrapped = candidate.startswith("--") and candidate.endswith("--")
    core = candidate.strip("-* ")
    if len(core) > 400:
        return False
    if not ("@" in core or _YEAR_OR_DATE.search(core)):
        return False
    opener = _OPENER_WORD.match(core)
    if opener and not any(c.isdigit() for c in core[opener.end() : opener.end() + 30]):
        return False  # "On the second laptop ... wrote:" is prose, not a date
    return bool(_ATTR_END.search(core) or (wrapped and _ATTR_END_BARE.search(core)))


def _date_first_end(lines: list[str], i: int) -> int | None:
    """Gmail's "2016-03-03 17:21 GMT+01:00 Name <addr>:" attribution, wrapped or not."""
    if not lines[i].lstrip()[:4].isdigit():
        return None
    joined, found = "", None
    for j in range(i, min(i + 3, len(lines))):
        cur = lines[j].strip()
        if not cur or len(cur) > _LONG:
            break
        joined = f"{joined} {cur}".strip()
        m = _DATE_FIRST.match(joined)
        if m and (m.group("gmt") or m.group("addr")):
            if cur.endswith(":"):
                return j
            found = j if j == i else found
    return found


def _header_block_end(lines: list[str], i: int, kept: list[str]) -> int | None:
    """Last line of a "From: / Sent: / To: / Subject:" block starting at ``i``, if one does."""
    if not _FROM_LINE.match(lines[i]):
        return None
    after_rule = any(_SEPARATOR.match(k) for k in kept[-2:])
    keys: set[str] = set()
    last, after_blank = i, False
    for j in range(i + 1, min(i + 1 + _WINDOW, len(lines))):
        cur = lines[j]
        if not cur.strip():
            after_blank = True
            continue
        if _FROM_LINE.match(cur):
            break  # the next block starts
        if _OTHER_LINE.match(cur):
            keys.add(re.split("[:：]", cur, maxsplit=1)[0].strip(" *\t").lower())
            last = j
        elif after_blank:
            break
        after_blank = False
    if len(keys) < (1 if after_rule else 2):
        return None
    end = last
    while end + 1 < len(lines) and lines[end + 1].strip() and end - last < 3:
        end += 1
    return end


def _trim_tail(kept: list[str]) -> None:
    """Drop trailing blank lines, separator rules, invisible marks and mobile taglines."""
    while kept and (_is_filler(kept[-1]) or _is_tagline(kept[-1])):
        kept.pop()


def _is_quoted(line: str) -> bool:
    return line.lstrip(" \t")[:1] == ">"


def _is_filler(line: str) -> bool:
    """Blank, a separator rule, or only invisible marks."""
    return all(c in _INVISIBLE for c in line) or bool(_SEPARATOR.match(line))


def _is_tagline(line: str) -> bool:
    """A client's "Sent from my iPhone"-style line."""
    text = line.strip()
    if not text or len(text) > _TAGLINE_LEN:
        return False
    if _TAGLINE.match(text):
        words = [w for w in text.split() if "://" not in w and not w.startswith("<")]
        return len(words) <= 12
    return bool(_TAGLINE_TAIL.search(text)) and len(text.split()) <= 5


def _is_content(line: str) -> bool:
    """A line that shows the sender wrote something: not filler, not a tagline."""
    return not _is_filler(line) and not _is_tagline(line)


def _next_nonblank(lines: list[str], start: int) -> int | None:
    for j in range(start, len(lines)):
        if lines[j].strip():
            return j
    return None
