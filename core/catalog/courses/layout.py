"""What each source says of a course, in one shape: its items, each placed in a section with the
key that joins attachments to a lesson, and the sections in the source's order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import String, and_, bindparam, cast, exists, literal, or_, select
from sqlalchemy.orm import Session

from core.base.local_names import readable
from core.base.models import CatalogFolder, CatalogItem, Course, Download
from core.base.sources import Source
from core.catalog.courses.models import CourseEntry, LessonProgress

UNTITLED = ""  # the first section: lessons directly in the course folder, or without a topic
MAX_DEPTH = 32


# Rows, not ORM objects, and only the columns a course page shows: 2,000 lessons load quickly.
# `extra` (JSON, costly to decode) only where the source needs it: Classroom, loose videos.
COLUMNS = ("id", "source", "source_id", "title", "mime_type", "is_video", "size_bytes",
           "duration_s", "modified_at", "folder_id", "course_id", "url",
           "thumbnail_link", "connection_id", "media")  # fmt: skip
# With each row, in the same query: the caller's progress (bound as `user_id`; progress_*
# columns, NULL when never started) and whether the item has any download (has_download).
_PROGRESS, _ITEMS = LessonProgress.__table__, CatalogItem.__table__
_MINE = and_(_PROGRESS.c.item_id == _ITEMS.c.id, _PROGRESS.c.user_id == bindparam("user_id"))
PROGRESS = ("item_id", "position_s", "duration_s", "watched", "updated_at")
ITEM = select(
    *(_ITEMS.c[name] for name in COLUMNS),
    *(_PROGRESS.c[name].label(f"progress_{name}") for name in PROGRESS),
    exists().where(Download.__table__.c.item_id == _ITEMS.c.id).label("has_download"),
).select_from(_ITEMS.outerjoin(_PROGRESS, _MINE))
ITEM_EXTRA = ITEM.add_columns(_ITEMS.c.extra)


class Placed(NamedTuple):
    """An item of a course (a catalog_items row: attributes as CatalogItem's): its section, the
    key attachments join on, its order in the section. A tuple: a course makes thousands."""

    item: Any
    section: str
    join: str
    order: tuple[Any, ...]


@dataclass
class Layout:
    """A course as its source gives it. `sections`: (key, title) in the source's order, or
    None to sort titles naturally (folders)."""

    placed: list[Placed] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    ordered: bool = False  # the source's order stands (Classroom topics) instead of natural sort
    natural: bool = True  # lessons sort by name (folders) rather than by `order` as given


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts(session: Session, prefix: str) -> Any:
    """source_id starts with `prefix`: on SQLite a GLOB, which (unlike LIKE, case-blind there)
    walks the (source, source_id) index instead of reading the whole catalog."""
    dialect = session.get_bind().dialect.name
    bounds = prefix_bounds(prefix)
    given = (literal(bounds[0]), literal(bounds[1])) if bounds else None
    return starts(dialect, literal(prefix_pattern(dialect, prefix)), given)


def starts(dialect: str, pattern: Any, bounds: Any = None) -> Any:
    """source_id matches `pattern` (prefix_pattern's, or a bound parameter for it). On
    PostgreSQL also within `bounds` (prefix_bounds', or parameters for them), which the
    (source, source_id COLLATE "C") index walks (migration 0019): a LIKE walks no index there
    (its collation is not C, and a bound pattern is not known when the plan is made)."""
    if dialect == "sqlite":
        return CatalogItem.source_id.op("GLOB")(pattern)
    like = CatalogItem.source_id.like(pattern, escape="\\")
    if bounds is None:
        return like
    path = CatalogItem.source_id.collate("C")
    return and_(path >= bounds[0], path < bounds[1], like)


def prefix_bounds(prefix: str) -> tuple[str, str] | None:
    """The range, in code point (C) order, of the texts that start with `prefix`: from it to it
    with its last character's successor (None for an empty prefix or a last character that has
    none)."""
    if not prefix or ord(prefix[-1]) >= 0x10FFFF:
        return None
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def prefix_pattern(dialect: str, prefix: str) -> str:
    """The GLOB (SQLite) or LIKE pattern of what starts with `prefix`."""
    if dialect == "sqlite":
        return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in prefix) + "*"
    return _escape(prefix) + "%"


def _rows(session: Session, stmt: Any, user_id: int) -> Any:
    """Core rows through the session's connection (the ORM's result machinery costs a course
    page of 2,000 rows more than the query does), with `user_id`'s progress."""
    return session.connection().execute(stmt, {"user_id": user_id})


def _stem(name: str) -> str:
    """`Lesson 1` of `Lesson 1.mp4` (as PurePosixPath.stem, without building a path)."""
    base = name.rpartition("/")[2]
    stem, dot, suffix = base.rpartition(".")
    return (stem if dot and suffix and stem.strip(".") else base).casefold()


def _local(session: Session, entry: CourseEntry, user_id: int) -> Layout:
    stmt = ITEM.where(CatalogItem.source == Source.LOCAL)
    if entry.loose:
        stmt = ITEM_EXTRA.where(CatalogItem.source == Source.LOCAL, CatalogItem.folder_id == "")
        items = [
            i for i in _rows(session, stmt, user_id) if (i.extra or {}).get("root") == entry.key
        ]
        prefix = ""
    else:
        prefix = entry.key + "/"
        items = list(_rows(session, stmt.where(_starts(session, prefix)), user_id))
    layout = Layout()
    for item in items:
        rel = item.source_id[len(prefix) :]
        folder, _, name = rel.rpartition("/")
        layout.titles.setdefault(folder, readable(" / ".join(folder.split("/"))))
        layout.placed.append(Placed(item, folder, _stem(name), (name,)))
    return layout


def _drive_tree(session: Session, top: str) -> dict[str, str]:
    """folder id -> path below `top` ("" for `top`), walking catalog_folders level by level."""
    paths = {top: ""}
    level = [top]
    for _ in range(MAX_DEPTH):
        if not level:
            break
        children = session.execute(
            select(CatalogFolder.source_id, CatalogFolder.name, CatalogFolder.parent_id).where(
                CatalogFolder.source == Source.DRIVE, CatalogFolder.parent_id.in_(level)
            )
        )
        level = []
        for folder_id, name, parent in children:
            if folder_id in paths:
                continue
            above = paths[str(parent)]
            paths[folder_id] = f"{above}/{name}" if above else name
            level.append(folder_id)
    return paths


def _drive(session: Session, entry: CourseEntry, user_id: int) -> Layout:
    paths = {entry.key: ""} if entry.loose else _drive_tree(session, entry.key)
    layout = Layout()
    ids = list(paths)
    for start in range(0, len(ids), 500):
        items = _rows(
            session,
            ITEM.where(
                CatalogItem.source == Source.DRIVE,
                CatalogItem.folder_id.in_(ids[start : start + 500]),
            ),
            user_id,
        )
        for item in items:
            folder = paths[str(item.folder_id)]
            layout.titles.setdefault(folder, " / ".join(folder.split("/")))
            layout.placed.append(Placed(item, folder, _stem(item.title), (item.title,)))
    return layout


def _classroom(session: Session, entry: CourseEntry, user_id: int) -> Layout:
    course = session.get(Course, entry.key)
    topics = (course.topics if course else None) or []
    layout = Layout(ordered=True, natural=False)
    layout.titles = {UNTITLED: ""} | {str(t["id"]): str(t["name"]) for t in topics}
    shared = cast(CatalogItem.extra, String).like(f'%"{_escape(entry.key)}"%', escape="\\")
    items = _rows(
        session,
        ITEM_EXTRA.where(
            CatalogItem.source == Source.CLASSROOM,
            or_(CatalogItem.course_id == entry.key, shared),
        ),
        user_id,
    )
    for item in items:
        extra = item.extra or {}
        if entry.key not in (extra.get("course_ids") or [item.course_id]):
            continue
        topic = str((extra.get("topic_ids") or {}).get(entry.key) or UNTITLED)
        section = topic if topic in layout.titles else UNTITLED
        created = extra.get("created") or (item.modified_at.isoformat() if item.modified_at else "")
        post = str(extra.get("coursework_id") or item.id)
        layout.placed.append(Placed(item, section, post, (created, item.id)))
    return layout


SOURCES = {Source.LOCAL: _local, Source.DRIVE: _drive, Source.CLASSROOM: _classroom}


def layout_of(session: Session, entry: CourseEntry, user_id: int) -> Layout:
    """The items of a course as its source places them (empty if its folder is gone)."""
    read = SOURCES.get(Source(entry.source))
    return read(session, entry, user_id) if read else Layout()
