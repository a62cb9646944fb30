"""A web process's copy of the part of course pages that is the same for everyone, kept as the
answer's bytes cut where each lesson's progress goes, for the last COURSE_CACHE_SIZE courses
opened. A 2,000-lesson page costs 80 to 90 ms of CPU to build and 2.5 ms to answer from here
(PostgreSQL, in process).

Each copy is kept with the course's fingerprint (core.catalog.courses.fingerprint) and the media
URL window (api.access.media_window) it was built in, and used only while both are the same on
the request: the fingerprint is read from the database on every request, so a write by any
process is seen at the next request, with no invalidation messages. Per request a hit then costs
one round trip (api/course_hits.py: the fingerprint with the course's entry, and the caller's
progress on its lessons), the course's figures, and joining bytes. The course list keeps each
course's summary the same way (LISTED), or takes it from the course's page copy."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import orjson
from flask import current_app

from core.catalog.courses.build import Summary

_KEY = "aula.course_cache"
PAGES, LISTED = "pages", "listed"  # the stores: course pages, courses as the list shows them
STORES = (PAGES, LISTED)
LISTED_PER_PAGE = 64  # a list page shows up to 100 courses; a summary is small


class Listed(NamedTuple):
    """A course as the list shows it, without its progress: `head`, the progress, a brace."""

    fingerprint: Any
    window: int | None
    head: bytes
    lessons: list[int]


class Cached(NamedTuple):
    """A course page without its progress: `head`, the course's progress, then for each lesson
    `statics[i]` and its progress; `statics[-1]` ends it."""

    fingerprint: Any
    window: int | None
    head: bytes
    statics: list[bytes]
    lessons: list[int]  # the lessons' item ids in course order
    defaults: list[bytes]  # each lesson's progress when never started
    # Progress rows as `answer` last wrote them, by their values: a page is mostly read again
    # with the same rows, and writing 500 of them was a third of a hit's CPU.
    written: dict[Any, bytes]


Store = tuple[OrderedDict[int, Any], threading.Lock]


def _store(name: str) -> Store:
    stores: dict[str, Store] | None = current_app.extensions.get(_KEY)
    if stores is None:  # per app: tests run several apps on several databases in one process
        made: dict[str, Store] = {each: (OrderedDict(), threading.Lock()) for each in STORES}
        stores = current_app.extensions.setdefault(_KEY, made)
    return stores[name]


def lookup(store: str, course_id: int, fingerprint: Any, window: int | None) -> Any:
    """The course's copy in `store`, if it was built from what the database holds now, in this
    window."""
    pages, lock = _store(store)
    with lock:
        found = pages.get(course_id)
        if found is None or found.fingerprint != fingerprint or found.window != window:
            return None
        pages.move_to_end(course_id)
        return found


def peek(store: str, course_id: int) -> Any:
    """The course's copy in `store` whatever it was built from (None if none), as used."""
    pages, lock = _store(store)
    with lock:
        found = pages.get(course_id)
        if found is not None:
            pages.move_to_end(course_id)
        return found


def remember(store: str, course_id: int, kept: Cached | Listed, size: int) -> None:
    """Keep `kept`, dropping the least recently used courses beyond `size`."""
    pages, lock = _store(store)
    with lock:
        pages[course_id] = kept
        pages.move_to_end(course_id)
        while len(pages) > size:
            pages.popitem(last=False)


def _open(body: dict[str, Any], *last: str) -> bytes:
    """`body` as orjson writes it, without its `last` keys (its last ones) and closing brace."""
    return orjson.dumps({k: v for k, v in body.items() if k not in last})[:-1]


def split(
    body: dict[str, Any], lessons: list[int], defaults: list[bytes], fingerprint: Any,
    window: int | None,
) -> Cached:  # fmt: skip
    """`body` (api.courses.detail's, the keys in its order: progress and sections last; a
    lesson's progress and attachments last) cut where the caller's progress goes."""
    head = _open(body, "progress", "sections") + b',"progress":'
    statics: list[bytes] = []
    current = [b',"sections":[']
    for number, section in enumerate(body["sections"]):
        current.append((b"," if number else b"") + _open(section, "lessons", "attachments"))
        current.append(b',"lessons":[')
        for order, lesson in enumerate(section["lessons"]):
            current.append((b"," if order else b"") + _open(lesson, "progress", "attachments"))
            statics.append(b"".join(current) + b',"progress":')
            current = [b',"attachments":' + orjson.dumps(lesson["attachments"]) + b"}"]
        current.append(b'],"attachments":' + orjson.dumps(section["attachments"]) + b"}")
    statics.append(b"".join(current) + b"]}\n")
    return Cached(fingerprint, window, head, statics, lessons, defaults, {})


def answer(
    cached: Cached, rows: Mapping[int, Any], figures: Summary,
    progress: Callable[[Any], dict[str, Any]],
) -> bytes:  # fmt: skip
    """The page for a caller whose progress rows are `rows` (by item id), with its `figures`;
    `progress` shows a row as the page does."""
    parts = [cached.head, _figures(figures)]
    written = cached.written
    if len(written) > 2 * len(cached.lessons) + 100:  # many callers' rows: start again
        written.clear()
    for static, item_id, default in zip(
        cached.statics[:-1], cached.lessons, cached.defaults, strict=True
    ):
        row = rows.get(item_id)
        if row is None:
            parts += (static, default)
            continue
        key = _key(row)
        shown = written.get(key)
        if shown is None:
            shown = written[key] = orjson.dumps(progress(row))
        parts += (static, shown)
    parts.append(cached.statics[-1])
    return b"".join(parts)


def _key(row: Any) -> Any:
    """A progress row as a key of what it is written as: its values (a row is a tuple of them),
    with the text of its numbers when one is zero (-0.0 == 0.0, but is written "-0.0")."""
    if row.position_s and row.duration_s:
        return tuple(row)
    return tuple(row), repr(row.position_s), repr(row.duration_s)


def _figures(figures: Summary) -> bytes:
    shown = {"watched": figures.watched, "total": figures.total,
             "percent": figures.percent, "next_item_id": figures.next_item_id}  # fmt: skip
    return orjson.dumps(shown)


def listed(
    shown: dict[str, Any], lessons: list[int], fingerprint: Any, window: int | None
) -> Listed:
    """`shown` (api.courses.summary's: progress last) without its progress."""
    return Listed(fingerprint, window, _open(shown, "progress") + b',"progress":', lessons)


def listed_from_page(page: Cached) -> Listed:
    """A course as the list shows it, from its page: the page's head is the list's (the list
    shows the page's keys before `sections`)."""
    return Listed(page.fingerprint, page.window, page.head, page.lessons)


def listed_answer(kept: Listed, figures: Summary) -> bytes:
    """The course as the list shows it, for a caller with these `figures`."""
    return kept.head + _figures(figures) + b"}"
