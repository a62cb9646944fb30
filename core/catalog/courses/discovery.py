"""Which folders and Classroom courses are courses: found after every rebuild and sync, added
by hand, hidden. A course row stays when its folder goes: it shows empty, its progress kept."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.errors import NotFound, ValidationFailed
from core.base.local_names import catalog_name, os_name, readable
from core.base.models import CatalogFolder, CatalogItem, Course, SourceState
from core.base.settings import Settings
from core.base.sources import Source
from core.catalog.courses.models import CourseEntry
from core.catalog.store import _insert

MY_DRIVE = "My Drive"


def _upsert(session: Session, found: Iterable[dict[str, Any]]) -> None:
    """Insert new course rows; an existing one only takes the new title (hidden stays hidden)."""
    rows = [{"loose": False, "added": False, "hidden": False, **row} for row in found]
    if not rows:
        return
    stmt = _insert(session)(CourseEntry)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "key"], set_={"title": stmt.excluded.title}
    )
    session.execute(stmt, rows)


def discover_classroom(session: Session) -> None:
    """Every synced Classroom course is a course."""
    courses = session.execute(select(Course.id, Course.name))
    _upsert(
        session, ({"source": Source.CLASSROOM, "key": cid, "title": name} for cid, name in courses)
    )


def _folder_title(path: str) -> str:
    """A local folder's name (text form) as people read it; a root's path when it has none."""
    return readable(Path(path).name or path)


def discover_local(session: Session) -> None:
    """Every immediate subfolder of a media root that holds files is a course, and the videos
    loose in a root are one named after it."""
    tops = {
        folder.split("/", 1)[0]
        for folder in session.scalars(
            select(CatalogFolder.source_id).where(CatalogFolder.source == Source.LOCAL)
        )
    }
    rows: list[dict[str, Any]] = [
        {"source": Source.LOCAL, "key": top, "title": readable(top)} for top in sorted(tops) if top
    ]
    loose = session.execute(
        select(CatalogItem.extra).where(
            CatalogItem.source == Source.LOCAL,
            CatalogItem.folder_id == "",
            CatalogItem.is_video.is_(True),
        )
    )
    roots = {str((extra or {}).get("root")) for (extra,) in loose if (extra or {}).get("root")}
    rows += [
        {"source": Source.LOCAL, "key": root, "title": _folder_title(root), "loose": True}
        for root in sorted(roots)
    ]
    _upsert(session, rows)


def drive_roots(session: Session) -> dict[str, str]:
    """The indexed Drive folders as the last rebuild resolved them: id -> the name asked for."""
    state = session.get(SourceState, Source.DRIVE)
    aliases = ((state.extra if state else None) or {}).get("aliases") or {}
    return {str(real): str(asked) for asked, real in aliases.items()}


def discover_drive(session: Session) -> None:
    """Every immediate subfolder of an indexed Drive folder is a course, and the videos loose in
    an indexed folder are one named after it."""
    roots = drive_roots(session)
    if not roots:
        return
    subfolders = session.execute(
        select(CatalogFolder.source_id, CatalogFolder.name).where(
            CatalogFolder.source == Source.DRIVE, CatalogFolder.parent_id.in_(list(roots))
        )
    )
    rows: list[dict[str, Any]] = [
        {"source": Source.DRIVE, "key": fid, "title": name or fid} for fid, name in subfolders
    ]
    loose = session.scalars(
        select(CatalogItem.folder_id)
        .where(CatalogItem.source == Source.DRIVE, CatalogItem.folder_id.in_(list(roots)))
        .where(CatalogItem.is_video.is_(True))
        .distinct()
    )
    rows += [
        {
            "source": Source.DRIVE,
            "key": root,
            "title": _root_title(session, roots, root),
            "loose": True,
        }
        for root in loose
        if root
    ]
    _upsert(session, rows)


def _root_title(session: Session, roots: dict[str, str], root: str) -> str:
    """An indexed folder's name as Drive last gave it (else the id it was asked by)."""
    if roots.get(root) == "root":
        return MY_DRIVE
    state = session.get(SourceState, Source.DRIVE)
    names = ((state.extra if state else None) or {}).get("names") or {}
    return str(names.get(root) or roots.get(root, root))


# ---------------------------------------------------------------- added by hand, hidden


def _local_key(settings: Settings, path: str) -> tuple[str, str, bool]:
    """(key, title, loose) of an absolute folder path inside a media root; ValidationFailed
    for anything else."""
    candidate = Path(os_name(path))  # a name that is not UTF-8 comes as the catalog shows it
    if not candidate.is_absolute() or "\x00" in path:
        raise ValidationFailed("path must be an absolute folder path.", {"path": ["Not absolute."]})
    resolved = candidate.resolve()
    for root in settings.media_roots:
        base = root.resolve()
        if resolved.is_relative_to(base) and resolved.is_dir():
            rel = catalog_name(resolved.relative_to(base).as_posix())
            if rel == ".":
                key = catalog_name(str(base))
                return key, _folder_title(key), True
            return rel, _folder_title(rel), False
    raise ValidationFailed(
        "The folder is not inside a media root (MEDIA_ROOTS).",
        {"path": ["Not a folder inside a media root."], "reason": "outside_roots"},
    )


def _drive_key(session: Session, folder_id: str) -> tuple[str, str, bool]:
    roots = drive_roots(session)
    if folder_id in roots or folder_id in roots.values():
        real = next((r for r, asked in roots.items() if folder_id in (r, asked)), folder_id)
        return real, _root_title(session, roots, real), True
    name = session.scalar(
        select(CatalogFolder.name).where(
            CatalogFolder.source == Source.DRIVE, CatalogFolder.source_id == folder_id
        )
    )
    if name is None:
        raise ValidationFailed(
            "The folder is not one the catalog indexes (DRIVE_FOLDER_IDS or a connection's"
            " folders); rebuild the Drive catalog if it was just added.",
            {"folder_id": ["Not an indexed Drive folder."], "reason": "outside_roots"},
        )
    return folder_id, name or folder_id, False


def add_course(db: Database, settings: Settings, source: str, ref: str) -> tuple[CourseEntry, bool]:
    """A folder added by hand: (the course, whether it is new). The same folder again, or one
    already found on its own, answers the course it is (shown again if it was hidden)."""
    with db.session() as session:
        if source == Source.LOCAL:
            key, title, loose = _local_key(settings, ref)
        else:
            key, title, loose = _drive_key(session, ref)
    where = (CourseEntry.source == source, CourseEntry.key == key)
    try:
        with db.session() as session:
            found = session.scalar(select(CourseEntry).where(*where))
            if found is not None:
                found.hidden, found.added = False, True
                return found, False
            entry = CourseEntry(
                source=source, key=key, title=title, loose=loose, added=True, hidden=False
            )
            session.add(entry)
            session.flush()
            return entry, True
    except IntegrityError:  # the same folder added at the same moment: the other one won
        with db.session() as session:
            return session.scalars(select(CourseEntry).where(*where)).one(), False


def hide_course(db: Database, course_id: int) -> None:
    """Hide a course (its progress stays); NotFound for an unknown one."""
    with db.session() as session:
        result = session.execute(
            update(CourseEntry).where(CourseEntry.id == course_id).values(hidden=True)
        )
        if not getattr(result, "rowcount", 0):
            raise NotFound(f"No course with id {course_id}.")
