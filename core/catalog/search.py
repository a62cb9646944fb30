"""Search over titles and what was said: one interface over SQLite FTS5 and PostgreSQL tsvector."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.errors import ValidationFailed
from core.base.models import CatalogItem
from core.base.pagination import Page, decode_cursor, encode_cursor
from core.catalog.models import FTS_TABLE, PG_TSV_COLUMN
from core.catalog.store import items_query

MAX_TERMS = 16
_WORD = re.compile(r"\w+", re.UNICODE)
TITLES, CUES = 0, 1  # the two phases a walk goes through: title hits first, then cue hits


@dataclass(frozen=True)
class Hit:
    """A place to start playing: a whole item (a title hit) or a cue's moment."""

    item_id: int
    title: str
    course_id: str | None
    start_s: float
    end_s: float | None
    text: str


def terms(q: str) -> list[str]:
    """The words of a query: every other character (quotes, operators, NEAR, *) is dropped, so
    no query syntax of either database ever comes from a user."""
    return _WORD.findall(q.casefold())[:MAX_TERMS]


def fts5_query(words: list[str]) -> str:
    """An FTS5 MATCH string: each word a quoted string (quotes doubled), all of them required."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _title_hits(session: Session, q: str, course_id: str | None, after: int, n: int) -> list[Hit]:
    stmt = (
        items_query(q=q, course_id=course_id, videos_only=True)
        .where(CatalogItem.id > after)
        .order_by(CatalogItem.id)
        .limit(n)
    )
    return [
        Hit(item.id, item.title, item.course_id, 0.0, item.duration_s, item.title)
        for item in session.scalars(stmt)
    ]


# Only fixed names are formatted into these two; every value is a bound parameter.
SQLITE_CUES = f"""
SELECT c.id, c.item_id, i.title, i.course_id, c.start_s, c.end_s, c.text
FROM {FTS_TABLE} f JOIN subtitle_cues c ON c.id = f.rowid JOIN catalog_items i ON i.id = c.item_id
WHERE {FTS_TABLE} MATCH :match AND f.rowid > :after {{course}}
ORDER BY f.rowid LIMIT :n
"""  # noqa: S608  # nosec B608
# One word: the planner picks from the statistics of the tsvector column: the GIN
# index for a rare word, a walk in id order that stops at the page's end for a common one.
# Several words: their matches, found through the index first (MATERIALIZED), are few, while a
# walk for words that never meet would read every cue.
POSTGRES_CUES = """
{found}
SELECT c.id, c.item_id, i.title, i.course_id, c.start_s, c.end_s, c.text
FROM subtitle_cues c JOIN catalog_items i ON i.id = c.item_id
WHERE {where} AND c.id > :after {course}
ORDER BY c.id LIMIT :n
"""  # nosec B608
MATCH = f"c.{PG_TSV_COLUMN} @@ plainto_tsquery('simple', :match)"
FOUND = f"""WITH found AS MATERIALIZED (
SELECT c.id FROM subtitle_cues c WHERE {MATCH})"""  # noqa: S608  # nosec B608


def _cue_hits(
    session: Session, words: list[str], course_id: str | None, after: int, n: int
) -> list[tuple[int, Hit]]:
    postgres = session.get_bind().dialect.name == "postgresql"
    course = "AND i.course_id = :course" if course_id else ""
    params: dict[str, Any] = {
        "match": " ".join(words) if postgres else fts5_query(words),
        "after": after,
        "n": n,
        "course": course_id,
    }
    several = len(words) > 1
    sql = (
        POSTGRES_CUES.format(
            found=FOUND if several else "",
            where="c.id IN (SELECT id FROM found)" if several else MATCH,
            course=course,
        )
        if postgres
        else SQLITE_CUES.format(course=course)
    )
    rows = session.execute(text(sql), params).all()
    return [
        (row.id, Hit(row.item_id, row.title, row.course_id, row.start_s, row.end_s, row.text))
        for row in rows
    ]


def _position(cursor: str | None) -> tuple[int, int]:
    if cursor is None:
        return TITLES, 0
    phase, after = decode_cursor(cursor, 2)
    if phase not in (TITLES, CUES) or not isinstance(after, int) or isinstance(after, bool):
        raise ValidationFailed(
            "The cursor is malformed; use the next_cursor of a previous page.",
            {"cursor": ["Malformed cursor."]},
        )
    return phase, after


def search(
    db: Database, q: str, course_id: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[Hit]:
    """Items whose title holds every word of `q`, then cues that do (in the order they were
    indexed); keyset pages, so a walk sees each hit once while cues are added."""
    words = terms(q)
    if not words:
        return Page([], None)
    phase, after = _position(cursor)
    hits: list[Hit] = []
    with db.session() as session:
        if phase == TITLES:
            hits = _title_hits(session, q, course_id, after, limit + 1)
            if len(hits) > limit:
                return Page(hits[:limit], encode_cursor([TITLES, hits[limit - 1].item_id]))
            phase, after = CUES, 0
        found = _cue_hits(session, words, course_id, after, limit - len(hits) + 1)
    room = limit - len(hits)
    hits += [hit for _, hit in found[:room]]
    if len(found) > room:
        last = found[room - 1][0] if room else after
        return Page(hits, encode_cursor([CUES, last]))
    return Page(hits, None)
