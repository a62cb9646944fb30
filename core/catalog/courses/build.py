"""The one course builder: whatever the source, a Layout becomes sections of numbered lessons
with their attachments, and the caller's progress through them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from natsort import natsort_keygen, ns

from core.catalog.courses.layout import UNTITLED, Layout, Placed
from core.catalog.courses.models import CourseEntry, LessonProgress

# Lesson 2 before Lesson 10, case aside; remembered, as natsort's key costs tens of microseconds
# and a 2,000-lesson course page would pay it for every name on every view.
NATURAL = lru_cache(maxsize=200_000)(natsort_keygen(alg=ns.IGNORECASE))


@dataclass
class Lesson:
    item: Any  # a catalog_items row
    position: int  # 1-based within its section
    attachments: list[Any] = field(default_factory=list)
    progress: LessonProgress | Progress | None = None


@dataclass
class Section:
    key: str
    title: str | None
    position: int  # 0 for the untitled first section, then 1, 2...
    lessons: list[Lesson] = field(default_factory=list)
    attachments: list[Any] = field(default_factory=list)


@dataclass
class Summary:
    watched: int
    total: int
    percent: float
    next_item_id: int | None


@dataclass
class CourseView:
    entry: CourseEntry
    sections: list[Section]
    connection_id: int | None = None

    @property
    def lessons(self) -> list[Lesson]:
        return [lesson for section in self.sections for lesson in section.lessons]


def _section_keys(layout: Layout, used: set[str]) -> list[str]:
    if layout.ordered:
        return [key for key in layout.titles if key in used]
    named = sorted(
        (key for key in used if key != UNTITLED),
        key=lambda k: tuple(NATURAL(p) for p in k.split("/")),
    )
    return ([UNTITLED] if UNTITLED in used else []) + named


def _lesson_order(layout: Layout, placed: Placed) -> Any:
    return NATURAL(placed.order[0]) if layout.natural else placed.order


def build(entry: CourseEntry, layout: Layout) -> CourseView:
    """Sections in the source's order (or natural order for folders), the untitled one first;
    videos are lessons, other files attachments of the lesson with their join key, else of
    their section; a section with neither is left out."""
    by_section: dict[str, list[Placed]] = defaultdict(list)
    for placed in layout.placed:
        by_section[placed.section].append(placed)
    sections: list[Section] = []
    for key in _section_keys(layout, set(by_section)):
        members = sorted(by_section[key], key=lambda p: _lesson_order(layout, p))
        videos = [p for p in members if p.item.is_video]
        lessons = [Lesson(p.item, i, progress=progress_of(p.item)) for i, p in enumerate(videos, 1)]
        joined: dict[str, Lesson] = {}
        for placed, lesson in zip(videos, lessons, strict=True):
            joined.setdefault(placed.join, lesson)
        loose: list[Any] = []
        for placed in members:
            if placed.item.is_video:
                continue
            owner = joined.get(placed.join)
            (owner.attachments if owner else loose).append(placed.item)
        if not lessons and not loose:
            continue
        title = None if key == UNTITLED else layout.titles.get(key, key)
        position = 0 if key == UNTITLED else len([s for s in sections if s.key != UNTITLED]) + 1
        sections.append(Section(key, title, position, lessons, loose))
    return CourseView(entry, sections)


class Progress(NamedTuple):
    """The caller's progress on a lesson, as LessonProgress has it (read with the lesson)."""

    item_id: int
    position_s: float
    duration_s: float | None
    watched: bool
    updated_at: Any


def progress_of(item: Any) -> Progress | None:
    """The progress_* columns read with a lesson's row (layout.ITEM); None: never started."""
    if item.progress_item_id is None:
        return None
    return Progress(item.progress_item_id, item.progress_position_s, item.progress_duration_s,
                    bool(item.progress_watched), item.progress_updated_at)  # fmt: skip


def attach_progress(view: CourseView, found: dict[int, LessonProgress]) -> None:
    """Give each lesson the caller's progress row (None: never started)."""
    for lesson in view.lessons:
        lesson.progress = found.get(lesson.item.id)


def summarise(view: CourseView) -> Summary:
    """Watched of total, and the next lesson (see `figures`)."""
    return figures([(lesson.item.id, lesson.progress) for lesson in view.lessons])


def figures(lessons: Iterable[tuple[int, Any]]) -> Summary:
    """Watched of total, and the next lesson: the one most recently in progress, else the first
    unwatched in course order, else none. `lessons`: (item id, progress or None) in order. One
    pass (a cached 2,000-lesson page works this out on every view)."""
    watched = total = 0
    first_unwatched: int | None = None
    latest: Any = None  # the started, unwatched one with the greatest (updated_at, item_id)
    for item_id, progress in lessons:
        total += 1
        if progress and progress.watched:
            watched += 1
            continue
        if first_unwatched is None:
            first_unwatched = item_id
        if not (progress and progress.position_s > 0):
            continue
        mine = (progress.updated_at, progress.item_id)
        if latest is None or mine > (latest.updated_at, latest.item_id):
            latest = progress
    next_id = latest.item_id if latest is not None else first_unwatched
    percent = round(100.0 * watched / total, 1) if total else 0.0
    return Summary(watched, total, percent, next_id)


def duration(view: CourseView) -> float | None:
    """The lessons' total duration, of those whose duration is known; None if none is."""
    known = [lesson.item.duration_s for lesson in view.lessons if lesson.item.duration_s]
    return float(sum(known)) if known else None
