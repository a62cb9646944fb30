"""Courses as the API reads them: a page of courses with the caller's progress, one course."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.errors import NotFound
from core.base.models import Course
from core.base.pagination import Page, keyset_page
from core.base.sources import Source
from core.catalog.courses.build import CourseView, build
from core.catalog.courses.layout import layout_of
from core.catalog.courses.models import CourseEntry


def _connection_id(session: Session, entry: CourseEntry, view: CourseView) -> int | None:
    """The Google connection a course comes through: its Classroom course's, or for a Drive
    folder the account that catalogued its first lesson (None for local folders)."""
    if entry.source == Source.DRIVE:
        found = (getattr(lesson.item, "connection_id", None) for lesson in view.lessons)
        return next((int(value) for value in found if value is not None), None)
    if entry.source != Source.CLASSROOM:
        return None
    course = session.get(Course, entry.key)
    value = getattr(course, "connection_id", None) if course is not None else None
    return int(value) if value is not None else None


def built(session: Session, entry: CourseEntry, user_id: int) -> CourseView:
    """A course with the caller's progress: its lessons, their progress and whether they have
    downloads come in one query (layout.ITEM)."""
    view = build(entry, layout_of(session, entry, user_id))
    view.connection_id = _connection_id(session, entry, view)
    return view


def get_course(db: Database, course_id: int, user_id: int) -> CourseView:
    """One shown course with the caller's progress; NotFound if unknown or hidden."""
    with db.session() as session:
        return built(session, shown_entry(session, course_id), user_id)


def shown_entry(session: Session, course_id: int) -> CourseEntry:
    """A course's entry; NotFound if unknown or hidden."""
    entry = session.get(CourseEntry, course_id)
    if entry is None or entry.hidden:
        raise NotFound(f"No course with id {course_id}.")
    return entry


def shown_entries(session: Session, *, limit: int, cursor: str | None) -> Page[CourseEntry]:
    """A page of the shown courses' entries, by title."""
    stmt = select(CourseEntry).where(CourseEntry.hidden.is_(False))
    return keyset_page(
        session, stmt, (CourseEntry.title, CourseEntry.id), limit=limit, cursor=cursor,
        descending=False,
    )  # fmt: skip


def list_courses(
    db: Database, user_id: int, *, limit: int = 50, cursor: str | None = None
) -> Page[CourseView]:
    """A page of shown courses by title, each built with the caller's progress."""
    with db.session() as session:
        page = shown_entries(session, limit=limit, cursor=cursor)
        views = [built(session, entry, user_id) for entry in page.items]
    return Page(views, page.next_cursor)
