"""Which Google connection reaches which Drive entry, Classroom material or course.

A file two accounts can see is one catalog item (unique by source and source id), reached twice.
Each connection's rebuild marks what it saw; what a connection no longer reaches goes from the
catalog only when no other connection reaches it either (CONTRACT 8.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.base.models import Base, CatalogItem, Course, SourceState, utcnow
from core.base.sources import Source
from core.catalog.store import NON_ITEMS

COURSE = "course"  # the reach of a Classroom course (its id), beside items' sources
BATCH = 500
Pair = tuple[str, str]


class CatalogReach(Base):
    """One connection reaching one entry (a Drive file or folder, a material, a course)."""

    __tablename__ = "catalog_reach"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # drive, classroom or course
    source_id: Mapped[str] = mapped_column(String(1024))
    connection_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("google_connections.id", ondelete="CASCADE"),
    )
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "source_id", "connection_id", name="uq_catalog_reach"),
        Index("ix_catalog_reach_connection", "connection_id", "source", "seen_at"),
    )


def state_key(source: str, connection_id: int) -> str:
    """The SourceState key of one connection's sync of `source` (its own changes token)."""
    return f"{source}:{connection_id}"


def mark(
    session: Session, source: str, source_ids: Iterable[str], connection_id: int, seen: datetime
) -> None:
    """Note that `connection_id` reached these entries at `seen`."""
    from sqlalchemy.dialects import postgresql, sqlite

    ids = list(dict.fromkeys(source_ids))
    if not ids:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(CatalogReach)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "source_id", "connection_id"],
        set_={"seen_at": stmt.excluded.seen_at},
    )
    for start in range(0, len(ids), BATCH):
        rows = [
            {"source": source, "source_id": sid, "connection_id": connection_id, "seen_at": seen}
            for sid in ids[start : start + BATCH]
        ]
        session.execute(stmt, rows)


def reached(session: Session, source: str, connection_id: int) -> set[str]:
    """Every entry of `source` the connection reaches."""
    stmt = select(CatalogReach.source_id).where(
        CatalogReach.source == source, CatalogReach.connection_id == connection_id
    )
    return set(session.scalars(stmt))


def release(
    session: Session,
    connection_id: int,
    *,
    sources: tuple[str, ...],
    source_ids: Iterable[str] | None = None,
    before: datetime | None = None,
) -> dict[str, int]:
    """The connection no longer reaches these entries (or those of `sources` it did not see
    since `before`, or all of them): entries nobody reaches any more leave the catalog, the
    others are streamed through a connection that still reaches them. How many went."""
    where = [CatalogReach.connection_id == connection_id, CatalogReach.source.in_(sources)]
    if before is not None:
        where.append(CatalogReach.seen_at < before)
    by_source: dict[str, list[str]] = {}
    for source, sid in _lost(session, where, source_ids):
        by_source.setdefault(source, []).append(sid)
    removed = {"items": 0, "courses": 0}
    for source, ids in by_source.items():
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            session.execute(delete(CatalogReach).where(*where, CatalogReach.source_id.in_(chunk)))
            removed["courses" if source == COURSE else "items"] += _orphans(session, source, chunk)
            _hand_over(session, connection_id, source, chunk)
    return removed


def _lost(session: Session, where: list[Any], source_ids: Iterable[str] | None) -> list[Pair]:
    stmt = select(CatalogReach.source, CatalogReach.source_id).where(*where)
    if source_ids is None:
        return [(str(source), str(sid)) for source, sid in session.execute(stmt)]
    ids, found = list(source_ids), []
    for start in range(0, len(ids), BATCH):
        chunk = stmt.where(CatalogReach.source_id.in_(ids[start : start + BATCH]))
        found += [(str(source), str(sid)) for source, sid in session.execute(chunk)]
    return found


def _orphans(session: Session, source: str, ids: list[str]) -> int:
    """Remove the entries among `ids` that no connection reaches any more."""
    still = set(
        session.scalars(
            select(CatalogReach.source_id).where(
                CatalogReach.source == source, CatalogReach.source_id.in_(ids)
            )
        )
    )
    orphans = [sid for sid in ids if sid not in still]
    if not orphans:
        return 0
    if source == COURSE:
        gone = session.execute(delete(Course).where(Course.id.in_(orphans)))
        return int(getattr(gone, "rowcount", 0) or 0)
    items = session.execute(
        delete(CatalogItem).where(CatalogItem.source == source, CatalogItem.source_id.in_(orphans))
    )
    for model in NON_ITEMS:
        session.execute(delete(model).where(model.source == source, model.source_id.in_(orphans)))
    return int(getattr(items, "rowcount", 0) or 0)


def _hand_over(session: Session, connection_id: int, source: str, ids: list[str]) -> None:
    """Those of `ids` that `connection_id` streamed and another connection still reaches get
    that one (the lowest id)."""
    model: Any = Course if source == COURSE else CatalogItem
    key = Course.id if source == COURSE else CatalogItem.source_id
    other = (
        select(func.min(CatalogReach.connection_id))
        .where(CatalogReach.source == source, CatalogReach.source_id == key)
        .scalar_subquery()
    )
    stmt = update(model).where(model.connection_id == connection_id, key.in_(ids))
    if source != COURSE:
        stmt = stmt.where(CatalogItem.source == source)
    session.execute(
        stmt.where(other.is_not(None))
        .values(connection_id=other)
        .execution_options(synchronize_session=False)
    )


def forget_connection(session: Session, connection_id: int) -> dict[str, int]:
    """A deleted connection: its Drive and Classroom items and courses leave the catalog unless
    another connection reaches them; its own sync state goes. Downloaded files stay."""
    removed = release(session, connection_id, sources=(Source.DRIVE, Source.CLASSROOM, COURSE))
    for source in (Source.DRIVE, Source.CLASSROOM):
        session.execute(
            delete(SourceState).where(SourceState.source == state_key(source, connection_id))
        )
    return removed


def remove_unreached(session: Session, source: str, before: datetime) -> int:
    """Entries of `source` no connection reaches that were not seen since `before` (catalogued
    before connections kept track, or through the by-hand credential): gone. How many items."""
    if source == COURSE:
        unreached = ~exists(
            select(CatalogReach.id).where(
                CatalogReach.source == COURSE, CatalogReach.source_id == Course.id
            )
        )
        gone = session.execute(
            delete(Course)
            .where(Course.seen_at < before, unreached)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(gone, "rowcount", 0) or 0)
    removed = 0
    for model in (CatalogItem, *NON_ITEMS):
        unreached = ~exists(
            select(CatalogReach.id).where(
                CatalogReach.source == source, CatalogReach.source_id == model.source_id
            )
        )
        result = session.execute(
            delete(model)
            .where(model.source == source, model.seen_at < before, unreached)
            .execution_options(synchronize_session=False)
        )
        if model is CatalogItem:
            removed = int(getattr(result, "rowcount", 0) or 0)
    return removed
