"""A task poll's 304 does less than its 200: it reads the record's tag, never its shown fields."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from flask import Flask
from sqlalchemy import event

from core.jobs import task_lifecycle
from tests.api.test_tasks import db_of, enqueue


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL the app's database connections run inside the block, as the driver sees it.

    Watched at the driver (SQLite's trace callback, a psycopg cursor class) on every connection
    the pool hands out, since a poll's reads bypass SQLAlchemy's Connection and its events."""
    seen: list[str] = []
    engine = db_of(app).engine

    def note(sql: object) -> None:
        seen.append(" ".join(str(sql).lower().split()))

    def watch(dbapi_connection: Any, *_: object) -> None:
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(note)
        else:
            dbapi_connection.cursor_factory = _tracing_cursor(note)

    def unwatch(dbapi_connection: Any, *_: object) -> None:
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(None)
        else:
            dbapi_connection.cursor_factory = psycopg.Cursor

    event.listen(engine, "checkout", watch)
    event.listen(engine, "checkin", unwatch)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", watch)
        event.remove(engine, "checkin", unwatch)


def _tracing_cursor(note: Callable[[object], None]) -> type[psycopg.Cursor[Any]]:
    class Tracing(psycopg.Cursor):  # type: ignore[type-arg]
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            note(query)
            return super().execute(query, *args, **kwargs)

    return Tracing


def _task_reads(seen: list[str]) -> list[str]:
    return [sql for sql in seen if sql.startswith("select") and "from task_records" in sql]


def test_a_304_reads_the_tag_and_no_shown_field(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    task_id = enqueue(client)
    task_lifecycle.ProgressReporter(db_of(quiet_app), task_id, interval=0)(1, 4, "going")
    tag = client.get(f"/api/tasks/{task_id}").headers["ETag"]

    with statements(quiet_app) as seen:
        answer = client.get(f"/api/tasks/{task_id}", headers={"If-None-Match": tag})

    assert answer.status_code == 304
    (read,) = _task_reads(seen)  # one read of the record
    assert "updated_at" in read
    for shown in ("progress", "result", "error", "created_at", "name"):
        assert f"task_records.{shown}" not in read, shown


def test_a_200_reads_fields_and_tag_together(quiet_app: Flask) -> None:
    client = quiet_app.test_client()
    task_id = enqueue(client)

    with statements(quiet_app) as seen:
        plain = client.get(f"/api/tasks/{task_id}")
    assert plain.status_code == 200
    (read,) = _task_reads(seen)
    assert "task_records.progress" in read and "updated_at" in read

    # A stale tag: the tag's read says so, then the fields and the new tag are read.
    with statements(quiet_app) as seen:
        stale = client.get(f"/api/tasks/{task_id}", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.headers["ETag"] == plain.headers["ETag"]
    assert len(_task_reads(seen)) == 2
