"""Read Authentication-Results (RFC 8601) and decide whether our receiving server authenticated a sender's domain."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

logger = logging.getLogger("maildesk.intake")

MAX_VALUE = 8 * 1024  # characters of one Authentication-Results value worth reading
MAX_RESULTS = 50  # method results kept from one header
_SHOWN = 80  # characters of a header-supplied value repeated in a Verdict's explanation

_QUOTED = r'"(?:[^"\\]|\\.)*"?'  # a quoted string, its closing quote optional at the end of the text
#: Outside comments: a quoted string, an escape, a delimiter, or a run of anything else.
_OUTSIDE = re.compile(_QUOTED + r'|\\.?|[();]|[^"()\\;]+', re.S)
#: Inside a comment (where '"' and ';' are plain text): an escape, a parenthesis, or a run of anything else.
_INSIDE = re.compile(r"\\.?|[()]|[^()\\]+", re.S)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_AUTHSERV = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^\s"=/]+)(?:\s+\d+)?\s*')  # authserv-id [version]
#: ``name = value``; the name may be ``method/version`` or ``ptype.property`` (CFWS around the dot allowed),
#: the value a token, a quoted string, ``@domain`` or ``local-part@domain``, even base64 with ``/+=``.
_PAIR = re.compile(r'\s*([\w-]+(?:\s*[./]\s*[\w-]+)*)\s*=\s*((?:"(?:[^"\\]|\\.)*"?|[^\s";])*)')
_JUNK = re.compile(r'\s*(?:' + _QUOTED + r'|[^\s"]+)')  # one word that is no ``name=value``
_BLANK = re.compile(r"\s*\Z")
_KEYWORD = re.compile(r"[a-z0-9_-]+")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
Signatures = list[dict[str, str]]  # the tag lists of a message's DKIM-Signature headers


@dataclass(frozen=True)
class MethodResult:
    """One ``method=result`` statement with its reason and properties; names and results lower-case."""

    method: str  # "dkim", "spf", "dmarc", "arc", ...
    result: str  # "pass", "fail", "none", "neutral", "temperror", ...
    props: Mapping[str, str]  # {"header.d": "example.com", "reason": "..."}: keys lower-case, values as written


@dataclass(frozen=True)
class AuthResults:
    """One Authentication-Results header: who wrote it and what it found."""

    authserv_id: str  # as written (unquoted); compare it case-insensitively
    results: tuple[MethodResult, ...]


@dataclass(frozen=True)
class Verdict:
    """Whether a message is authenticated for a domain, and why, in words fit for receipts and security events."""

    passed: bool
    why: str


# --- Authentication-Results ------------------------------------------------------------


def parse_authentication_results(value: str) -> AuthResults | None:
    """An Authentication-Results value read leniently; None when it is no such value. Never raises.

    A value without an authserv-id (Microsoft 365 writes them) gets ``authserv_id == ""``.
    Comments (nested, or holding ``;`` and ``=``) are dropped, quoted strings kept whole.
    Statements that do not start with ``method=result`` are skipped. Only the first
    ``MAX_VALUE`` characters are read; a statement cut there is dropped, so a long
    header yields a prefix of its results, never a truncated (and so different) value.
    """
    try:
        return _parse(value)
    except Exception:  # the parser is total over str; this is the last line of defence
        logger.warning("could not read Authentication-Results", exc_info=True)
        return None


def _parse(value: str) -> AuthResults | None:
    if not isinstance(value, str):
        return None
    segments = _segments(_FOLD.sub("", value[:MAX_VALUE]))
    cut = len(value) > MAX_VALUE
    if cut:
        segments = segments[:-1]  # the statement the cap cut through
    ident = _AUTHSERV.fullmatch(segments[0]) if segments else None
    if ident is not None and (len(segments) > 1 or cut):
        authserv, statements = _unquote(ident.group(1)), segments[1:]
    elif segments and _method_result(segments[0]) is not None:
        authserv, statements = "", segments  # no authserv-id at all, as Microsoft 365 writes it
    else:
        return None
    results = [result for result in map(_method_result, statements) if result is not None]
    return AuthResults(authserv, tuple(results[:MAX_RESULTS]))


def _segments(text: str) -> list[str]:
    """The text split at semicolons outside quoted strings and comments; each comment becomes a space."""
    segments: list[str] = []
    current: list[str] = []
    depth = pos = 0
    while pos < len(text):
        found = (_INSIDE if depth else _OUTSIDE).match(text, pos)
        token = found.group() if found else text[pos]
        pos += len(token)
        if depth:
            depth += (token == "(") - (token == ")")
        elif token == "(":
            depth = 1
            current.append(" ")
        elif token == ";":
            segments.append("".join(current))
            current = []
        else:
            current.append(token)
    segments.append("".join(current))
    return segments


def _pairs(segment: str) -> Iterator[tuple[str, str] | None]:
    """The ``name=value`` pairs of a statement in order, names normalised; None for each word that is no pair."""
    pos = 0
    while not _BLANK.match(segment, pos):
        pair = _PAIR.match(segment, pos)
        if pair is None:
            junk = _JUNK.match(segment, pos)
            pos = junk.end() if junk else len(segment)
            yield None
            continue
        pos = pair.end()
        yield re.sub(r"\s+", "", pair.group(1)).lower(), _unquote(pair.group(2))


def _method_result(segment: str) -> MethodResult | None:
    """A statement ``method[/version]=result [reason=...] [ptype.property=value ...]``, or None."""
    pairs = _pairs(segment)
    first = next(pairs, None)
    if first is None or "." in first[0]:
        return None  # "none", a bare word or a property where the method should be
    method, result = first[0].partition("/")[0], first[1].lower()
    if not method or not _KEYWORD.fullmatch(result):
        return None
    props: dict[str, str] = {}
    for pair in pairs:
        if pair is not None:
            props.setdefault(*pair)
    return MethodResult(method, result, MappingProxyType(props))


def _unquote(value: str) -> str:
    """A quoted string's content with its escapes undone; anything else as it is."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.S)
    return value


# --- DKIM-Signature ----------------------------------------------------------------------


def dkim_tags(value: str) -> dict[str, str] | None:
    """A DKIM-Signature's tag list (RFC 6376 §3.2) with all white space taken out of the values; None if malformed.

    Tag names are lower-cased (the RFC makes them case-sensitive): an ``L=`` is then read
    as a body length limit too, which can only make the check stricter. A repeated tag
    makes the signature invalid, as the RFC says, and so does a piece without ``=``.
    """
    tags: dict[str, str] = {}
    for spec in value.split(";"):
        if not spec.strip():
            continue  # a trailing or doubled semicolon
        name, equals, tag_value = spec.partition("=")
        name = name.strip().lower()
        if not equals or not _TAG_NAME.fullmatch(name) or name in tags:
            return None
        tags[name] = "".join(tag_value.split())
    return tags


def _signatures(headers: Sequence[tuple[str, str]]) -> Signatures:
    """The readable DKIM-Signature headers; an unreadable one would fail verification and so proves nothing."""
    found = (dkim_tags(value) for name, value in headers if name.strip().lower() == "dkim-signature")
    return [tags for tags in found if tags is not None]


# --- the verdict ---------------------------------------------------------------------------


def verify_sender(headers: Sequence[tuple[str, str]], *, authserv_id: str, domain: str) -> Verdict:
    """Whether our receiving server (``authserv_id``) authenticated the message for ``domain``. Never raises.

    Only the topmost Authentication-Results header with our authserv-id counts: the server
    prepends its own, so one further down, or with another authserv-id, may have been
    written by the sender. RFC 8601 §5 asks the server to also remove or rename ones that
    arrive carrying its id; when it does not, a forged copy still sits below the real one
    and is ignored. This relies on the server adding a header to every message it accepts
    (else a forged one would be topmost), and reads one header only: where several filters
    each add one with the same id (OpenDKIM, then OpenDMARC), only the last added counts.

    Passing takes ``dkim=pass`` with ``header.d`` (or the domain of ``header.i``) equal to
    ``domain``, backed by a DKIM-Signature for that domain (the one ``header.b`` names, if
    given) without ``l=``; or ``dmarc=pass`` with ``header.from`` equal to ``domain``, unless
    a DKIM-Signature for the domain, a sub- or parent domain has ``l=`` and no ``spf=pass``
    has a ``smtp.mailfrom`` in ``domain``. Domains compare exactly (case aside): a pass for
    ``mail.example.com`` does not count for ``example.com``, nor the other way round.
    """
    try:
        return _verify(headers, authserv_id.strip(), domain.strip().lower())
    except Exception:
        logger.warning("could not check authentication results", exc_info=True)
        return Verdict(False, "could not read the authentication headers")


def _verify(headers: Sequence[tuple[str, str]], server: str, domain: str) -> Verdict:
    if not server or not domain:
        return Verdict(False, "no authserv-id or domain to check against")
    trusted = _topmost(headers, server)
    if trusted is None:
        return Verdict(False, f"no Authentication-Results from {server}")
    signatures = _signatures(headers)
    dkim, dkim_problems = _dkim_pass(trusted.results, signatures, domain)
    if dkim:
        return Verdict(True, f"dkim=pass for {domain} ({dkim}) from {server}")
    dmarc, dmarc_problems = _dmarc_pass(trusted.results, signatures, domain)
    if dmarc:
        return Verdict(True, f"dmarc=pass for {domain} (header.from) from {server}")
    problems = list(dict.fromkeys(dkim_problems + dmarc_problems))[:6]
    return Verdict(False, f"not authenticated for {domain} by {server}: " + "; ".join(problems))


def _topmost(headers: Sequence[tuple[str, str]], server: str) -> AuthResults | None:
    """The first Authentication-Results header with our authserv-id, or None.

    One that starts with our id but cannot be read stops the search with no results,
    so that a forged header below it is never taken instead.
    """
    for name, value in headers:
        if name.strip().lower() != "authentication-results":
            continue
        parsed = parse_authentication_results(value)
        if parsed is not None and parsed.authserv_id.lower() == server.lower():
            return parsed
        if parsed is None and re.match(r"\s*" + re.escape(server) + r"(?![^\s;(])", str(value), re.I):
            return AuthResults(server, ())
    return None


def _dkim_pass(results: Sequence[MethodResult], signatures: Signatures, domain: str) -> tuple[str, list[str]]:
    """Which property a usable dkim=pass for the domain names it by, or "" and why none counted."""
    problems = []
    for res in (r for r in results if r.method == "dkim"):
        source = "header.d" if res.props.get("header.d") else "header.i"
        signer = res.props.get("header.d", "").lower() or _domain_of(res.props.get("header.i", ""))
        if res.result != "pass":
            problems.append(f"dkim={_show(res.result)}" + (f" for {_show(signer)}" if signer else ""))
        elif signer != domain:
            problems.append(f"dkim=pass for {_show(signer) or 'no domain'}, not {domain}")
        else:
            problem = _signature_problem(signatures, domain, res.props.get("header.b", ""))
            if not problem:
                return source, []
            problems.append(problem)
    return "", problems or ["no dkim result"]


def _signature_problem(signatures: Signatures, domain: str, prefix: str) -> str:
    """Why a dkim=pass's signature does not count, or "". Every signature it could mean must lack ``l=``."""
    prefix = "".join(prefix.split())
    matching = [s for s in signatures if s.get("d", "").lower() == domain and s.get("b", "").startswith(prefix)]
    if not matching:
        return f"dkim=pass for {domain} but no matching DKIM-Signature header"
    if any("l" in s for s in matching):
        return f"dkim=pass for {domain} but its DKIM-Signature has l= (body length limit)"
    return ""


def _dmarc_pass(results: Sequence[MethodResult], signatures: Signatures, domain: str) -> tuple[bool, list[str]]:
    """Whether a usable dmarc=pass for the domain is there, and why none counted."""
    problems = []
    for res in (r for r in results if r.method == "dmarc"):
        author = res.props.get("header.from", "").lower()
        if res.result != "pass":
            problems.append(f"dmarc={_show(res.result)}" + (f" for {_show(author)}" if author else ""))
        elif author != domain:
            problems.append(f"dmarc=pass for {_show(author) or 'no domain'}, not {domain}")
        elif not _length_limited(signatures, domain) or _spf_pass(results, domain):
            return True, []
        else:
            problems.append(f"dmarc=pass for {domain} but its DKIM-Signature has l= and no spf=pass for it")
    return False, problems or ["no dmarc result"]


def _length_limited(signatures: Signatures, domain: str) -> bool:
    """Whether any signature DMARC could have aligned with the domain (same, sub- or parent domain) has ``l=``."""
    signers = (tags.get("d", "").lower() for tags in signatures if "l" in tags)
    return any(d and (d == domain or d.endswith("." + domain) or domain.endswith("." + d)) for d in signers)


def _spf_pass(results: Sequence[MethodResult], domain: str) -> bool:
    """Whether SPF passed for an envelope sender in exactly this domain (SPF covers the whole message)."""
    return any(
        r.method == "spf" and r.result == "pass" and _domain_of(r.props.get("smtp.mailfrom", "")) == domain
        for r in results
    )


def _domain_of(value: str) -> str:
    """The domain of ``local@domain``, ``@domain`` or ``domain``, lower-cased."""
    return value.rpartition("@")[2].strip().lower()


def _show(value: str) -> str:
    """A header-supplied value made safe to repeat: printable, one line, short."""
    text = "".join(ch if ch.isprintable() else "?" for ch in value[: _SHOWN + 1])
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
