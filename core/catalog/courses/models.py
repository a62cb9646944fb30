"""Tables of courses: which folders and Classroom courses are courses, and progress per user."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base.models import Base, utcnow

ID = BigInteger().with_variant(Integer(), "sqlite")
# Progress before any user exists (and of ADMIN_TOKEN callers): the one implicit person.
IMPLICIT_USER = 0


class CourseEntry(Base):
    """A course: a Classroom course (`key` its id), a folder of a media root (`key` its path
    relative to the root, or the root's absolute path for the videos loose in it) or of an
    indexed Drive folder (`key` its id). Rows stay when their folder goes (shown empty)."""

    __tablename__ = "course_entries"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(1024))
    title: Mapped[str] = mapped_column(String(1024))
    loose: Mapped[bool] = mapped_column(Boolean, default=False)  # only files directly in `key`
    added: Mapped[bool] = mapped_column(Boolean, default=False)  # added by hand
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "key", name="uq_course_entries_source_key"),
        Index("ix_course_entries_title", "title", "id"),
    )


class LessonProgress(Base):
    """Where one person is in one item. No foreign key to the item: progress outlives a folder
    that goes away (and comes back). Written by one upsert per PUT."""

    __tablename__ = "lesson_progress"

    user_id: Mapped[int] = mapped_column(ID, primary_key=True)  # IMPLICIT_USER or users.id
    item_id: Mapped[int] = mapped_column(ID, primary_key=True)
    position_s: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    watched: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_lesson_progress_user_updated", "user_id", "updated_at", "item_id"),)
