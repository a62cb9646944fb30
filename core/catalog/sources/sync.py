"""The Classroom sync: list every course and post, then save courses and items in one go."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.errors import NotFound, UpstreamRefused, ValidationFailed
from core.base.models import CatalogItem, Course, utcnow
from core.catalog import reach
from core.catalog import store as catalog
from core.catalog.courses.discovery import discover_classroom
from core.catalog.indexing import MAX_LISTING_RESTARTS, Progress
from core.catalog.sources.materials import SOURCE, Row, material_row, resolve_drive_files
from core.google.classroom import ClassroomClient
from core.google.drive import DriveClient

log = logging.getLogger(__name__)
T = TypeVar("T")
# Archived courses stay readable and often hold exactly the lessons worth keeping; provisioned
# and declined ones are not (yet) the user's, and suspended ones are not listed by default.
INDEXED_STATES = frozenset({"ACTIVE", "ARCHIVED"})


def _quiet(_current: int, _total: int | None, _message: str) -> None:
    return None


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


def _topics(client: ClassroomClient, course_id: str) -> list[dict[str, str]] | None:
    """A course's topics as [{"id", "name"}] in courses.topics.list order; None if refused or
    gone (the course keeps the topics it had)."""
    try:
        listed = _complete(lambda: list(client.topics(course_id)))
    except (NotFound, UpstreamRefused) as error:
        log.info("Classroom gave no topics for course %s: %s", course_id, error.message)
        return None
    return [
        {"id": str(t["topicId"]), "name": str(t.get("name") or "")}
        for t in listed
        if t.get("topicId")
    ]


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
                first["extra"]["topic_ids"][course_id] = post.get("topicId")
    return added


def _save(
    session: Session,
    courses: list[dict[str, Any]],
    rows: list[Row],
    kept: list[str],
    seen: datetime,
    topics: dict[str, list[dict[str, str]]],
    conn: int | None = None,
) -> tuple[int, int]:
    for entry in courses:
        course = session.get(Course, entry["id"]) or Course(id=entry["id"])
        if entry["id"] in topics:
            course.topics = topics[entry["id"]]
        course.name = entry.get("name") or entry["id"]
        course.section = entry.get("section")
        course.state = entry.get("courseState")
        course.alternate_link = entry.get("alternateLink")
        course.seen_at = seen
        course.connection_id = course.connection_id or conn  # the first to reach it keeps it
        session.add(course)
    for row in rows:
        row["connection_id"] = conn
    catalog.upsert_items(session, rows)
    if kept:  # a refused course keeps what it had
        session.execute(
            update(CatalogItem)
            .where(CatalogItem.source == SOURCE, CatalogItem.course_id.in_(kept))
            .where(CatalogItem.seen_at < seen)
            .values(seen_at=seen)
        )
    if conn is not None:
        removed, courses_gone = _release_unseen(session, courses, rows, kept, seen, conn)
    else:
        removed, _ = catalog.remove_unseen(session, SOURCE, seen)
        gone = session.execute(delete(Course).where(Course.seen_at < seen))
        courses_gone = int(getattr(gone, "rowcount", 0) or 0)
    catalog.save_state(
        session, SOURCE, last_rebuild_at=utcnow(), last_sync_at=utcnow(), last_error=None
    )
    return removed, courses_gone


def _release_unseen(
    session: Session,
    courses: list[dict[str, Any]],
    rows: list[Row],
    kept: list[str],
    seen: datetime,
    conn: int,
) -> tuple[int, int]:
    """What this connection reaches now; what it no longer reaches goes unless another does."""
    ids = [row["source_id"] for row in rows]
    if kept:
        ids += session.scalars(
            select(CatalogItem.source_id).where(
                CatalogItem.source == SOURCE, CatalogItem.course_id.in_(kept)
            )
        )
    reach.mark(session, SOURCE, ids, conn, seen)
    reach.mark(session, reach.COURSE, [entry["id"] for entry in courses], conn, seen)
    items = reach.release(session, conn, sources=(SOURCE,), before=seen)["items"]
    items += reach.remove_unreached(session, SOURCE, seen)
    courses_gone = reach.release(session, conn, sources=(reach.COURSE,), before=seen)["courses"]
    return items, courses_gone + reach.remove_unreached(session, reach.COURSE, seen)


def sync_classroom(
    db: Database,
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
    topics: dict[str, list[dict[str, str]]] = {}
    drive_calls = 0
    for index, course in enumerate(indexed, 1):
        posts = _posts(client, course["id"])
        if posts is None:
            kept.append(course["id"])
        else:
            added = _add_rows(rows, course["id"], posts, started)
            drive_calls += resolve_drive_files(db, drive_client, added)
            listed = _topics(client, course["id"])
            if listed is not None:
                topics[course["id"]] = listed
        on_progress(index, len(indexed), f"listed {index} of {len(indexed)} courses")
    with db.session() as session:
        removed, courses_removed = _save(
            session,
            courses,
            list(rows.values()),
            kept,
            started,
            topics,
            client.auth.creds.connection_id,
        )
        discover_classroom(session)
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
