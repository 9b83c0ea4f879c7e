"""Reply tokens: round trip, forgery, tampering and finding them in recipients."""

from __future__ import annotations

import pytest

from maildesk.tokens import make_token, reply_address, tokens_in, verify_token

SECRET = b"k" * 32
OTHER = b"o" * 32


def test_token_round_trip_and_case_insensitivity():
    token = make_token(SECRET, 42)
    assert verify_token(SECRET, token).ticket_id == 42
    assert verify_token(SECRET, token.upper()).role == "c"  # some MTAs upper-case local parts


@pytest.mark.parametrize("forged", [
    lambda t: t.replace("42-", "43-", 1),          # another ticket, same MAC
    lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # one character of the MAC changed
    lambda t: t.replace("-c-", "-a1-"),            # another role
    lambda t: "42-c-" + "a" * 20,                  # a guess
    lambda t: "42",                                # just the number
    lambda t: "",                                  # nothing
    lambda t: t + "x",                             # too long
])
def test_forged_tokens_are_refused(forged):
    assert verify_token(SECRET, forged(make_token(SECRET, 42))) is None


def test_token_from_another_desk_is_refused():
    assert verify_token(SECRET, make_token(OTHER, 42)) is None


def test_tokens_are_found_only_on_the_desk_address():
    token = make_token(SECRET, 7)
    addresses = [reply_address("support@example.test", token), f"support+{token}@evil.example",
                 f"other+{token}@example.test", "support@example.test"]
    assert tokens_in(addresses, "support@example.test") == [token]
