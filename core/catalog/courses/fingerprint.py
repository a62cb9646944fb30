"""A course's fingerprint: a few aggregates, read in one query, that change whenever anything a
course page shows apart from the caller's progress changes, so a web process can keep the page
(api/course_cache.py) and check it on every request, with no invalidation messages between
processes.

What the page is built from, and what here covers it:
- the course entry (title, key, loose, hidden): its columns themselves (read per request anyway);
- the course's catalog_items rows (which, their columns): count, sum of ids and sum of
  `updated_at` in milliseconds over the same rows the layout reads (a superset for loose
  folders). Every writer changes `updated_at`: the catalog upsert sets it, ORM and Core updates
  take its onupdate; an insert or delete changes the count and the sum of ids. A sum rather than
  a max: a transaction that commits late with an earlier `updated_at` still moves it;
- their downloads (the latest shown, the finished one played): the same over `downloads`;
- their subtitle tracks (replaced, never updated in place): count, ids, `created_at`;
- their chapters (replaced, no timestamp): count, ids and sums of position, times, title lengths;
- a Classroom course's topics (its sections) and connection: the `courses` row's values;
- a Drive folder course's tree of folder names (its section titles): the walk itself.
Conversions (converted_files) are not shown on the page: whether an item converts is its
`media` column, covered by `updated_at`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, String, cast, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from core.base.models import CatalogItem, Course, Download
from core.base.sources import Source
from core.catalog.courses.layout import _drive_tree, _escape, _starts
from core.catalog.courses.models import CourseEntry
from core.catalog.models import Chapter, Subtitle

_ITEMS = CatalogItem.__table__.c


def _millis(column: Any, dialect: str) -> Any:
    """A timestamp as whole milliseconds since the epoch (summed: exact integers)."""
    if dialect == "sqlite":
        return cast((func.julianday(column) - 2440587.5) * 86400000.0, BigInteger)
    return cast(func.extract("epoch", column) * 1000, BigInteger)


def _scope(session: Session, entry: CourseEntry) -> tuple[list[Any], Any]:
    """The course's catalog_items as the layout selects them (where clauses), and what else the
    source's layout reads (the Drive tree, the Classroom course's topics)."""
    if entry.source == Source.LOCAL:
        if entry.loose:  # the layout then keeps those whose extra.root is the course's
            return [_ITEMS.source == Source.LOCAL, _ITEMS.folder_id == ""], None
        return [_ITEMS.source == Source.LOCAL, _starts(session, entry.key + "/")], None
    if entry.source == Source.DRIVE:
        paths = {entry.key: ""} if entry.loose else _drive_tree(session, entry.key)
        return [_ITEMS.source == Source.DRIVE, _ITEMS.folder_id.in_(list(paths))], sorted(
            paths.items()
        )
    if entry.source == Source.CLASSROOM:
        shared = cast(_ITEMS.extra, String).like(f'%"{_escape(entry.key)}"%', escape="\\")
        course = session.execute(
            select(Course.topics, Course.connection_id).where(Course.id == entry.key)
        ).first()
        where = [_ITEMS.source == Source.CLASSROOM, or_(_ITEMS.course_id == entry.key, shared)]
        return where, tuple(course) if course else None
    return [literal(False)], None


def fingerprint(session: Session, entry: CourseEntry) -> tuple[Any, ...]:
    """What the course's page (without progress) is built from, summed up: equal fingerprints,
    equal pages (see the module's docstring)."""
    dialect = session.get_bind().dialect.name
    where, beside = _scope(session, entry)
    ids = select(_ITEMS.id).where(*where)
    zero = literal(0, Integer)

    def sums(table: Any, stamp: str) -> Any:
        return select(
            func.count(), func.coalesce(func.sum(table.c.id), 0),
            func.coalesce(func.sum(_millis(table.c[stamp], dialect)), 0), zero, zero, zero, zero,
        )  # fmt: skip

    items, downloads, subtitles = CatalogItem.__table__, Download.__table__, Subtitle.__table__
    chapter = Chapter.__table__.c
    chapters = (
        func.coalesce(func.sum(chapter.position), 0),
        func.coalesce(func.sum(chapter.start_s), 0),
        func.coalesce(func.sum(chapter.end_s), 0),
        func.coalesce(func.sum(func.length(chapter.title)), 0),
    )
    stmt = union_all(
        sums(items, "updated_at").where(*where),
        sums(downloads, "updated_at").where(downloads.c.item_id.in_(ids)),
        sums(subtitles, "created_at").where(subtitles.c.item_id.in_(ids)),
        select(func.count(), func.coalesce(func.sum(chapter.id), 0), zero, *chapters).where(
            chapter.item_id.in_(ids)
        ),
    )
    rows = tuple(tuple(row) for row in session.execute(stmt))
    shown = (entry.id, entry.source, entry.key, entry.title, entry.loose, entry.hidden)
    return shown, beside, rows
