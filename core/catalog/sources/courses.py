"""Synced Classroom courses as the API reads them: a page of courses, one course, its videos."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from core.base.db import Database
from core.base.models import CatalogItem, Course
from core.base.pagination import Page, keyset_page
from core.catalog.sources.materials import SOURCE


@dataclass(frozen=True)
class CourseSummary:
    """A course as the API lists it."""

    id: str
    name: str
    section: str | None
    state: str | None
    alternate_link: str | None
    item_count: int
    connection_id: int | None = None


def list_courses(
    db: Database, *, limit: int = 50, cursor: str | None = None
) -> Page[CourseSummary]:
    """A page of courses by name, each with how many catalog items it owns."""
    with db.session() as session:
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
        CourseSummary(
            c.id,
            c.name,
            c.section,
            c.state,
            c.alternate_link,
            counts.get(c.id, 0),
            c.connection_id,
        )
        for c in page.items
    ]
    return Page(summaries, page.next_cursor)


def course_videos(db: Database, course_id: str) -> list[CatalogItem]:
    """Every video material of a course, also those whose item another course owns (a material
    shared by several courses is one item, listed in its `extra.course_ids`), oldest first."""
    stmt = select(CatalogItem).where(CatalogItem.source == SOURCE, CatalogItem.is_video.is_(True))
    with db.session() as session:
        items = session.scalars(stmt.order_by(CatalogItem.id))
        return [
            item
            for item in items
            if course_id in ((item.extra or {}).get("course_ids") or [item.course_id])
        ]


def get_course(db: Database, course_id: str) -> Course:
    """One synced course, or NotFound."""
    missing = f"No Classroom course with id {course_id!r}; sync Classroom first."
    return db.get(Course, course_id, missing)
