"""Tests for reading Authentication-Results and deciding whether our server authenticated a sender's domain."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from maildesk.intake.authres import (
    MAX_RESULTS,
    MAX_VALUE,
    AuthResults,
    MethodResult,
    Verdict,
    dkim_tags,
    parse_authentication_results,
    verify_sender,
)
from maildesk.intake.parse import parse_bytes, read_message

FIXTURES = Path(__file__).parent / "fixtures" / "authres"
DESK = "mx.desk.example"


def headers_of(name: str) -> tuple[tuple[str, str], ...]:
    """A fixture's headers as intake hands them on: decoded (name, value) pairs, topmost first."""
    return read_message(parse_bytes((FIXTURES / name).read_bytes())).headers


def res(method: str, result: str, **props: str) -> MethodResult:
    """A MethodResult; property names are written with "_" for "." (header_d for header.d)."""
    return MethodResult(method, result, {k.replace("_", ".", 1): v for k, v in props.items()})


# --- parsing ---------------------------------------------------------------------------

PARSED = [
    (
        "gmail",
        "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=20230601 header.b=Ab3/dE+f;\r\n"
        "       spf=pass (google.com: domain of peggy@example.com designates 209.85.220.41 as permitted sender)"
        " smtp.mailfrom=peggy@example.com;\r\n"
        "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com",
        AuthResults(
            "mx.google.com",
            (
                res("dkim", "pass", header_i="@example.com", header_s="20230601", header_b="Ab3/dE+f"),
                res("spf", "pass", smtp_mailfrom="peggy@example.com"),
                res("dmarc", "pass", header_from="example.com"),
            ),
        ),
    ),
    (
        "gmail-arc-comment-with-equals",
        "mx.google.com; arc=pass (i=1 spf=pass spfdomain=example.com dkim=pass dkdomain=example.com dmarc=pass"
        " fromdomain=example.com); spf=pass smtp.mailfrom=a@example.com",
        AuthResults("mx.google.com", (res("arc", "pass"), res("spf", "pass", smtp_mailfrom="a@example.com"))),
    ),
    (
        "microsoft-365-without-authserv-id",
        "spf=pass (sender IP is 203.0.113.5) smtp.mailfrom=example.com; dkim=pass (signature was verified)"
        " header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass reason=100",
        AuthResults(
            "",
            (
                res("spf", "pass", smtp_mailfrom="example.com"),
                res("dkim", "pass", header_d="example.com"),
                res("dmarc", "pass", action="none", header_from="example.com"),
                res("compauth", "pass", reason="100"),
            ),
        ),
    ),
    (
        "fastmail",
        "mx3.messagingengine.com;\n    arc=none (no signatures found);\n"
        "    dkim=pass (2048-bit rsa key sha256) header.d=example.com header.i=@example.com header.b=AbCdEf12"
        " header.a=rsa-sha256 header.s=fm1 x-bits=2048;\n"
        "    dmarc=pass policy.published-domain-policy=none (p=none,d=none,d.eval=none)"
        " policy.policy-from=p header.from=example.com;\n"
        "    x-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256/256;",
        AuthResults(
            "mx3.messagingengine.com",
            (
                res("arc", "none"),
                res(
                    "dkim", "pass", header_d="example.com", header_i="@example.com", header_b="AbCdEf12",
                    header_a="rsa-sha256", header_s="fm1", **{"x-bits": "2048"},
                ),
                res(
                    "dmarc", "pass", **{"policy.published-domain-policy": "none", "policy.policy-from": "p"},
                    header_from="example.com",
                ),
                res(
                    "x-tls", "pass", smtp_version="TLSv1.3", smtp_cipher="TLS_AES_256_GCM_SHA384",
                    smtp_bits="256/256",
                ),
            ),
        ),
    ),
    (
        "opendkim-comment-with-semicolon",
        "mail.example.org; dkim=pass (2048-bit key; unprotected) header.d=example.org header.i=@example.org"
        " header.a=rsa-sha256 header.s=s1 header.b=AbCdEf12",
        AuthResults(
            "mail.example.org",
            (
                res(
                    "dkim", "pass", header_d="example.org", header_i="@example.org", header_a="rsa-sha256",
                    header_s="s1", header_b="AbCdEf12",
                ),
            ),
        ),
    ),
    ("none", "example.org; none", AuthResults("example.org", ())),
    ("version-and-none", "example.org 1 ; none", AuthResults("example.org", ())),
    (
        "nested-comments-quoted-strings-and-cfws",
        ' "mx.example.org" (our (inner; x=y) MX) ; DKIM/1 (v) = PASS reason = "ok \\"fine\\"; really"'
        " Header . D = Example.COM header.b=\"AbC;d\";SPF=Pass smtp.mailfrom=\"a b\"@example.com",
        AuthResults(
            "mx.example.org",
            (
                res("dkim", "pass", reason='ok "fine"; really', header_d="Example.COM", header_b="AbC;d"),
                res("spf", "pass", smtp_mailfrom='"a b"@example.com'),
            ),
        ),
    ),
    (
        "missing-spaces-and-comments-as-separators",
        "mx.example.org;dkim=pass(good)header.d=example.org;spf=pass smtp.mailfrom=@example.org",
        AuthResults(
            "mx.example.org",
            (res("dkim", "pass", header_d="example.org"), res("spf", "pass", smtp_mailfrom="@example.org")),
        ),
    ),
    (
        "bad-statements-skipped",
        "mx.example.org; header.d=example.org; ; dkim; =pass; dkim=\"pass\" x; spf=pass junk smtp.mailfrom=a@b",
        AuthResults("mx.example.org", (res("dkim", "pass"), res("spf", "pass", smtp_mailfrom="a@b"))),
    ),
    (
        "first-property-wins",
        "mx.example.org; dkim=pass header.d=example.org header.d=evil.example",
        AuthResults("mx.example.org", (res("dkim", "pass", header_d="example.org"),)),
    ),
    (
        "unterminated-comment-drops-the-rest",
        "mx.example.org; dkim=pass header.d=example.org; spf=pass (oops; dmarc=pass header.from=example.org",
        AuthResults("mx.example.org", (res("dkim", "pass", header_d="example.org"), res("spf", "pass"))),
    ),
    (
        "quote-in-comment-is-plain-text",
        'mx.example.org; spf=pass (he said "hi) smtp.mailfrom=a@example.org; dkim=fail',
        AuthResults("mx.example.org", (res("spf", "pass", smtp_mailfrom="a@example.org"), res("dkim", "fail"))),
    ),
    ("unterminated-quote", 'mx.example.org; dkim=pass reason="open', AuthResults(
        "mx.example.org", (res("dkim", "pass", reason='"open'),))),
    ("empty", "", None),
    ("blank", "  \r\n ", None),
    ("only-a-comment", "(nothing here)", None),
    ("no-statements", "mx.example.org", None),
    ("bare-semicolon", ";", None),
    ("garbage", "\x00\xff@@ ==== )(", None),
]


@pytest.mark.parametrize(("value", "expected"), [p[1:] for p in PARSED], ids=[p[0] for p in PARSED])
def test_parse(value: str, expected: AuthResults | None) -> None:
    assert parse_authentication_results(value) == expected


def test_results_are_capped() -> None:
    value = "mx.example.org" + "; dkim=pass header.d=example.org" * (MAX_RESULTS + 10)
    parsed = parse_authentication_results(value)
    assert parsed is not None and len(parsed.results) == MAX_RESULTS


def test_a_value_over_the_cap_keeps_only_whole_statements() -> None:
    start, bait = "mx.example.org; dkim=fail header.d=example.org (", "); dkim=pass header.d=example.org"
    padding = "p" * (MAX_VALUE - len(start) - len(bait))  # the cap falls right after "example.org" ...
    value = start + padding + bait + ".evil.example; spf=none"  # ... of a pass for another domain
    assert value[:MAX_VALUE].endswith("header.d=example.org")
    assert parse_authentication_results(value) == AuthResults(
        "mx.example.org", (res("dkim", "fail", header_d="example.org"),)
    )
    assert parse_authentication_results(value[:MAX_VALUE]) == AuthResults(  # the same text not cut: all of it
        "mx.example.org", (res("dkim", "fail", header_d="example.org"), res("dkim", "pass", header_d="example.org"))
    )


def test_a_value_cut_in_its_first_statement_still_names_its_server() -> None:
    value = "mx.example.org; dkim=pass header.d=example.org (" + "p" * MAX_VALUE + ")"
    assert parse_authentication_results(value) == AuthResults("mx.example.org", ())
    assert parse_authentication_results("mx.example.org " + "p" * MAX_VALUE) is None
    assert parse_authentication_results("dkim=pass header.d=example.org" + "p" * MAX_VALUE) is None


def test_props_are_read_only() -> None:
    parsed = parse_authentication_results("mx; dkim=pass header.d=example.org")
    assert parsed is not None
    with pytest.raises(TypeError):
        parsed.results[0].props["header.d"] = "evil.example"  # type: ignore[index]


def test_never_raises_on_noise() -> None:
    rng = random.Random(8601)
    alphabet = 'ab.=;()"\\@/ \t\r\n\x00é-_1'
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        parse_authentication_results(value)
        verify_sender([("Authentication-Results", value), ("DKIM-Signature", value)], authserv_id="a", domain="b")
    assert parse_authentication_results(None) is None  # type: ignore[arg-type]


DKIM_TAGS = [
    (
        "v=1; a=rsa-sha256; d=Example.COM;\r\n\ts=s1; l=100;\r\n\tb=Ab Cd\r\n\t Ef==;",
        {"v": "1", "a": "rsa-sha256", "d": "Example.COM", "s": "s1", "l": "100", "b": "AbCdEf=="},
    ),
    ("d=example.com; L=5; b=x", {"d": "example.com", "l": "5", "b": "x"}),  # read strictly: L= limits too
    ("d=example.com;; b=x ;", {"d": "example.com", "b": "x"}),
    ("d=example.com; d=evil.example; b=x", None),  # a repeated tag makes the signature invalid
    ("d=example.com; garbage; b=x", None),
    ("d=example.com; 1x=2; b=x", None),
]


@pytest.mark.parametrize(("value", "expected"), DKIM_TAGS)
def test_dkim_tags(value: str, expected: dict[str, str] | None) -> None:
    assert dkim_tags(value) == expected


# --- verification ------------------------------------------------------------------------


def ar(value: str, server: str = DESK) -> tuple[str, str]:
    return ("Authentication-Results", f"{server}; {value}")


def sig(domain: str = "example.com", b: str = "AbCdEf12xyz", extra: str = "") -> tuple[str, str]:
    return ("DKIM-Signature", f"v=1; a=rsa-sha256; d={domain}; s=s1; h=from:to; bh=47DEQ=; {extra} b={b}")


RECEIVED = ("Received", "from mail.example.com by mx.desk.example; Tue, 26 Mar 2024 10:00:00 +0100")
LIMITED = sig(b="LimSig", extra="l=10;")
PASS_BOTH = "dkim=pass header.d=example.com; dmarc=pass header.from=example.com"

VERDICTS = [
    # name, headers (topmost first), passes, words in the explanation
    (
        "dkim-pass",
        [ar("dkim=pass header.d=example.com"), RECEIVED, sig()],
        True,
        "dkim=pass for example.com (header.d) from mx.desk.example",
    ),
    ("dkim-pass-case-insensitive", [ar("DKIM=Pass header.d=EXAMPLE.com"), sig("Example.Com")], True, "header.d"),
    ("authserv-id-case-insensitive", [ar("dkim=pass header.d=example.com", "MX.Desk.Example"), sig()], True, ""),
    (
        "header-i-fallback",
        [ar("dkim=pass header.i=agent@example.com"), sig()],
        True,
        "dkim=pass for example.com (header.i) from mx.desk.example",
    ),
    ("header-b-selects-the-signature", [ar("dkim=pass header.d=example.com header.b=AbCd"), sig()], True, ""),
    ("no-authentication-results", [RECEIVED, sig()], False, "no Authentication-Results from mx.desk.example"),
    (
        "foreign-authserv-id-ignored",
        [ar("dkim=pass header.d=example.com", "mx.sender.example"), RECEIVED, sig()],
        False,
        "no Authentication-Results from mx.desk.example",
    ),
    (
        "foreign-pass-above-our-fail",
        [ar(PASS_BOTH, "mx.attacker.example"), ar("dkim=fail header.d=example.com"), sig()],
        False,
        "dkim=fail for example.com",
    ),
    (
        "forged-pass-below-ours-ignored",
        [ar("dkim=fail header.d=example.com; dmarc=fail header.from=example.com"), RECEIVED, ar(PASS_BOTH), sig()],
        False,
        "dmarc=fail",
    ),
    ("ours-says-none", [ar("none"), RECEIVED, ar(PASS_BOTH), sig()], False, "no dkim result; no dmarc result"),
    (
        "ours-unreadable-stops-the-search",
        [("Authentication-Results", DESK), ar(PASS_BOTH), sig()],
        False,
        "no dkim result; no dmarc result",
    ),
    (
        "arc-authentication-results-is-not-ours",
        [("ARC-Authentication-Results", f"i=1; {DESK}; {PASS_BOTH}"), sig()],
        False,
        "no Authentication-Results",
    ),
    (
        "dkim-pass-for-another-domain",
        [ar("dkim=pass header.d=example.net"), sig("example.net")],
        False,
        "dkim=pass for example.net, not example.com",
    ),
    (
        "subdomain-is-not-the-domain",
        [ar("dkim=pass header.d=mail.example.com"), sig("mail.example.com")],
        False,
        "dkim=pass for mail.example.com, not example.com",
    ),
    ("parent-is-not-the-domain", [ar("dkim=pass header.d=com"), sig("com")], False, "dkim=pass for com, not"),
    (
        "dkim-pass-with-l",
        [ar("dkim=pass header.d=example.com"), sig(extra="l=120;")],
        False,
        "dkim=pass for example.com but its DKIM-Signature has l= (body length limit)",
    ),
    (
        "dkim-pass-without-a-signature",
        [ar("dkim=pass header.d=example.com")],
        False,
        "no matching DKIM-Signature header",
    ),
    (
        "header-b-names-no-signature",
        [ar("dkim=pass header.d=example.com header.b=Zzzz"), sig()],
        False,
        "no matching DKIM-Signature header",
    ),
    (
        "header-b-selects-the-unlimited-one",
        [ar("dkim=pass header.d=example.com header.b=LimS; dkim=pass header.d=example.com header.b=Good"),
         LIMITED, sig(b="GoodSig")],
        True,
        "header.d",
    ),
    (
        "without-header-b-any-limited-candidate-fails",
        [ar("dkim=pass header.d=example.com"), LIMITED, sig(b="GoodSig")],
        False,
        "its DKIM-Signature has l=",
    ),
    (
        "dmarc-pass",
        [ar("dkim=pass header.d=mail.example.com; dmarc=pass header.from=example.com"), sig("mail.example.com")],
        True,
        "dmarc=pass for example.com (header.from) from mx.desk.example",
    ),
    (
        "dmarc-pass-without-signatures",
        [ar("spf=pass smtp.mailfrom=bounce@mail.example.com; dmarc=pass header.from=example.com")],
        True,
        "dmarc=pass",
    ),
    (
        "dmarc-pass-only-l-signature",
        [ar(PASS_BOTH), sig(extra="l=64;")],
        False,
        "dmarc=pass for example.com but its DKIM-Signature has l= and no spf=pass for it",
    ),
    (
        "dmarc-pass-l-signature-of-a-subdomain",
        [ar("dmarc=pass header.from=example.com"), sig("bounces.example.com", extra="l=64;")],
        False,
        "has l= and no spf=pass",
    ),
    (
        "dmarc-pass-l-signature-and-unaligned-spf",
        [ar("spf=pass smtp.mailfrom=a@lists.example.net; dmarc=pass header.from=example.com"), sig(extra="l=1;")],
        False,
        "has l= and no spf=pass",
    ),
    (
        "dmarc-pass-l-signature-but-aligned-spf",
        [ar("spf=pass smtp.mailfrom=agent@example.com; dmarc=pass header.from=example.com"), sig(extra="l=1;")],
        True,
        "dmarc=pass for example.com",
    ),
    (
        "l-signature-of-an-unrelated-list-is-no-concern",
        [ar(PASS_BOTH), sig("lists.example.net", extra="l=9;"), sig()],
        True,
        "dkim=pass for example.com",
    ),
    (
        "dmarc-pass-for-a-subdomain",
        [ar("dmarc=pass header.from=mail.example.com")],
        False,
        "dmarc=pass for mail.example.com, not example.com",
    ),
    (
        "dmarc-fail",
        [ar("dkim=none; dmarc=fail (p=reject) header.from=example.com")],
        False,
        "dkim=none; dmarc=fail for example.com",
    ),
    (
        "spf-alone-is-not-enough",
        [ar("spf=pass smtp.mailfrom=agent@example.com")],
        False,
        "no dkim result; no dmarc result",
    ),
]


@pytest.mark.parametrize(("headers", "passed", "why"), [v[1:] for v in VERDICTS], ids=[v[0] for v in VERDICTS])
def test_verify(headers: list[tuple[str, str]], passed: bool, why: str) -> None:
    verdict = verify_sender(headers, authserv_id=DESK, domain="example.com")
    assert verdict.passed is passed, verdict.why
    assert why in verdict.why


def test_explanations_repeat_header_values_safely() -> None:
    headers = [ar("dkim=pass header.d=\x1b[31mevil" + "x" * 500)]
    verdict = verify_sender(headers, authserv_id=DESK, domain="example.com")
    assert not verdict.passed and "\x1b" not in verdict.why and len(verdict.why) < 300


def test_missing_configuration_fails() -> None:
    headers = [ar("dkim=pass header.d=example.com"), sig()]
    assert verify_sender(headers, authserv_id=" ", domain="example.com").passed is False
    assert verify_sender(headers, authserv_id=DESK, domain="").passed is False


# --- whole messages, as intake reads them ------------------------------------------------

MESSAGES = [
    # fixture, authserv-id, domain, verdict
    ("gmail-header-i.eml", "mx.google.com", "example.com",
     Verdict(True, "dkim=pass for example.com (header.i) from mx.google.com")),
    ("gmail-header-i.eml", "mx.google.com", "attacker.example",  # only in ARC-Authentication-Results
     Verdict(False, "not authenticated for attacker.example by mx.google.com: dkim=pass for example.com, not"
                    " attacker.example; dmarc=pass for example.com, not attacker.example")),
    ("forged-below.eml", DESK, "example.com",
     Verdict(False, "not authenticated for example.com by mx.desk.example: dkim=fail for example.com;"
                    " dmarc=fail for example.com")),
    ("length-limited.eml", DESK, "example.org",
     Verdict(False, "not authenticated for example.org by mx.desk.example: dkim=pass for example.org but its"
                    " DKIM-Signature has l= (body length limit); dmarc=pass for example.org but its"
                    " DKIM-Signature has l= and no spf=pass for it")),
    ("two-signatures.eml", DESK, "example.com",
     Verdict(True, "dkim=pass for example.com (header.d) from mx.desk.example")),
    ("microsoft-365.eml", "outlook.com", "example.com",  # Microsoft 365 names no authserv-id: nothing to trust
     Verdict(False, "no Authentication-Results from outlook.com")),
]


@pytest.mark.parametrize(("fixture", "server", "domain", "verdict"), MESSAGES, ids=[f"{m[0]}:{m[2]}" for m in MESSAGES])
def test_messages(fixture: str, server: str, domain: str, verdict: Verdict) -> None:
    assert verify_sender(headers_of(fixture), authserv_id=server, domain=domain) == verdict


def test_microsoft_365_header_reads_without_an_authserv_id() -> None:
    value = dict(headers_of("microsoft-365.eml"))["Authentication-Results"]
    assert parse_authentication_results(value) == AuthResults(
        "",
        (
            res("spf", "pass", smtp_mailfrom="example.com"),
            res("dkim", "pass", header_d="example.com"),
            res("dmarc", "pass", action="none", header_from="example.com"),
            res("compauth", "pass", reason="100"),
        ),
    )


def test_folded_signature_from_a_fixture() -> None:
    values = [v for k, v in headers_of("gmail-header-i.eml") if k == "DKIM-Signature"]
    tags = dkim_tags(values[0])
    assert tags is not None and tags["d"] == "example.com" and tags["b"].startswith("Ab3/dE+fGhIj")
    assert "l" not in tags
