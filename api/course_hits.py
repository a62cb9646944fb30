"""The reads that answer a course page or the course list from this process's copies
(api/course_cache.py): each course's fingerprint, with its entry, and the caller's progress on
the kept lessons, all in one round trip (core.base.prepared.read_together), where a hit through
a session took five on PostgreSQL (BEGIN, the entry, the fingerprint, the progress, COMMIT) and
the list one per course."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, bindparam, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from api import course_cache
from api.extensions import db
from core.base.prepared import PreparedRead, read_together
from core.catalog.courses import fingerprint as marks
from core.catalog.courses.build import Progress
from core.catalog.courses.models import CourseEntry, LessonProgress

_TABLE = LessonProgress.__table__.c


def _column(name: str) -> Any:
    """A column as the driver gives it where that is what SQLAlchemy gives (a float column's
    processor needs the driver's type code, which a PreparedRead does not have)."""
    column = _TABLE[name]
    return type_coerce(column, NullType()).label(name) if isinstance(column.type, Float) else column


# The caller's progress over a range of item ids (rows of other items in it are dropped here).
_PROGRESS = PreparedRead(
    select(*(_column(name) for name in Progress._fields)).where(
        _TABLE.user_id == bindparam("user_id"),
        _TABLE.item_id.between(bindparam("low"), bindparam("high")),
    )
)


def shown(entry: CourseEntry) -> tuple[Any, ...]:
    """The entry's values in its fingerprint (core.catalog.courses.fingerprint)."""
    return entry.id, entry.source, entry.key, entry.title, entry.loose, entry.hidden


def _progress(user_id: int, lessons: list[int]) -> tuple[PreparedRead, dict[str, Any]]:
    low, high = (min(lessons), max(lessons)) if lessons else (1, 0)
    return _PROGRESS, {"user_id": user_id, "low": low, "high": high}


def _rows(found: list[tuple[Any, ...]], lessons: set[int]) -> dict[int, Progress]:
    """Progress rows by item id, as the page shows them (LessonProgress's attributes)."""
    return {row[0]: Progress._make(row) for row in found if row[0] in lessons}


def page(
    course_id: int, user_id: int, window: int | None
) -> tuple[course_cache.Cached, dict[int, Progress]] | None:
    """The course's page copy and the caller's progress on its lessons, if the copy was built
    from what the database holds now (its fingerprint read again, the entry with it), in
    `window`; else None (also for a course whose fingerprint takes more than one query)."""
    found = course_cache.peek(course_cache.PAGES, course_id)
    if found is None or found.window != window:
        return None
    engine = db().engine
    read = marks.together(engine.dialect.name, found.fingerprint[0])
    if read is None:
        return None
    (row,), progress = read_together(engine, [read, _progress(user_id, found.lessons)])
    if marks.fingerprint_of(found.fingerprint[0], row) != found.fingerprint:
        return None
    return found, _rows(progress, set(found.lessons))


def listing(
    session: Session, entries: list[CourseEntry], user_id: int, window: int | None, limit: int
) -> tuple[list[Any], list[course_cache.Listed | None], dict[int, Progress]]:
    """For a page of the list: each course's fingerprint, its summary copy if built from what
    the database holds now in `window` (made from its page copy if that one is, and kept: at
    most `limit` summaries), and the caller's progress on those copies' lessons; one round trip
    in `session`'s transaction, besides the fingerprints that take more (Drive folders': their
    tree's walk)."""
    dialect = session.get_bind().dialect
    kinds = [marks.together(dialect.name, shown(entry)) for entry in entries]
    candidates = [_candidates(entry.id) for entry in entries]
    lessons = {item_id for each in candidates for copy, _ in each for item_id in copy.lessons}
    reads = [read for read in kinds if read is not None]
    connection = session.connection()
    *found, progress = read_together(
        connection.engine, [*reads, _progress(user_id, sorted(lessons))], connection.connection
    )
    rows = iter(found)
    fingerprints = [
        marks.fingerprint(session, entry)
        if read is None
        else marks.fingerprint_of(shown(entry), next(rows)[0])
        for entry, read in zip(entries, kinds, strict=True)
    ]  # fmt: skip
    kept: list[course_cache.Listed | None] = []
    for entry, each, mark in zip(entries, candidates, fingerprints, strict=True):
        valid = [(c, made) for c, made in each if c.fingerprint == mark and c.window == window]
        kept.append(valid[0][0] if valid else None)
        if valid and valid[0][1]:  # made from the page: kept for the next list
            course_cache.remember(course_cache.LISTED, entry.id, valid[0][0], limit)
    return fingerprints, kept, _rows(progress, lessons)


def _candidates(course_id: int) -> list[tuple[course_cache.Listed, bool]]:
    """The course's summary copy (first) and one made from its page copy, of those that exist;
    each with whether it was made from the page."""
    listed = course_cache.peek(course_cache.LISTED, course_id)
    page_copy = course_cache.peek(course_cache.PAGES, course_id)
    found = [(listed, False)] if listed is not None else []
    return found + ([(course_cache.listed_from_page(page_copy), True)] if page_copy else [])
