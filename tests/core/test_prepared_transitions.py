"""Issue 29: a task's start and end are guarded UPDATEs built once (core/base/transitions.py's
`prepare`/`run`) and filled in per task. They must write exactly what the per-call statements
wrote: SQL NULL (not a JSON null) where a column is cleared, `updated_at` on every write, the
values of this call and never a previous call's, and nothing once the guard refuses. SQLite and
PostgreSQL alike (TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.base.db import Database, database
from core.base.models import TaskRecord
from core.base.settings import Settings
from core.jobs import task_lifecycle


@pytest.fixture
def db(settings: Settings) -> Database:
    return database(settings.database_url)


def _record(db: Database, **fields: object) -> str:
    task_id = str(uuid.uuid4())
    with db.session() as session:
        session.add(TaskRecord(id=task_id, name="catalog.sync", state="PENDING", **fields))
    return task_id


def _row(db: Database, task_id: str) -> TaskRecord:
    with db.session() as session:
        return session.get_one(TaskRecord, task_id)


def _is_sql_null(db: Database, task_id: str, column: str) -> bool:
    with db.engine.connect() as connection:
        found = connection.scalar(
            select(TaskRecord.id).where(
                TaskRecord.id == task_id, getattr(TaskRecord, column).is_(None)
            )
        )
    return found is not None


def test_a_start_clears_the_error_as_sql_null_and_takes_the_lease(db: Database) -> None:
    task_id = _record(db, error={"type": "Old", "message": "from a retry"})
    before = _row(db, task_id).updated_at
    assert task_lifecycle.begin_delivery(db, task_id, "w:1:a:2:x", 30.0) == 1
    row = _row(db, task_id)
    assert (row.state, row.owner, row.deliveries) == ("STARTED", "w:1:a:2:x", 1)
    assert row.started_at is not None and row.lease_until is not None
    assert row.updated_at >= before
    assert _is_sql_null(db, task_id, "error")


def test_each_call_writes_its_own_values(db: Database) -> None:
    first, second = _record(db), _record(db)
    assert task_lifecycle.begin_delivery(db, first, "w:1:a:2:first", 30.0) == 1
    assert task_lifecycle.begin_delivery(db, second, "w:1:a:2:second", 60.0) == 1
    assert _row(db, first).owner == "w:1:a:2:first"
    assert _row(db, second).owner == "w:1:a:2:second"
    task_lifecycle.mark_finished(db, first, "SUCCESS", result={"n": 1})
    task_lifecycle.mark_finished(db, second, "FAILURE", error=ValueError("bad"))
    one, two = _row(db, first), _row(db, second)
    assert (one.state, one.result, one.owner, one.deliveries) == ("SUCCESS", {"n": 1}, None, 0)
    assert _is_sql_null(db, first, "error") and _is_sql_null(db, first, "lease_until")
    assert (two.state, two.error) == ("FAILURE", {"type": "ValueError", "message": "bad"})
    assert _is_sql_null(db, second, "result") and _is_sql_null(db, second, "owner")


def test_a_finished_record_keeps_its_outcome_and_does_not_start(db: Database) -> None:
    task_id = _record(db, active_key="catalog:1")
    assert task_lifecycle.begin_delivery(db, task_id, None) == 1
    assert task_lifecycle.mark_finished(db, task_id, "SUCCESS", result=3) == "catalog:1"
    kept = _row(db, task_id)
    assert task_lifecycle.mark_finished(db, task_id, "FAILURE", error=ValueError("late")) is None
    assert task_lifecycle.begin_delivery(db, task_id, "w:1:a:2:late", 30.0) is None
    row = _row(db, task_id)
    assert (row.state, row.result, row.error, row.owner) == ("SUCCESS", {"value": 3}, None, None)
    assert row.updated_at == kept.updated_at


def test_a_start_without_a_record_runs(db: Database) -> None:
    assert task_lifecycle.begin_delivery(db, str(uuid.uuid4()), "w:1:a:2:x", 30.0) == 0
