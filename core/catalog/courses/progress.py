"""Progress per person: one upsert statement per save (no read first), read in bulk for pages.

Rules (Jellyfin's): a lesson is watched at 90% of its duration and stays watched until marked
unwatched by hand; a position under 5% is not worth resuming (kept as 0); a position past the
end is the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    outerjoin,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from core.base.db import Database
from core.base.errors import NotFound
from core.base.models import CatalogItem, UTCDateTime, utcnow
from core.base.pagination import Page, keyset_page
from core.base.prepared_write import PreparedWrite, relaxed_commit
from core.catalog.courses.membership import courses_of
from core.catalog.courses.models import IMPLICIT_USER, CourseEntry, LessonProgress
from core.people.models import User

WATCHED_AT = 0.9
RESUME_FROM = 0.05
BATCH = 500


@dataclass(frozen=True)
class Saved:
    item_id: int
    position_s: float
    duration_s: float | None
    watched: bool
    updated_at: datetime


def _position(duration: Any) -> Any:
    """The given position clamped to the duration, 0 under RESUME_FROM of it (SQL, both
    dialects)."""
    pos = bindparam("position", type_=Float)
    clamped = case((and_(duration.is_not(None), pos > duration), duration), else_=pos)
    return case((and_(duration.is_not(None), clamped < duration * RESUME_FROM), 0.0), else_=clamped)


@lru_cache(maxsize=64)
def _upsert(dialect: str, given: bool, watched: bool | None, alone: bool) -> PreparedWrite:
    """The upsert for one kind of save, built and compiled once (building and keying it cost
    more than running it); the values are bound parameters: user, item, position, duration, now.

    Relaxed: on PostgreSQL its commit does not wait for the WAL flush (`synchronous_commit =
    off` for this statement's own transaction only: prepared_write.relaxed_commit), which was
    most of a save's time. A crash of the database
    server can lose the last ~0.6 s of saves (3 x wal_writer_delay), never corrupt anything;
    the player saves its position again every ~10 s. Watched marks set by hand go the same way:
    a mark lost to a crash is set again with a click, and the next save past 90% sets it too."""
    return PreparedWrite(_statement(dialect, given, watched, alone))


def _statement(dialect: str, given: bool, watched: bool | None, alone: bool) -> Any:
    before = aliased(LessonProgress)
    # The player's duration, else one saved before, else the item's: one statement still.
    mine = bindparam("duration", type_=Float)
    duration = func.coalesce(mine, before.duration_s, CatalogItem.duration_s)
    position = _position(duration) if given else literal(0.0, Float)
    if watched is None:
        reached = and_(duration.is_not(None), duration > 0, position >= duration * WATCHED_AT)
        done: Any = case((reached, true()), else_=literal(False))
    else:
        done = bindparam("watched", type_=Boolean)
    user = bindparam("user_id", type_=Integer)
    joined = outerjoin(
        CatalogItem, before, and_(before.item_id == CatalogItem.id, before.user_id == user)
    )
    query = (
        select(user, CatalogItem.id, position, duration, done, bindparam("now", type_=UTCDateTime))
        .select_from(joined)
        .where(CatalogItem.id == bindparam("item_id", type_=Integer))
    )
    if alone:  # the implicit person's save, made only while nobody has an account
        query = query.where(~exists(select(User.id)))
    if dialect == "postgresql":
        query = query.where(relaxed_commit())
    columns = ["user_id", "item_id", "position_s", "duration_s", "watched", "updated_at"]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(LessonProgress).from_select(columns, query)
    table = LessonProgress.__table__.c
    updates: dict[str, Any] = {
        "duration_s": stmt.excluded.duration_s,
        "updated_at": stmt.excluded.updated_at,
    }
    if given or watched is False:
        updates["position_s"] = stmt.excluded.position_s
    # Watched stays watched when a position is saved again (a rewatch); by hand it is set.
    updates["watched"] = (
        stmt.excluded.watched if watched is not None else (table.watched | stmt.excluded.watched)
    )
    stmt = stmt.on_conflict_do_update(index_elements=["user_id", "item_id"], set_=updates)
    return stmt.returning(
        table.item_id, table.position_s, table.duration_s, table.watched, table.updated_at
    )


def save(
    db: Database,
    user_id: int,
    item_id: int,
    *,
    position_s: float | None = None,
    duration_s: float | None = None,
    watched: bool | None = None,
) -> Saved:
    """Upsert one person's progress on an item in one statement (INSERT ... SELECT from the item
    ... ON CONFLICT DO UPDATE ... RETURNING) in its own transaction, straight on a pooled DBAPI
    connection (core/base/prepared_write.py: on SQLite, queued behind other saves rather than
    polling SQLite's lock); NotFound when the item does not exist."""
    saved = _save(db, user_id, item_id, position_s, duration_s, watched, alone=False)
    if saved is None:
        raise NotFound(f"No catalog item with id {item_id}.")
    return saved


def save_while_alone(
    db: Database,
    item_id: int,
    *,
    position_s: float | None = None,
    duration_s: float | None = None,
    watched: bool | None = None,
) -> Saved | None:
    """`save` for the implicit person, made only while no user exists, in the same one
    statement (whether one exists is asked inside it); None when nothing was saved: no such
    item, or a user exists (the caller must check the request as users require)."""
    return _save(db, IMPLICIT_USER, item_id, position_s, duration_s, watched, alone=True)


def _save(
    db: Database,
    user_id: int,
    item_id: int,
    position_s: float | None,
    duration_s: float | None,
    watched: bool | None,
    *,
    alone: bool,
) -> Saved | None:
    values = {"user_id": user_id, "item_id": item_id, "position": position_s or 0.0,
              "duration": duration_s, "watched": watched, "now": utcnow()}  # fmt: skip
    engine = db.engine
    upsert = _upsert(engine.dialect.name, position_s is not None, watched, alone)
    row = upsert.first(engine, **values)
    if row is None:
        return None
    return Saved(int(row[0]), float(row[1]), row[2], bool(row[3]), _aware(row[4]))


def _aware(value: Any) -> datetime:
    result = UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]
    return result if result is not None else utcnow()


def of_items(session: Session, user_id: int, item_ids: list[int]) -> dict[int, Any]:
    """The person's progress rows (with LessonProgress's attributes) for these items, by item
    id: a few queries for thousands, as rows rather than ORM objects."""
    found: dict[int, Any] = {}
    table = LessonProgress.__table__
    for start in range(0, len(item_ids), BATCH):
        rows = session.connection().execute(
            select(table).where(
                table.c.user_id == user_id, table.c.item_id.in_(item_ids[start : start + BATCH])
            )
        )
        found.update((row.item_id, row) for row in rows)
    return found


_TABLE = LessonProgress.__table__
# Built once: building a statement costs as much as running this one.
_RANGE = select(_TABLE.c.item_id, _TABLE.c.position_s, _TABLE.c.duration_s, _TABLE.c.watched,
                _TABLE.c.updated_at).where(
    _TABLE.c.user_id == bindparam("user_id"),
    _TABLE.c.item_id.between(bindparam("low"), bindparam("high")),
)  # fmt: skip


def of_lessons(session: Session, user_id: int, item_ids: list[int]) -> dict[int, Any]:
    """The person's progress rows for these items, as of_items, in one query over the range of
    their ids (a course's items are catalogued together: their ids are mostly contiguous, and
    rows of other items in the range are dropped here)."""
    if not item_ids:
        return {}
    wanted = set(item_ids)
    bounds = {"user_id": user_id, "low": min(item_ids), "high": max(item_ids)}
    rows = session.connection().execute(_RANGE, bounds)
    return {row.item_id: row for row in rows if row.item_id in wanted}


def listing(
    db: Database, user_id: int, state: str | None, *, limit: int, cursor: str | None
) -> Page[tuple[LessonProgress, CatalogItem, CourseEntry | None]]:
    """The person's progress, most recent first, with each item and the course it belongs to
    (rows of vanished items are kept but not listed); `state` in_progress (started, not
    watched) or watched."""
    stmt = select(LessonProgress).where(LessonProgress.user_id == user_id)
    stmt = stmt.where(
        select(CatalogItem.id).where(CatalogItem.id == LessonProgress.item_id).exists()
    )
    if state == "in_progress":
        stmt = stmt.where(LessonProgress.watched.is_(False), LessonProgress.position_s > 0)
    elif state == "watched":
        stmt = stmt.where(LessonProgress.watched.is_(True))
    keys = (LessonProgress.updated_at, LessonProgress.item_id)
    with db.session() as session:
        page = keyset_page(session, stmt, keys, limit=limit, cursor=cursor)
        ids = [row.item_id for row in page.items]
        items = {
            i.id: i for i in session.scalars(select(CatalogItem).where(CatalogItem.id.in_(ids)))
        }
        courses = courses_of(session, list(items.values()))
    found = [
        (row, items[row.item_id], courses.get(row.item_id))
        for row in page.items
        if row.item_id in items
    ]
    return Page(found, page.next_cursor)
