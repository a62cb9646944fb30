"""A course's fingerprint: a few aggregates, read in one query, that change whenever anything a
course page shows apart from the caller's progress changes, so a web process can keep the page
(api/course_cache.py) and check it on every request, with no invalidation messages between
processes.

What the page is built from, and what here covers it:
- the course entry (title, key, loose, hidden): its columns themselves (read per request anyway);
- the course's catalog_items rows (which, their columns): count, sum, least and greatest of
  ids and sum of `updated_at` in milliseconds over the same rows the layout reads (a superset
  for loose folders). Every writer changes `updated_at`: the catalog upsert sets it, ORM and
  Core updates take its onupdate; an insert or delete changes the count and the sum of ids. A
  sum rather than a max: a transaction that commits late with an earlier `updated_at` still
  moves it;
- their downloads (the latest shown, the finished one played): count, sum of ids and of
  `updated_at` over `downloads` of every item whose id is in the range of the course's;
- their subtitle tracks (replaced, never updated in place): count, ids, `created_at`, the same;
- their chapters (replaced, no timestamp; SQLite may give new rows the ids of those just
  deleted): count, ids and sums of position, times and title lengths, the same;
- a Classroom course's topics (its sections) and connection: the `courses` row's values;
- a Drive folder course's tree of folder names (its section titles): the walk itself.
Conversions (converted_files) are not shown on the page: whether an item converts is its
`media` column, covered by `updated_at`.

`fingerprint` reads it through a session; `together` reads the same values, the entry's among
them, in one statement that runs with others in one round trip (api/course_hits.py), for the
kinds of course whose fingerprint needs no other query (all but Drive folders). On PostgreSQL a
local course's items are found by a range of source_id in C order (the index of migration
0019) besides its LIKE, which alone walked no index there."""

from __future__ import annotations

from functools import lru_cache, reduce
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from core.base.models import CatalogItem, Course, Download
from core.base.prepared import PreparedRead
from core.base.sources import Source
from core.catalog.courses.layout import (
    _drive_tree,
    _escape,
    prefix_bounds,
    prefix_pattern,
    starts,
)
from core.catalog.courses.models import CourseEntry
from core.catalog.models import Chapter, Subtitle

_ITEMS = CatalogItem.__table__.c
_CHAPTERS = Chapter.__table__.c
_ENTRIES = CourseEntry.__table__.c
_COURSES = Course.__table__.c
SHOWN = ("source", "key", "title", "loose", "hidden")  # an entry's columns in its fingerprint


def _millis(column: Any, dialect: str) -> Any:
    """A timestamp as whole milliseconds since the epoch (summed: exact integers)."""
    if dialect == "sqlite":
        return cast((func.julianday(column) - 2440587.5) * 86400000.0, BigInteger)
    return cast(func.extract("epoch", column) * 1000, BigInteger)


def _where(dialect: str, source: str, loose: bool) -> list[Any]:
    """The course's catalog_items as the layout selects them, its values bound: `pattern`,
    `first` and `beyond` (local: _local_values), `folders` (Drive), `key` and `shared`
    (Classroom)."""
    if source == Source.LOCAL:
        if loose:  # the layout then keeps those whose extra.root is the course's
            return [_ITEMS.source == Source.LOCAL, _ITEMS.folder_id == ""]
        bounds: tuple[Any, Any] = (bindparam("first"), bindparam("beyond"))
        return [_ITEMS.source == Source.LOCAL, starts(dialect, bindparam("pattern"), bounds)]
    if source == Source.DRIVE:
        return [_ITEMS.source == Source.DRIVE, _ITEMS.folder_id.in_(bindparam("folders"))]
    if source == Source.CLASSROOM:
        shared = cast(_ITEMS.extra, String).like(bindparam("shared"), escape="\\")
        return [
            _ITEMS.source == Source.CLASSROOM,
            or_(_ITEMS.course_id == bindparam("key"), shared),
        ]
    return [literal(False)]


@lru_cache(maxsize=16)
def _statement(dialect: str, source: str, loose: bool) -> Any:
    """The query for a kind of course, built once (building it cost as much as running it): the
    items' aggregates, and with them, over `low`..`high` of their ids, the other tables' (each
    table's packed in one text: one round trip for it all, where a round trip per table was
    most of a list of 50 courses on PostgreSQL under load)."""
    mine = (
        select(
            func.count().label("n"),
            func.coalesce(func.sum(_ITEMS.id), 0).label("ids"),
            func.coalesce(func.min(_ITEMS.id), 0).label("low"),
            func.coalesce(func.max(_ITEMS.id), 0).label("high"),
            func.coalesce(func.sum(_millis(_ITEMS.updated_at, dialect)), 0).label("ms"),
        )
        .where(*_where(dialect, source, loose))
        .subquery("mine")
    )

    def packed(table: Any, *values: Any) -> Any:
        texts: list[Any] = [cast(value, String) for value in values]
        text = reduce(lambda a, b: a + ":" + b, texts)
        return (
            select(text).where(table.c.item_id.between(mine.c.low, mine.c.high)).scalar_subquery()
        )

    def sums(table: Any, stamp: str) -> Any:
        return packed(
            table, func.count(), func.coalesce(func.sum(table.c.id), 0),
            func.coalesce(func.sum(_millis(table.c[stamp], dialect)), 0),
        )  # fmt: skip

    chapters = packed(
        Chapter.__table__,
        func.count(),
        func.coalesce(func.sum(_CHAPTERS.id), 0),
        func.coalesce(func.sum(_CHAPTERS.position), 0),
        func.coalesce(func.sum(_CHAPTERS.start_s), 0),
        func.coalesce(func.sum(_CHAPTERS.end_s), 0),
        func.coalesce(func.sum(func.length(_CHAPTERS.title)), 0),
    )
    return select(
        mine, sums(Download.__table__, "updated_at"), sums(Subtitle.__table__, "created_at"),
        chapters,
    )  # fmt: skip


def _local_values(dialect: str, key: str) -> dict[str, Any]:
    """What _where binds for a local folder course (its path's prefix, the range holding it)."""
    first, beyond = prefix_bounds(key + "/") or ("", "")  # a prefix ending in "/" has bounds
    return {"pattern": prefix_pattern(dialect, key + "/"), "first": first, "beyond": beyond}


def _scope(session: Session, entry: CourseEntry, dialect: str) -> tuple[dict[str, Any], Any]:
    """The values _where binds for this course, and what else its layout reads (the Drive
    tree, the Classroom course's topics and connection)."""
    if entry.source == Source.LOCAL:
        return _local_values(dialect, entry.key), None
    if entry.source == Source.DRIVE:
        paths = {entry.key: ""} if entry.loose else _drive_tree(session, entry.key)
        return {"folders": list(paths)}, sorted(paths.items())
    if entry.source == Source.CLASSROOM:
        course = session.execute(
            select(Course.topics, Course.connection_id).where(Course.id == entry.key)
        ).first()
        values = {"key": entry.key, "shared": f'%"{_escape(entry.key)}"%'}
        return values, tuple(course) if course else None
    return {}, None


def fingerprint(session: Session, entry: CourseEntry) -> tuple[Any, ...]:
    """What the course's page (without progress) is built from, summed up: equal fingerprints,
    equal pages (see the module's docstring). One query: the course's items, and the rows of
    the other tables over the range of their ids (a superset: a course's items are catalogued
    together, and a range is an index range scan where 2,000 ids would be an IN list)."""
    connection = session.connection()
    dialect = connection.dialect.name
    values, beside = _scope(session, entry, dialect)
    statement = _statement(dialect, entry.source, bool(entry.loose))
    sums = tuple(connection.execute(statement, values).one())
    shown = (entry.id, entry.source, entry.key, entry.title, entry.loose, entry.hidden)
    return shown, beside, sums


@lru_cache(maxsize=16)
def _together(dialect: str, source: str, loose: bool) -> PreparedRead:
    """_statement with the entry's columns (bound as `course_id`) before its values, and a
    Classroom course's topics and connection (whether it exists, then the values) after: the
    whole fingerprint in one row."""
    sums = _statement(dialect, source, loose).subquery("sums")
    mine = select(*(_ENTRIES[name] for name in SHOWN)).where(_ENTRIES.id == bindparam("course_id"))
    entry = mine.subquery("entry")
    columns = [*entry.c, *sums.c]
    if source == Source.CLASSROOM:
        course = select(_COURSES.id).where(_COURSES.id == bindparam("key"))
        columns += [
            course.exists().label("course_found"),
            select(_COURSES.topics).where(_COURSES.id == bindparam("key")).scalar_subquery(),
            select(_COURSES.connection_id).where(_COURSES.id == bindparam("key")).scalar_subquery(),
        ]
    return PreparedRead(select(*columns).select_from(sums.outerjoin(entry, literal(True))))


def together(dialect: str, shown: tuple[Any, ...]) -> tuple[PreparedRead, dict[str, Any]] | None:
    """The read of a course's whole fingerprint in one statement (a prepared read, to run with
    others in one round trip: core.base.prepared.read_together), given the entry values its
    fingerprint had (`shown`, the first part of a fingerprint; its source, key and loose choose
    the statement and what it binds); None where that needs more than one (a Drive folder's
    tree). `fingerprint_of` makes the row a fingerprint: equal to the one `fingerprint` reads
    when the entry still has those values, and different from it when it has not."""
    course_id, source, key, _, loose, _ = shown
    if source not in (Source.LOCAL, Source.CLASSROOM):
        return None
    values: dict[str, Any] = {"course_id": course_id}
    if source == Source.LOCAL:
        values |= _local_values(dialect, key)
    else:
        values |= {"key": key, "shared": f'%"{_escape(key)}"%'}
    return _together(dialect, source, bool(loose)), values


def fingerprint_of(shown: tuple[Any, ...], row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row of `together`'s read as `fingerprint` gives it."""
    count = len(SHOWN)
    entry = (shown[0], *row[:count])
    if shown[1] != Source.CLASSROOM:
        return entry, None, row[count:]
    sums, found = row[count:-3], row[-3]
    return entry, (tuple(row[-2:]) if found else None), sums
