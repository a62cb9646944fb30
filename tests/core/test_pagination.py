"""Keyset pagination: opaque cursors, and walks that visit every row exactly once."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.base.db import database, session_scope
from core.base.errors import ValidationFailed
from core.base.models import TaskRecord
from core.base.pagination import decode_cursor, encode_cursor, keyset_page
from core.base.settings import Settings
from core.jobs import records as jobs
from core.jobs import task_lifecycle

BASE = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_cursor_round_trip() -> None:
    values = [BASE, "0f6c-id", 42]

    cursor = encode_cursor(values)

    assert decode_cursor(cursor, 3) == values
    assert decode_cursor(cursor, 3)[0].tzinfo is not None
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "%%%%",
        "a",
        b64(b"not json"),
        b64(b'{"dt": "2026-01-01T00:00:00+00:00"}'),
        b64(json.dumps([{"x": 1}, "id"]).encode()),
        b64(json.dumps([{"dt": "not a date"}, "id"]).encode()),
        b64(b"\xff\xfe\xfd"),
        encode_cursor([BASE]),
        encode_cursor([BASE, "id", "extra"]),
    ],
)
def test_malformed_cursors_are_validation_errors(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor, 2)

    assert caught.value.status == 400
    assert caught.value.details == {"cursor": ["Malformed cursor."]}


def add_records(db_url: str, created: list[datetime], prefix: str = "") -> list[str]:
    """Insert one record per timestamp; return their ids."""
    ids = [f"{prefix}{uuid.uuid4()}" for _ in created]
    with session_scope(db_url) as session:
        session.add_all(
            TaskRecord(id=task_id, name="catalog.sync", created_at=at)
            for task_id, at in zip(ids, created, strict=True)
        )
    return ids


def expected_order(db_url: str) -> list[str]:
    """Every id, newest first, ties broken by id descending (computed in Python)."""
    with session_scope(db_url) as session:
        rows = [(r.created_at, r.id) for r in session.scalars(select(TaskRecord))]
    return [task_id for _, task_id in sorted(rows, reverse=True)]


def walk(
    db_url: str, limit: int, between_pages: Callable[[int, TaskRecord], None] | None = None
) -> list[str]:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = jobs.list_records(database(db_url), limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        seen.extend(record.id for record in page.items)
        pages += 1
        assert pages < 1000, "the walk does not end"
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
        if between_pages is not None:
            between_pages(pages, page.items[-1])


def test_a_walk_visits_every_row_once_in_order(settings: Settings) -> None:
    # Groups of up to seven rows share a timestamp, so the id must break the ties.
    created = [BASE + timedelta(seconds=i // 7) for i in range(237)]
    add_records(settings.database_url, created)
    expected = expected_order(settings.database_url)

    seen = walk(settings.database_url, limit=20)

    assert len(seen) == 237
    assert seen == expected


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_page_sizes_do_not_matter(settings: Settings, limit: int) -> None:
    add_records(settings.database_url, [BASE] * 15 + [BASE + timedelta(seconds=1)] * 6)

    assert walk(settings.database_url, limit=limit) == expected_order(settings.database_url)


def test_rows_added_during_a_walk_cause_no_duplicate_or_skip(settings: Settings) -> None:
    db = settings.database_url
    created = [BASE + timedelta(seconds=i // 5) for i in range(237)]
    original = add_records(db, created)
    before = expected_order(db)

    def add_more(pages: int, last: TaskRecord) -> None:
        # Newer rows, older rows, and rows tied with the last row seen, on both sides of its id.
        add_records(db, [BASE + timedelta(days=1)] * 3, prefix="new-")
        add_records(db, [BASE - timedelta(days=1)] * 2, prefix="old-")
        add_records(db, [last.created_at] * 2, prefix="0tie-")
        add_records(db, [last.created_at] * 2, prefix="ztie-")

    seen = walk(db, limit=25, between_pages=add_more)

    assert len(seen) == len(set(seen)), "a row was visited twice"
    assert [task_id for task_id in seen if task_id in set(original)] == before
    assert not any(task_id.startswith("new-") for task_id in seen)
    final = expected_order(db)
    assert seen == [task_id for task_id in final if task_id in set(seen)]


def test_ascending_walks_work_too(settings: Settings) -> None:
    add_records(settings.database_url, [BASE + timedelta(seconds=i % 3) for i in range(12)])
    keys = (TaskRecord.created_at, TaskRecord.id)
    seen: list[str] = []
    cursor = None
    with session_scope(settings.database_url) as session:
        while True:
            page = keyset_page(
                session, select(TaskRecord), keys, limit=5, cursor=cursor, descending=False
            )
            seen.extend(r.id for r in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

    assert seen == list(reversed(expected_order(settings.database_url)))


def test_the_last_page_has_no_cursor(settings: Settings) -> None:
    add_records(settings.database_url, [BASE] * 4)

    full = jobs.list_records(database(settings.database_url), limit=4)
    empty = jobs.list_records(database(settings.database_url), state="SUCCESS")

    assert len(full.items) == 4 and full.next_cursor is None
    assert empty.items == [] and empty.next_cursor is None


@pytest.mark.parametrize("limit", [0, -1, 201])
def test_limits_outside_the_range_are_refused(settings: Settings, limit: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        jobs.list_records(database(settings.database_url), limit=limit)

    assert "limit" in (caught.value.details or {})


def test_filters_combine_with_cursors(settings: Settings) -> None:
    db = settings.database_url
    ids = add_records(db, [BASE + timedelta(seconds=i) for i in range(30)])
    for task_id in ids[::3]:
        task_lifecycle.mark_finished(database(db), task_id, "SUCCESS", result={"ok": True})
    wanted = [i for i in expected_order(db) if i in set(ids[::3])]

    seen: list[str] = []
    cursor = None
    while True:
        page = jobs.list_records(
            database(db), state="SUCCESS", name="catalog.sync", limit=4, cursor=cursor
        )
        assert all(r.state == "SUCCESS" for r in page.items)
        seen.extend(r.id for r in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == wanted
    assert jobs.list_records(database(db), name="downloads.fetch").items == []
