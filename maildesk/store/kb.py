"""The knowledge base: articles made from resolutions, their review status, and full-text search."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from maildesk.errors import NotFound

STATUSES: tuple[str, ...] = ("draft", "published", "retired")
_WORD = re.compile(r"[^\W_]{3,}")
_COLUMNS = ("id", "title", "symptoms", "resolution", "tags", "source_ticket", "status", "author", "created_at",
            "updated_at")
MAX_QUERY_WORDS = 24
QUERY_TEXT = 2000  # characters of a message its suggestions are looked up from


@dataclass(frozen=True)
class Article:
    id: int
    title: str
    symptoms: str
    resolution: str
    tags: str  # space-separated
    source_ticket: int | None
    status: str
    author: str
    created_at: str
    updated_at: str


def match_query(text: str) -> str:
    """An FTS5 query for any of the text's words: each quoted, so nothing in mail is FTS syntax."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text[:QUERY_TEXT])))[:MAX_QUERY_WORDS]
    return " OR ".join(f'"{w}"' for w in words)


class KnowledgeStore:
    """Articles by id, by status, and by relevance to a text."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def add(self, *, title: str, symptoms: str, resolution: str, tags: Sequence[str], source_ticket: int | None,
            author: str, now: datetime, status: str = "draft") -> int:
        cur = self.conn.execute(
            "INSERT INTO kb_articles (title, symptoms, resolution, tags, source_ticket, status, author, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [title, symptoms, resolution, " ".join(tags), source_ticket, status, author, now.isoformat(),
             now.isoformat()])
        return int(cur.lastrowid or 0)

    def get(self, article_id: int) -> Article:
        row = self.conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM kb_articles WHERE id = ?", [article_id]).fetchone()
        if row is None:
            raise NotFound(f"no knowledge article {article_id}")
        return Article(*row)

    def set_status(self, article_id: int, status: str, *, now: datetime) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        self.get(article_id)
        self.conn.execute("UPDATE kb_articles SET status = ?, updated_at = ? WHERE id = ?",
                          [status, now.isoformat(), article_id])

    def list(self, *, status: str | None = None) -> list[Article]:
        sql, args = f"SELECT {', '.join(_COLUMNS)} FROM kb_articles", []
        if status:
            sql, args = sql + " WHERE status = ?", [status]
        return [Article(*row) for row in self.conn.execute(sql + " ORDER BY id", args)]

    def search(self, text: str, *, limit: int = 10, published_only: bool = False) -> list[Article]:
        """The articles best matching any word of ``text`` (BM25), most relevant first."""
        if published_only and not self._any_published():
            return []  # the common case on a desk without articles yet: no search at all
        query = match_query(text)
        if not query:
            return []
        columns = ", ".join(f"a.{c}" for c in _COLUMNS)
        sql = (f"SELECT {columns} FROM kb_fts JOIN kb_articles a ON a.id = kb_fts.rowid WHERE kb_fts MATCH ?"
               + (" AND a.status = 'published'" if published_only else "") + " ORDER BY bm25(kb_fts) LIMIT ?")
        return [Article(*row) for row in self.conn.execute(sql, [query, limit])]

    def _any_published(self) -> bool:
        return self.conn.execute("SELECT 1 FROM kb_articles WHERE status = 'published' LIMIT 1").fetchone() is not None
