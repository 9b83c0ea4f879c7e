"""Read a customer's satisfaction rating (1 to 5) from the start of their reply."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMMENT = 2000  # characters of the comment kept with a rating

# The first line starts with the rating: "5", "4/5", "3 stars", "★★★★", "Rating: 2", "5 - thanks!",
# "1. Slow.". After a bare digit only punctuation may follow, so "2 printers are broken" is no rating.
_SCORE = re.compile(r"\s*(?:rating\s*[:=]?\s*)?(?:(?P<digit>[1-5])(?P<unit>\s*/\s*5|\s*stars?\b|\s*points?\b)?"
                    r"|(?P<stars>[★⭐]{1,5}))", re.IGNORECASE)
_SEPARATOR = "-–—:.,!)"


@dataclass(frozen=True)
class Rating:
    score: int
    comment: str


def parse_rating(new_text: str) -> Rating | None:
    """The rating a reply gives, when its first non-blank line starts with one; the rest is the comment."""
    lines = new_text.replace("\r\n", "\n").strip().split("\n")
    match = _SCORE.match(lines[0])
    if match is None:
        return None
    rest = lines[0][match.end():]
    plain = match["digit"] and not match["unit"]
    if rest.strip() and (rest.lstrip()[0] not in _SEPARATOR if plain else not rest[0].isspace()
                         and rest[0] not in _SEPARATOR):
        return None
    score = int(match["digit"]) if match["digit"] else len(match["stars"])
    comment = "\n".join([rest.strip().lstrip(_SEPARATOR).strip(), *lines[1:]]).strip()
    return Rating(score, comment[:MAX_COMMENT])
