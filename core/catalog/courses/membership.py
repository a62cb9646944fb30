"""Which course a lesson belongs to (for "continue watching"): the courses whose folder holds
it, or the Classroom courses that list it; a course found on its own before one added by hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.base.models import CatalogFolder
from core.base.sources import Source
from core.catalog.courses.layout import MAX_DEPTH
from core.catalog.courses.models import CourseEntry


def _drive_ancestors(session: Session, folder_id: str | None) -> list[str]:
    found: list[str] = []
    current = folder_id
    for _ in range(MAX_DEPTH):
        if not current or current in found:
            break
        found.append(current)
        current = session.scalar(
            select(CatalogFolder.parent_id).where(
                CatalogFolder.source == Source.DRIVE, CatalogFolder.source_id == current
            )
        )
    return found


def _keys(session: Session, item: Any) -> list[str]:
    """The course keys that could hold `item`, outermost first."""
    extra = item.extra or {}
    if item.source == Source.LOCAL:
        parts = item.source_id.split("/")[:-1]
        keys = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        return keys or [str(extra.get("root") or "")]
    if item.source == Source.DRIVE:
        return list(reversed(_drive_ancestors(session, item.folder_id)))
    if item.source == Source.CLASSROOM:
        return [str(key) for key in (extra.get("course_ids") or [item.course_id]) if key]
    return []


def courses_of(session: Session, items: list[Any]) -> dict[int, CourseEntry]:
    """item id -> the shown course it belongs to (items of no course are left out)."""
    wanted = {item.id: (str(item.source), _keys(session, item)) for item in items}
    pairs = {(source, key) for source, keys in wanted.values() for key in keys}
    if not pairs:
        return {}
    match = or_(*(and_(CourseEntry.source == s, CourseEntry.key == k) for s, k in pairs))
    entries = session.scalars(select(CourseEntry).where(CourseEntry.hidden.is_(False), match))
    by_key = {(entry.source, entry.key): entry for entry in entries}
    found: dict[int, CourseEntry] = {}
    for item_id, (source, keys) in wanted.items():
        # A loose course (the videos directly in a root) holds only what is directly there.
        candidates = [
            by_key[(source, key)]
            for key in keys
            if (source, key) in by_key and (not by_key[(source, key)].loose or key == keys[-1])
        ]
        if candidates:
            found[item_id] = min(candidates, key=lambda entry: entry.added)  # stable: outermost
    return found
