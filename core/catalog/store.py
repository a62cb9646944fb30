"""The catalog store: bulk upserts, removal of what vanished, queries with keyset pagination."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.models import CatalogFolder, CatalogItem, Course, SourceState, utcnow
from core.base.pagination import Page, keyset_page
from core.base.sources import Source
from core.catalog.models import CatalogSidecar

SOURCES = (Source.LOCAL, Source.DRIVE, Source.CLASSROOM, Source.DOWNLOAD)  # download: catalog_link
BATCH = 500
ITEM_COLUMNS = (
    "source", "source_id", "title", "title_key", "mime_type", "is_video", "size_bytes",
    "duration_s", "modified_at", "folder_id", "course_id", "checksum", "url", "thumbnail_link",
    "extra", "seen_at", "media", "connection_id",
)  # fmt: skip
FOLDER_COLUMNS = ("source", "source_id", "name", "parent_id", "modified_at", "seen_at")
SIDECAR_COLUMNS = (
    "source", "source_id", "folder_id", "name", "mime_type", "size_bytes", "modified_at",
    "thumbnail_link", "seen_at",
)  # fmt: skip
# Entries that are no items but browse with them: folders, and subtitle files (CONTRACT 8.4).
NON_ITEMS = (CatalogFolder, CatalogSidecar)


def title_key(title: str) -> str:
    """Lower-case, accent-free, single-spaced: what title search compares against."""
    decomposed = unicodedata.normalize("NFKD", title)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def _insert(session: Session) -> Any:
    # Both dialects spell the upsert the same way: INSERT ... ON CONFLICT DO UPDATE.
    from sqlalchemy.dialects import postgresql, sqlite

    is_postgres = session.get_bind().dialect.name == "postgresql"
    return postgresql.insert if is_postgres else sqlite.insert


def _upsert(
    session: Session, model: Any, columns: tuple[str, ...], rows: list[dict[str, Any]]
) -> int:
    if not rows:
        return 0
    now = utcnow()
    stmt = _insert(session)(model)
    updates = {c: stmt.excluded[c] for c in columns if c not in ("source", "source_id")}
    if model is CatalogItem:
        updates["updated_at"] = now
        # The first connection to reach an item keeps streaming it (core.catalog.reach).
        first = func.coalesce(CatalogItem.connection_id, stmt.excluded.connection_id)
        updates["connection_id"] = first
    stmt = stmt.on_conflict_do_update(index_elements=["source", "source_id"], set_=updates)
    for start in range(0, len(rows), BATCH):
        chunk = [
            {**{c: row.get(c) for c in columns}, "seen_at": row.get("seen_at") or now}
            for row in rows[start : start + BATCH]
        ]
        if model is CatalogItem:
            for values in chunk:
                values.update(created_at=now, updated_at=now, thumbnail_state="pending")
        # One cached statement, executemany: SQLAlchemy batches it as multi-row VALUES.
        session.execute(stmt, chunk)
    return len(rows)


def upsert_items(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert or update items by (source, source_id); `title_key` is derived here."""
    for row in rows:
        row["title_key"] = title_key(row["title"])
        row.setdefault("extra", {})
        row.setdefault("is_video", bool((row.get("mime_type") or "").startswith("video/")))
    return _upsert(session, CatalogItem, ITEM_COLUMNS, rows)


def upsert_folders(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert or update folders by (source, source_id)."""
    return _upsert(session, CatalogFolder, FOLDER_COLUMNS, rows)


def upsert_sidecars(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert or update subtitle files by (source, source_id); a file that was an item (renamed
    to .srt) is one no more."""
    if rows:
        ids = [row["source_id"] for row in rows]
        session.execute(
            delete(CatalogItem).where(
                CatalogItem.source == rows[0]["source"], CatalogItem.source_id.in_(ids)
            )
        )
    return _upsert(session, CatalogSidecar, SIDECAR_COLUMNS, rows)


def remove_sidecars(session: Session, source: str, source_ids: Iterable[str]) -> None:
    """These files are no subtitle files (any more): not listed as such."""
    ids = list(source_ids)
    for start in range(0, len(ids), BATCH):
        session.execute(
            delete(CatalogSidecar).where(
                CatalogSidecar.source == source,
                CatalogSidecar.source_id.in_(ids[start : start + BATCH]),
            )
        )


def remove_unseen(session: Session, source: str, before: datetime) -> tuple[int, int]:
    """Delete items, folders and sidecars of `source` not seen since `before` (end of a full
    rebuild); how many items and folders went."""
    items = session.execute(
        delete(CatalogItem).where(CatalogItem.source == source, CatalogItem.seen_at < before)
    )
    folders = session.execute(
        delete(CatalogFolder).where(CatalogFolder.source == source, CatalogFolder.seen_at < before)
    )
    session.execute(
        delete(CatalogSidecar).where(
            CatalogSidecar.source == source, CatalogSidecar.seen_at < before
        )
    )
    return int(getattr(items, "rowcount", 0) or 0), int(getattr(folders, "rowcount", 0) or 0)


def remove_folders(session: Session, source: str, source_ids: Iterable[str]) -> int:
    """Delete folders of `source` with these ids; return how many went."""
    ids = list(source_ids)
    removed = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        result = session.execute(
            delete(CatalogFolder).where(
                CatalogFolder.source == source, CatalogFolder.source_id.in_(chunk)
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def remove_ids(session: Session, source: str, source_ids: Iterable[str]) -> int:
    """Delete items, folders and sidecars of `source` with these ids; how many items went."""
    ids = list(source_ids)
    removed = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        result = session.execute(
            delete(CatalogItem).where(
                CatalogItem.source == source, CatalogItem.source_id.in_(chunk)
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
        for model in NON_ITEMS:
            session.execute(delete(model).where(model.source == source, model.source_id.in_(chunk)))
    return removed


def items_query(
    source: str | None = None,
    q: str | None = None,
    folder_id: str | None = None,
    course_id: str | None = None,
    videos_only: bool = False,
) -> Select[Any]:
    """The items matching the filters; every word of `q` must appear in the title."""
    stmt = select(CatalogItem)
    if source:
        stmt = stmt.where(CatalogItem.source == source)
    if folder_id is not None:
        stmt = stmt.where(CatalogItem.folder_id == folder_id)
    if course_id:
        stmt = stmt.where(CatalogItem.course_id == course_id)
    if videos_only:
        stmt = stmt.where(CatalogItem.is_video.is_(True))
    for word in title_key(q or "").split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(CatalogItem.title_key.like(f"%{escaped}%", escape="\\"))
    return stmt


def list_items(
    db: Database, *, limit: int = 50, cursor: str | None = None, **filters: Any
) -> Page[CatalogItem]:
    """A page of items, newest id first."""
    with db.session() as session:
        return keyset_page(
            session, items_query(**filters), (CatalogItem.id,), limit=limit, cursor=cursor
        )


def get_item(db: Database, item_id: int) -> CatalogItem:
    """One item or NotFound."""
    return db.get(CatalogItem, item_id, f"No catalog item with id {item_id}.")


def find_item(db: Database, source: str, source_id: str) -> CatalogItem | None:
    """The item of `source` with `source_id`, if catalogued."""
    with db.session() as session:
        return session.scalars(
            select(CatalogItem).where(
                CatalogItem.source == source, CatalogItem.source_id == source_id
            )
        ).first()


def count_items(db: Database, source: str | None = None) -> int:
    """How many items (of `source`) the catalog holds."""
    with db.session() as session:
        stmt = select(func.count()).select_from(CatalogItem)
        if source:
            stmt = stmt.where(CatalogItem.source == source)
        return int(session.scalar(stmt) or 0)


def get_state(db: Database, source: str) -> SourceState:
    """The sync state of `source` (a blank one if it never ran)."""
    with db.session() as session:
        return session.get(SourceState, source) or SourceState(source=source)


def save_state(session: Session, source: str, **values: Any) -> None:
    """Update the sync state of `source` inside `session`."""
    state = session.get(SourceState, source)
    if state is None:
        state = SourceState(source=source)
        session.add(state)
    for key, value in values.items():
        setattr(state, key, value)


def set_thumbnail_state(db: Database, item_id: int, state: str) -> None:
    """Record whether a thumbnail could be made."""
    with db.session() as session:
        item = session.get(CatalogItem, item_id)
        if item is not None:
            item.thumbnail_state = state


def forget_google(session: Session) -> int:
    """Remove every Drive and Classroom item, folder, course and sync state (the last Google
    access went); local items and downloaded files stay. Returns how many items went."""
    removed = 0
    for source in (Source.DRIVE, Source.CLASSROOM):
        items = session.execute(delete(CatalogItem).where(CatalogItem.source == source))
        removed += int(getattr(items, "rowcount", 0) or 0)
        for model in NON_ITEMS:
            session.execute(delete(model).where(model.source == source))
        session.execute(delete(SourceState).where(SourceState.source == source))
    session.execute(delete(Course))
    return removed
