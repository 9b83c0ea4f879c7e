"""Reading a satisfaction rating from the start of a customer's reply, and only a real one."""

from __future__ import annotations

import pytest

from maildesk.intake.rating import Rating, parse_rating


@pytest.mark.parametrize("text, expected", [
    ("5", Rating(5, "")),
    ("4/5", Rating(4, "")),
    ("5/5 Perfect", Rating(5, "Perfect")),
    ("3 stars", Rating(3, "")),
    ("3 stars - ok I guess", Rating(3, "ok I guess")),
    ("★★★★", Rating(4, "")),
    ("Rating: 2", Rating(2, "")),
    ("5 - thanks!", Rating(5, "thanks!")),
    ("1. Slow answers.", Rating(1, "Slow answers.")),
    ("5!", Rating(5, "")),
    ("  3  \r\n\r\nThe second agent was great.\r\n", Rating(3, "The second agent was great.")),
    ("\n\n4\nquick fix", Rating(4, "quick fix")),
])
def test_a_rating(text, expected):
    assert parse_rating(text) == expected


@pytest.mark.parametrize("text", [
    "2 printers are broken again", "4 great service", "12", "0", "6", "4/50", "Thanks, 5", "", "  ",
    "It still does not work.", "#5 is the ticket",
])
def test_not_a_rating(text):
    assert parse_rating(text) is None


def test_a_long_comment_is_cut():
    assert len(parse_rating("5 - " + "x" * 10_000).comment) == 2000
