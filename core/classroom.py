"""Google Classroom: courses and their materials (Drive files, YouTube videos, links) as items."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core import catalog
from core.db import session_scope
from core.errors import NotFound, UpstreamRefused, ValidationFailed
from core.google import DriveClient, GoogleApi
from core.indexing import MAX_LISTING_RESTARTS, Progress, parse_timestamp
from core.models import CatalogItem, Course, utcnow
from core.pagination import Page, keyset_page
from core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
Row = dict[str, Any]
SOURCE = "classroom"
PAGE_SIZE = 100
# Archived courses stay readable and often hold exactly the lessons worth keeping; provisioned
# and declined ones are not (yet) the user's, and suspended ones are not listed by default.
INDEXED_STATES = frozenset({"ACTIVE", "ARCHIVED"})
YOUTUBE_MIME = "video/youtube"  # not a registered type: marks a video fetched by yt-dlp
# updateTime ascending: a post edited while we page moves behind the cursor, so it is seen
# (perhaps twice) rather than skipped, as it could be with the default `updateTime desc`.
POST_ORDER = "updateTime asc"
DRIVE_INFO = ("mime_type", "size_bytes", "duration_s", "checksum", "thumbnail_link")


def _quiet(_current: int, _total: int | None, _message: str) -> None:
    return None


class ClassroomClient(GoogleApi):
    """Classroom v1: courses, their courseWork and courseWorkMaterials, every page."""

    service = "Google Classroom"

    @staticmethod
    def base_url(settings: Settings) -> str:
        return f"{settings.classroom_api_url}/v1"

    def courses(self) -> Iterator[dict[str, Any]]:
        """Every course the user may see, in Classroom's default states (newest first)."""
        for page in self.pages("courses", "courses", {"pageSize": PAGE_SIZE}):
            yield from page

    def coursework(self, course_id: str) -> Iterator[dict[str, Any]]:
        """Every published courseWork of a course."""
        path = f"courses/{quote(course_id, safe='')}/courseWork"
        for page in self.pages(path, "courseWork", {"pageSize": PAGE_SIZE, "orderBy": POST_ORDER}):
            yield from page

    def materials(self, course_id: str) -> Iterator[dict[str, Any]]:
        """Every published courseWorkMaterial of a course."""
        path = f"courses/{quote(course_id, safe='')}/courseWorkMaterials"
        params = {"pageSize": PAGE_SIZE, "orderBy": POST_ORDER}
        for page in self.pages(path, "courseWorkMaterial", params):
            yield from page


# ---------------------------------------------------------------- materials as catalog rows


def _base_row(post: dict[str, Any], course_id: str, seen: datetime, kind: str) -> Row:
    return {
        "source": SOURCE,
        "course_id": course_id,
        "modified_at": parse_timestamp(post.get("updateTime")),
        "seen_at": seen,
        "extra": {"kind": kind, "coursework_id": post.get("id"), "course_ids": [course_id]},
    }


def _drive_row(material: dict[str, Any], base: Row) -> Row | None:
    shared = material["driveFile"] or {}
    file = shared.get("driveFile") or {}
    file_id = file.get("id")
    if not file_id:
        return None
    link = file.get("alternateLink") or f"https://drive.google.com/open?id={file_id}"
    base["extra"].update(
        drive_file_id=file_id,
        share_mode=shared.get("shareMode"),
        thumbnail_url=file.get("thumbnailUrl"),
    )
    return {**base, "source_id": file_id, "title": file.get("title") or file_id, "url": link,
            "thumbnail_link": file.get("thumbnailUrl")}  # fmt: skip


def _youtube_row(material: dict[str, Any], base: Row) -> Row | None:
    video = material["youtubeVideo"] or {}
    video_id = video.get("id")
    link = video.get("alternateLink") or (
        f"https://www.youtube.com/watch?v={video_id}" if video_id else None
    )
    if not link:
        return None
    base["extra"].update(youtube_id=video_id, thumbnail_url=video.get("thumbnailUrl"))
    return {**base, "source_id": link, "title": video.get("title") or link, "url": link,
            "mime_type": YOUTUBE_MIME, "is_video": True,
            "thumbnail_link": video.get("thumbnailUrl")}  # fmt: skip


def _link_row(material: dict[str, Any], base: Row) -> Row | None:
    entry = material["link"] or {}
    target = entry.get("url")
    if not target:
        return None
    base["extra"]["thumbnail_url"] = entry.get("thumbnailUrl")
    return {**base, "source_id": target, "title": entry.get("title") or target, "url": target,
            "is_video": False}  # fmt: skip


BUILDERS: dict[str, Callable[[dict[str, Any], Row], Row | None]] = {
    "driveFile": _drive_row,
    "youtubeVideo": _youtube_row,
    "link": _link_row,
}


def material_row(
    material: dict[str, Any], post: dict[str, Any], course_id: str, seen: datetime
) -> Row | None:
    """The catalog row of one Material; None for forms and anything without an address."""
    for kind, build in BUILDERS.items():
        if kind in material:
            return build(material, _base_row(post, course_id, seen, kind))
    return None


# ---------------------------------------------------------------- is a Drive material a video?


def _known_drive(db_url: str, file_ids: list[str]) -> dict[str, Row]:
    """What the catalog already knows of these Drive files: the Drive index first, then what an
    earlier Classroom sync learnt from Drive (its checksum aside, which may be stale)."""
    known: dict[str, Row] = {}
    with session_scope(db_url) as session:
        for source in ("drive", SOURCE):
            items = session.scalars(
                select(CatalogItem).where(
                    CatalogItem.source == source,
                    CatalogItem.source_id.in_(file_ids),
                    CatalogItem.mime_type.is_not(None),
                )
            )
            for item in items:
                info = {key: getattr(item, key) for key in DRIVE_INFO}
                if source == SOURCE:
                    info["checksum"] = None
                known.setdefault(item.source_id, info)
    return known


def _ask_drive(drive: DriveClient, file_id: str) -> Row:
    try:
        entry = drive.get_file(file_id)
    except (NotFound, UpstreamRefused) as error:
        drive.auth.token()  # raises if the credentials themselves were refused: all stop
        log.info("Drive file of a Classroom material is out of reach: %s", error.message)
        return {}
    millis = (entry.get("videoMediaMetadata") or {}).get("durationMillis")
    return {
        "mime_type": entry.get("mimeType"),
        "size_bytes": int(entry["size"]) if entry.get("size") else None,
        "duration_s": int(millis) / 1000 if millis else None,
        "checksum": entry.get("md5Checksum"),
        "thumbnail_link": entry.get("thumbnailLink"),
    }


def resolve_drive_files(db_url: str, drive: DriveClient, rows: list[Row]) -> int:
    """Fill in type, size and `is_video` of Drive materials; return how many Drive calls it took.

    A file the catalog knows costs nothing; any other costs one paced `files.get`. A file
    Drive will not show (404, refused) stays catalogued, as not a video.
    """
    pending = [row for row in rows if row["extra"]["kind"] == "driveFile"]
    known = _known_drive(db_url, [row["source_id"] for row in pending]) if pending else {}
    asked = 0
    for row in pending:
        info = known.get(row["source_id"])
        if info is None:
            info = _ask_drive(drive, row["source_id"])
            asked += 1
        row.update({key: value for key, value in info.items() if value is not None})
        row["is_video"] = (row.get("mime_type") or "").startswith("video/")
    return asked


# ---------------------------------------------------------------- the sync


def _complete(listing: Callable[[], list[T]]) -> list[T]:
    """Run a whole listing again when Classroom refuses a page token part way (400)."""
    for attempt in range(MAX_LISTING_RESTARTS + 1):
        try:
            return listing()
        except ValidationFailed:
            if attempt == MAX_LISTING_RESTARTS:
                raise
            log.warning("Classroom rejected a page token; restarting the listing")
    raise AssertionError("unreachable")


def _posts(client: ClassroomClient, course_id: str) -> list[dict[str, Any]] | None:
    """A course's courseWork then courseWorkMaterials; [] if the course vanished meanwhile,
    None if Classroom refuses to show them (the course's items are then kept as they are)."""
    try:
        work = _complete(lambda: list(client.coursework(course_id)))
        return work + _complete(lambda: list(client.materials(course_id)))
    except NotFound:
        return []
    except UpstreamRefused as error:
        client.auth.token()  # raises if the credentials themselves were refused: all stop
        log.warning("Classroom refused the posts of course %s: %s", course_id, error.message)
        return None


def _add_rows(
    rows: dict[str, Row], course_id: str, posts: list[dict[str, Any]], seen: datetime
) -> list[Row]:
    """Add the materials of `posts`; the first course to list a material owns its item."""
    added = []
    for post in posts:
        for material in post.get("materials") or []:
            row = material_row(material, post, course_id, seen)
            if row is None:
                continue
            first = rows.get(row["source_id"])
            if first is None:
                rows[row["source_id"]] = row
                added.append(row)
            elif course_id not in first["extra"]["course_ids"]:
                first["extra"]["course_ids"].append(course_id)
    return added


def _save(
    session: Session,
    courses: list[dict[str, Any]],
    rows: list[Row],
    kept: list[str],
    seen: datetime,
) -> tuple[int, int]:
    for entry in courses:
        course = session.get(Course, entry["id"]) or Course(id=entry["id"])
        course.name = entry.get("name") or entry["id"]
        course.section = entry.get("section")
        course.state = entry.get("courseState")
        course.alternate_link = entry.get("alternateLink")
        course.seen_at = seen
        session.add(course)
    catalog.upsert_items(session, rows)
    if kept:  # a refused course keeps what it had
        session.execute(
            update(CatalogItem)
            .where(CatalogItem.source == SOURCE, CatalogItem.course_id.in_(kept))
            .where(CatalogItem.seen_at < seen)
            .values(seen_at=seen)
        )
    removed, _ = catalog.remove_unseen(session, SOURCE, seen)
    gone = session.execute(delete(Course).where(Course.seen_at < seen))
    catalog.save_state(
        session, SOURCE, last_rebuild_at=utcnow(), last_sync_at=utcnow(), last_error=None
    )
    return removed, int(getattr(gone, "rowcount", 0) or 0)


def sync_classroom(
    settings: Settings,
    client: ClassroomClient,
    drive_client: DriveClient,
    on_progress: Progress = _quiet,
) -> dict[str, int]:
    """Make the catalog's Classroom items exactly the materials of the indexed courses.

    Courses in any listed state are kept as rows; the materials of ACTIVE and ARCHIVED ones
    become items. Nothing is written until every listing is complete, then courses and items
    are saved, and what vanished removed, in one transaction: a sync that fails part way
    changes nothing. Idempotent.
    """
    started = utcnow()
    on_progress(0, None, "listing Classroom courses")
    courses = _complete(lambda: list(client.courses()))
    indexed = [course for course in courses if course.get("courseState") in INDEXED_STATES]
    rows: dict[str, Row] = {}
    kept: list[str] = []
    drive_calls = 0
    for index, course in enumerate(indexed, 1):
        posts = _posts(client, course["id"])
        if posts is None:
            kept.append(course["id"])
        else:
            added = _add_rows(rows, course["id"], posts, started)
            drive_calls += resolve_drive_files(settings.database_url, drive_client, added)
        on_progress(index, len(indexed), f"listed {index} of {len(indexed)} courses")
    with session_scope(settings.database_url) as session:
        removed, courses_removed = _save(session, courses, list(rows.values()), kept, started)
    on_progress(len(indexed), len(indexed), f"catalogued {len(rows)} Classroom materials")
    return {
        "courses": len(courses),
        "indexed_courses": len(indexed) - len(kept),
        "refused_courses": len(kept),
        "items": len(rows),
        "videos": sum(1 for row in rows.values() if row["is_video"]),
        "drive_lookups": drive_calls,
        "removed": removed,
        "courses_removed": courses_removed,
    }


# ---------------------------------------------------------------- courses for the API


@dataclass(frozen=True)
class CourseSummary:
    """A course as the API lists it."""

    id: str
    name: str
    section: str | None
    state: str | None
    alternate_link: str | None
    item_count: int


def list_courses(db_url: str, *, limit: int = 50, cursor: str | None = None) -> Page[CourseSummary]:
    """A page of courses by name, each with how many catalog items it owns."""
    with session_scope(db_url) as session:
        page = keyset_page(
            session, select(Course), (Course.name, Course.id), limit=limit, cursor=cursor,
            descending=False,
        )  # fmt: skip
        ids = [course.id for course in page.items]
        counted = session.execute(
            select(CatalogItem.course_id, func.count())
            .where(CatalogItem.source == SOURCE, CatalogItem.course_id.in_(ids))
            .group_by(CatalogItem.course_id)
        )
        counts = {course_id: int(count) for course_id, count in counted}
    summaries = [
        CourseSummary(c.id, c.name, c.section, c.state, c.alternate_link, counts.get(c.id, 0))
        for c in page.items
    ]
    return Page(summaries, page.next_cursor)


def course_videos(db_url: str, course_id: str) -> list[CatalogItem]:
    """Every video material of a course, also those whose item another course owns (a material
    shared by several courses is one item, listed in its `extra.course_ids`), oldest first."""
    stmt = select(CatalogItem).where(CatalogItem.source == SOURCE, CatalogItem.is_video.is_(True))
    with session_scope(db_url) as session:
        items = session.scalars(stmt.order_by(CatalogItem.id))
        return [
            item
            for item in items
            if course_id in ((item.extra or {}).get("course_ids") or [item.course_id])
        ]


def get_course(db_url: str, course_id: str) -> Course:
    """One synced course, or NotFound."""
    with session_scope(db_url) as session:
        course = session.get(Course, course_id)
    if course is None:
        raise NotFound(f"No Classroom course with id {course_id!r}; sync Classroom first.")
    return course
