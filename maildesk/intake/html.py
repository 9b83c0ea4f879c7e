"""Convert an HTML mail body to readable plain text, in linear time and without raising."""

from __future__ import annotations

import html as _html
import logging
import re
from html.parser import HTMLParser

log = logging.getLogger("maildesk.intake")

#: Elements whose content is never text for a reader.
_HIDDEN = frozenset({"head", "title", "noscript", "template", "script", "style"})
#: Elements that end a line before and after them.
_LINE = frozenset(
    {"div", "li", "tr", "dt", "dd", "section", "article", "header", "footer", "nav", "aside",
     "main", "address", "form", "fieldset", "figure", "figcaption", "center", "caption", "details",
     "summary", "hr"}
)
#: Elements that stand apart from their neighbours by a blank line.
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "pre", "blockquote"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "wbr"})
_URL_SCHEMES = ("http://", "https://", "mailto:", "ftp://")
#: Deeper quotes and lists are shown at this depth, so the prefixes cannot outgrow the input.
_MAX_INDENT = 10

# A start or end tag whose quoted values hold no "<"; possessive, so a failed match is cheap.
_TAG = re.compile(r"""</?[A-Za-z](?:[^<>"'=]++|=++\s*+(?:"[^"<]*+"|'[^'<]*+'|(?!["'])[^\s<>]*+)|["'])*+>""")
_TAG_NAME = re.compile(r"</?([A-Za-z][^\s/>]*)")
_RAW_END = {"script": re.compile(r"</script[\s/>]", re.IGNORECASE), "style": re.compile(r"</style[\s/>]", re.IGNORECASE)}
_SPACE = re.compile(r"[ \t\n\r\f\v\xa0]+")


def html_to_text(html: str) -> str:
    """Readable text of an HTML document; broken markup gives best-effort text, never an error."""
    try:
        writer = _TextWriter()
        writer.feed(_prepare(html))
        writer.close()
        return writer.text()
    except Exception as exc:  # the parser has surprised us: keep the words at least
        log.warning("html_to_text fell back to tag stripping: %s", exc)
        return _strip_tags(html)


def _prepare(html: str) -> str:
    """Keep only complete tags and text, so the parser never rescans an unfinished construct.

    Comments, declarations, processing instructions and the content of script and
    style elements are dropped; a ``<`` that starts no complete tag becomes text.
    Every character is looked at a bounded number of times.
    """
    out: list[str] = []
    pos, end = 0, len(html)
    while pos < end:
        lt = html.find("<", pos)
        if lt < 0:
            out.append(html[pos:])
            break
        out.append(html[pos:lt])
        if html.startswith("<!--", lt):
            close = html.find("-->", lt + 4)
            pos = end if close < 0 else close + 3
            continue
        if html.startswith(("<!", "<?"), lt):
            close = html.find(">", lt)
            pos = end if close < 0 else close + 1
            continue
        tag = _TAG.match(html, lt)
        if tag is None:
            out.append("&lt;")
            pos = lt + 1
            continue
        pos = tag.end()
        name = _TAG_NAME.match(tag.group())
        raw_end = _RAW_END.get(name.group(1).lower()) if name and tag.group()[1] != "/" else None
        if raw_end is None:
            out.append(tag.group())
            continue
        found = raw_end.search(html, pos)  # drop the element, up to and including its end tag
        close = html.find(">", found.end() - 1) if found else -1
        pos = end if close < 0 else close + 1
    return "".join(out)


def _strip_tags(html: str) -> str:
    text = _html.unescape(re.sub(r"<[^<>]*>", " ", html))  # [^<>] keeps this linear
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


class _TextWriter(HTMLParser):
    """Collects lines of text, each with the blockquote depth it was written at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[tuple[int, str]] = []
        self._current: list[str] = []
        self._breaks = 0  # how many times the current line was ended
        self._prefix = ""  # list bullet of the current line
        self._hidden: list[str] = []
        self._quote = 0
        self._pre = 0
        self._lists = 0
        self._links: list[tuple[str, int, int]] = []  # href, breaks and pieces at <a>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":  # a body closes any head or title left open
            self._hidden.clear()
        if tag in _HIDDEN:
            self._hidden.append(tag)
        if self._hidden:
            return
        if tag == "br":
            self._end_line(keep_empty=True)
        else:
            self._break_for(tag)
        self._open(tag, attrs)

    def _open(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "blockquote":
            self._quote += 1
        elif tag == "pre":
            self._pre += 1
        elif tag in ("ul", "ol"):
            self._lists += 1
        elif tag == "li":
            self._prefix = "  " * min(max(self._lists - 1, 0), _MAX_INDENT) + "- "
        elif tag in ("td", "th"):
            self._current.append(" ")
        elif tag == "a":
            href = next((v for k, v in attrs if k == "href" and v), "")
            self._links.append((" ".join(href.split()), self._breaks, len(self._current)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            if tag in self._hidden:
                while self._hidden.pop() != tag:
                    pass
            return
        if tag == "a" and self._links:
            self._close_link(*self._links.pop())
        elif tag == "blockquote" and self._quote:
            self._end_line()
            self._quote -= 1
        elif tag == "pre" and self._pre:
            self._end_line()
            self._pre -= 1
        elif tag in ("ul", "ol") and self._lists:
            self._lists -= 1
        self._break_for(tag)
        if tag == "li":
            self._prefix = ""

    def _break_for(self, tag: str) -> None:
        if tag in ("ul", "ol") and self._lists:
            self._end_line()  # a list inside a list item: no blank line
        elif tag in _PARAGRAPH:
            self._paragraph()
        elif tag in _LINE:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self._hidden or not data:
            return
        if not self._pre:
            self._current.append(_SPACE.sub(" ", data))
            return
        lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for index, line in enumerate(lines):
            if index:
                self._end_line(keep_empty=True)
            self._current.append(line.replace("\xa0", " "))

    def _close_link(self, href: str, breaks: int, pieces: int) -> None:
        if not href.lower().startswith(_URL_SCHEMES):
            return  # javascript:, data:, cid: and relative links say nothing to a reader
        if breaks == self._breaks:
            label = " ".join("".join(self._current[pieces:]).split())
            if not label or _same_target(label, href):
                return
        self._current.append(f" ({href})")

    def _end_line(self, keep_empty: bool = False) -> None:
        raw = "".join(self._current)
        self._current = []
        self._breaks += 1
        line = raw.rstrip() if self._pre else " ".join(raw.split())
        if line and self._prefix:  # the bullet waits for the item's first words
            line, self._prefix = self._prefix + line, ""
        if line or keep_empty:
            self._lines.append((min(self._quote, _MAX_INDENT), line))

    def _paragraph(self) -> None:
        self._end_line()
        self._lines.append((min(self._quote, _MAX_INDENT), ""))

    def text(self) -> str:
        """The collected text: quote prefixes added, at most one blank line in a row."""
        self._end_line()
        out: list[str] = []
        pending_blank = ""
        for depth, line in self._lines:
            if not line:
                pending_blank = pending_blank or ("> " * depth).rstrip() or "\n"
                continue
            if pending_blank and out:
                out.append("" if pending_blank == "\n" else pending_blank)
            pending_blank = ""
            out.append("> " * depth + line)
        return "\n".join(out)


def _same_target(label: str, href: str) -> bool:
    """Whether a link's text already shows where it goes."""
    wanted = label.lower().rstrip("/")
    target = href.lower().rstrip("/")
    for prefix in ("mailto:", "https://", "http://"):
        if target.startswith(prefix):
            target = target[len(prefix):]
            break
    return wanted in (href.lower().rstrip("/"), target, "www." + target, target.removeprefix("www."))
