"""Issue 29: the reads every request makes run as `PreparedRead`s, straight on a pooled DBAPI
connection. They must answer what the same select through a SQLAlchemy Connection answers (the
columns' own result processing: a datetime, a JSON value, the raw stamp text), bind each call's
values, raise SQLAlchemy's exceptions (api/authz.py fails closed on SQLAlchemyError) and always
give the connection back. SQLite and PostgreSQL alike (TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import String, bindparam, column, select, table, type_coerce
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from core.base.db import Database, database
from core.base.models import TaskRecord, utcnow
from core.base.prepared import PreparedRead, read_together
from core.base.settings import Settings

_VIEW = select(
    TaskRecord.id,
    TaskRecord.state,
    TaskRecord.progress,
    TaskRecord.result,
    TaskRecord.created_at,
    TaskRecord.finished_at,
    type_coerce(TaskRecord.updated_at, String).label("stamp"),
).where(TaskRecord.id == bindparam("task_id"))


@pytest.fixture
def db(settings: Settings) -> Database:
    return database(settings.database_url)


def _record(db: Database, **fields: object) -> str:
    task_id = str(uuid.uuid4())
    with db.session() as session:
        session.add(TaskRecord(id=task_id, name="catalog.sync", state="PROGRESS", **fields))
    return task_id


def test_rows_match_a_connections_rows(db: Database) -> None:
    progress = {"current": 3, "total": 7, "message": 'ünïcode "quoted"'}
    first = _record(db, progress=progress, result=[1, None, {"a": 2.5}], started_at=utcnow())
    second = _record(db)
    prepared = PreparedRead(_VIEW)

    for task_id in (first, second, first):  # each call binds its own value
        with db.engine.connect() as connection:
            expected = connection.execute(_VIEW, {"task_id": task_id}).one()
        found = prepared.first_dict(db.engine, task_id=task_id)
        assert found == expected._asdict()
        assert found is not None and found["id"] == task_id
    row = prepared.first(db.engine, task_id=first)
    assert row is not None and row[2] == progress and row[4].tzinfo is not None
    assert prepared.first(db.engine, task_id="no such task") is None
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_values_fixed_in_the_statement_are_bound(db: Database) -> None:
    for _ in range(3):
        _record(db)
    ids = PreparedRead(select(TaskRecord.id).order_by(TaskRecord.id).limit(2).offset(1))
    with db.engine.connect() as connection:
        expected = connection.execute(ids.statement).first()
    assert ids.first(db.engine) == tuple(expected)  # type: ignore[arg-type]


def test_errors_are_sqlalchemys_and_the_connection_goes_back(db: Database) -> None:
    missing = PreparedRead(select(column("x")).select_from(table("no_such_table")))
    for _ in range(2):
        with pytest.raises(DBAPIError) as raised:
            missing.first(db.engine)
        assert isinstance(raised.value, SQLAlchemyError)
        assert "no_such_table" in str(raised.value)
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # The pool still serves working connections.
    task_id = _record(db)
    assert PreparedRead(select(TaskRecord.id).limit(1)).first(db.engine) == (task_id,)


def test_reads_together_are_each_reads_rows(db: Database) -> None:
    ids = sorted(_record(db, progress={"n": n}) for n in range(3))
    every = PreparedRead(select(TaskRecord.id, TaskRecord.progress).order_by(TaskRecord.id))
    one = PreparedRead(_VIEW)
    for _ in range(2):  # a pooled connection given back as it was, then taken again
        reads = [(every, {}), (one, {"task_id": ids[1]}), (one, {"task_id": "none"})]
        found = read_together(db.engine, reads)
        with db.engine.connect() as connection:
            expected = [tuple(row) for row in connection.execute(every.statement)]
            view = tuple(connection.execute(_VIEW, {"task_id": ids[1]}).one())
        assert [row for row in found[0] if row[0] in ids] == [r for r in expected if r[0] in ids]
        assert found[1:] == [[view], []]
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError):  # among others, as SQLAlchemy's, the connection back
        missing = PreparedRead(select(column("x")).select_from(table("no_such_table")))
        read_together(db.engine, [(one, {"task_id": ids[0]}), (missing, {})])
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_reads_together_within_a_session_see_its_transaction(db: Database) -> None:
    task_id = str(uuid.uuid4())
    one = PreparedRead(select(TaskRecord.id).where(TaskRecord.id == bindparam("task_id")))
    with db.session() as session:
        session.add(TaskRecord(id=task_id, name="catalog.sync", state="PENDING"))
        session.flush()
        connection = session.connection()
        assert read_together(db.engine, [(one, {"task_id": task_id})], connection.connection) == [
            [(task_id,)]
        ]
        session.rollback()  # still the session's transaction: the row goes
    assert read_together(db.engine, [(one, {"task_id": task_id})]) == [[]]
    with db.session() as session:  # pooled connections came back out of autocommit
        session.add(TaskRecord(id=task_id, name="catalog.sync", state="PENDING"))
        session.flush()
        session.rollback()
    assert read_together(db.engine, [(one, {"task_id": task_id})]) == [[]]
