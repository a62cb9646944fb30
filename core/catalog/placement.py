"""Where an item sits in its course: the course's title, its section's title and place, and the
lesson's 1-based position in that section (CONTRACT 8.3, as the course page shows them).

A lesson of a shown course is placed exactly as its course page shows it (core.catalog.courses:
Classroom topics as sections, natural order). An item of no shown course (hidden, or not yet
discovered) falls back to what the catalog holds. Classroom items: their course, no sections,
lessons oldest first. Drive items: the folder just below an indexed folder is the
course, the folders between it and the lesson the section ("A / B"); videos loose in an indexed
folder form a course named after it. Local items alike, by their path under the media root.
Sections and lessons are sorted naturally ("Lesson 2" before "Lesson 10")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base.local_names import readable
from core.base.models import CatalogFolder, CatalogItem, Course
from core.base.sources import Source
from core.catalog.courses.build import build
from core.catalog.courses.layout import layout_of
from core.catalog.courses.membership import courses_of
from core.catalog.courses.models import IMPLICIT_USER


@dataclass(frozen=True)
class Placement:
    """course/section titles (None: not in one), the section's 1-based place among the course's
    sections (0: no section), the lesson's 1-based place in its section (None: not a lesson)."""

    course: str | None = None
    section: str | None = None
    season: int = 0
    position: int | None = None
    course_key: str | None = None  # what tells one course from another (a folder, a course id)


def natural_key(text: str | None) -> list[object]:
    """Sort key: digits by value, letters without case ("Lesson 2" before "Lesson 10")."""
    parts = re.split(r"(\d+)", (text or "").casefold())
    return [int(part) if part.isdigit() else part for part in parts]


def _position(item: CatalogItem, peers: Iterable[CatalogItem], *, by_time: bool = False) -> int:
    def key(other: CatalogItem) -> tuple[object, ...]:
        if by_time:
            return (other.modified_at or other.created_at, other.id)
        return (natural_key(other.title), other.id)

    ordered = sorted({peer.id: peer for peer in [*peers, item]}.values(), key=key)
    return [peer.id for peer in ordered].index(item.id) + 1


def _videos(session: Session, source: str, **where: object) -> list[CatalogItem]:
    query = select(CatalogItem).where(CatalogItem.source == source, CatalogItem.is_video)
    for name, value in where.items():
        column = getattr(CatalogItem, name)
        query = query.where(column.in_(value) if isinstance(value, set) else column == value)
    return list(session.scalars(query))


def _classroom(session: Session, item: CatalogItem) -> Placement:
    course = session.get(Course, item.course_id) if item.course_id else None
    if course is None:
        return Placement()
    peers = _videos(session, Source.CLASSROOM, course_id=item.course_id)
    position = _position(item, peers, by_time=True)
    return Placement(course.name, None, 0, position, f"classroom:{course.id}")


def _from_chain(
    titles: list[str], item: CatalogItem, peers_by_section: dict[str, list[CatalogItem]], key: str
) -> Placement:
    course, *between = titles
    section = " / ".join(between) or None
    sections = sorted((s for s in peers_by_section if s), key=natural_key)
    season = sections.index(section) + 1 if section in sections else 0
    position = _position(item, peers_by_section.get(section or "", []))
    return Placement(course, section, season, position, key)


def _drive(session: Session, item: CatalogItem, roots: set[str]) -> Placement:
    folders = {
        row.source_id: row
        for row in session.scalars(
            select(CatalogFolder).where(CatalogFolder.source == Source.DRIVE)
        )
    }

    def chain(folder_id: str | None) -> list[CatalogFolder]:
        """The stored folders from the top (an indexed folder, or the highest one stored) down."""
        found: list[CatalogFolder] = []
        while folder_id in folders and len(found) < 64:
            found.insert(0, folders[folder_id])
            if folder_id in roots:
                break
            folder_id = folders[folder_id].parent_id
        return found

    def course_path(folder_id: str | None) -> list[CatalogFolder]:
        path = chain(folder_id)
        return path[1:] or path[:1] if path and path[0].source_id in roots else path

    path = course_path(item.folder_id)
    if not path:
        return Placement()
    course = path[0].source_id
    peers: dict[str, list[CatalogItem]] = {}
    for peer in _videos(session, Source.DRIVE):
        theirs = course_path(peer.folder_id)
        if theirs and theirs[0].source_id == course:
            peers.setdefault(" / ".join(f.name for f in theirs[1:]), []).append(peer)
    return _from_chain([f.name for f in path], item, peers, f"drive:{course}")


def _local(session: Session, item: CatalogItem) -> Placement:
    parts = PurePosixPath(item.source_id).parts
    root = PurePosixPath(str((item.extra or {}).get("root") or "library")).name
    titles = [root] if len(parts) == 1 else list(parts[:-1])
    prefix = "" if len(parts) == 1 else parts[0] + "/"
    peers: dict[str, list[CatalogItem]] = {}
    for peer in _videos(session, Source.LOCAL):
        peer_parts = PurePosixPath(peer.source_id).parts
        same = peer.source_id.startswith(prefix) if prefix else len(peer_parts) == 1
        if same:
            section = readable(" / ".join(peer_parts[1:-1])) if prefix else ""
            peers.setdefault(section, []).append(peer)
    shown = [readable(title) for title in titles]  # folder names that are not UTF-8, as read
    return _from_chain(shown, item, peers, f"local:{titles[0]}")


def _from_course_page(session: Session, item: CatalogItem) -> Placement | None:
    entry = courses_of(session, [item]).get(item.id)
    if entry is None:
        return None
    for section in build(entry, layout_of(session, entry, IMPLICIT_USER)).sections:
        for lesson in section.lessons:
            if lesson.item.id == item.id:
                season = section.position if section.title else 0
                key = f"{entry.source}:{entry.key}"
                return Placement(entry.title, section.title or None, season, lesson.position, key)
    return None


def placement(session: Session, item: CatalogItem, drive_roots: Iterable[str] = ()) -> Placement:
    """Where `item` sits in its course (an empty Placement when it is in none)."""
    shown = _from_course_page(session, item) if item.is_video else None
    if shown is not None:
        return shown
    if item.source == Source.CLASSROOM:
        return _classroom(session, item)
    if item.source == Source.DRIVE:
        return _drive(session, item, set(drive_roots))
    if item.source == Source.LOCAL:
        return _local(session, item)
    return Placement()
