"""Issue 26: a progress save is one prepared upsert in its own transaction (core/base/
prepared_write.py). It must store what SQLAlchemy would store and answer its RETURNING row as
SQLAlchemy would; on SQLite writers queue in the lane (threads, then processes through a lock
file) and nothing is lost or deadlocked with other writers; on PostgreSQL only the save's own
statement commits without waiting for the WAL flush. SQLite and PostgreSQL alike
(TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, func, insert, literal, select, text
from sqlalchemy.exc import IntegrityError

from core.base.db import Database, database
from core.base.models import CatalogItem, TaskRecord
from core.base.prepared_write import PreparedWrite, lane, relaxed_commit
from core.base.settings import Settings
from core.catalog import store
from core.catalog.courses import progress
from core.catalog.courses.models import LessonProgress

ROOT = Path(__file__).resolve().parents[2]
_ROW = insert(TaskRecord).values(
    id=bindparam("id"), name="catalog.sync", state="PENDING", queue="default", args={}, retries=0,
    deliveries=0, created_at=bindparam("created_at"), updated_at=bindparam("created_at"),
    progress=bindparam("progress"),
)  # fmt: skip
_RECORD = PreparedWrite(_ROW.returning(TaskRecord.id, TaskRecord.created_at, TaskRecord.progress))


@pytest.fixture
def db(settings: Settings) -> Database:
    return database(settings.database_url)


def recording(monkeypatch: pytest.MonkeyPatch, engine: Any) -> list[str]:
    """The SQL of every cursor execute on `engine`'s raw connections (and the driver's
    connections under them) from now on."""
    seen: list[str] = []
    checkout = engine.raw_connection

    class Cursor:
        def __init__(self, cursor: Any) -> None:
            self._cursor = cursor

        def execute(self, sql: str, *args: Any) -> Any:
            seen.append(sql)
            return self._cursor.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._cursor, name)

    class Connection:
        def __init__(self, connection: Any) -> None:
            object.__setattr__(self, "_connection", connection)

        def cursor(self) -> Cursor:
            return Cursor(self._connection.cursor())

        @property
        def driver_connection(self) -> Connection:
            return Connection(self._connection.driver_connection)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._connection, name)

        def __setattr__(self, name: str, value: Any) -> None:
            setattr(self._connection, name, value)

    monkeypatch.setattr(engine, "raw_connection", lambda: Connection(checkout()))
    return seen


def test_it_stores_and_answers_what_sqlalchemy_would(db: Database) -> None:
    stamp = datetime(2026, 12, 5, 6, 0, 0, tzinfo=UTC) + timedelta(hours=1)  # no microseconds
    task_id = str(uuid.uuid4())
    row = _RECORD.first(db.engine, id=task_id, created_at=stamp, progress={"a": [1, None]})
    assert row == (task_id, stamp, {"a": [1, None]}) and row[1].tzinfo is not None
    with db.engine.connect() as connection:
        # Stored as the ORM stores it (on SQLite: the same text, microseconds and all).
        via_orm = str(uuid.uuid4())
        connection.execute(insert(TaskRecord).values(id=via_orm, name="x", state="PENDING",
                                                     created_at=stamp))  # fmt: skip
        stored = select(TaskRecord.id, func.cast(TaskRecord.created_at, TaskRecord.name.type))
        texts = dict(connection.execute(stored.where(TaskRecord.id.in_([task_id, via_orm]))).all())
    assert texts[task_id] == texts[via_orm]
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_errors_are_sqlalchemys_and_nothing_stays_held(db: Database) -> None:
    task_id = str(uuid.uuid4())
    _RECORD.first(db.engine, id=task_id, created_at=datetime.now(UTC), progress=None)
    for _ in range(2):
        with pytest.raises(IntegrityError):  # the same id again
            _RECORD.first(db.engine, id=task_id, created_at=datetime.now(UTC), progress=None)
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # The failed writes were rolled back and let the lane go: the next one goes through.
    other = str(uuid.uuid4())
    assert _RECORD.first(db.engine, id=other, created_at=datetime.now(UTC), progress=None)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(TaskRecord)) >= 2


def test_the_relaxed_commit_stays_in_its_statement(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("synchronous_commit is PostgreSQL's")
    fresh = Database(settings.database_url)  # its own pool: one connection, the save's
    try:
        # Inside the statement, as its commit reads it: off. The statement runs alone in
        # autocommit, so its transaction is the statement's own.
        relaxed = insert(TaskRecord).from_select(
            ["id", "name", "state", "queue", "args", "retries", "deliveries", "created_at",
             "updated_at"],
            select(bindparam("id"), literal("catalog.sync"), literal("PENDING"),
                   literal("default"), literal({}, TaskRecord.__table__.c.args.type),
                   literal(0), literal(0),
                   bindparam("created_at"), bindparam("created_at")).where(relaxed_commit()),
        )  # fmt: skip
        probe = PreparedWrite(relaxed.returning(func.current_setting("synchronous_commit")))
        values = _new()
        del values["progress"]
        assert probe.first(fresh.engine, **values) == ("off",)
        with fresh.engine.connect() as connection:  # the same connection, the next transaction
            assert fresh.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
            assert connection.scalar(text("SHOW synchronous_commit")) == "on"
            assert not connection.connection.driver_connection.autocommit  # put back
        item_id = _items(fresh, 1)[0]
        progress.save(fresh, 1, item_id, position_s=5.0)
        with fresh.engine.connect() as connection:
            assert connection.scalar(text("SHOW synchronous_commit")) == "on"
        durable = PreparedWrite(_ROW.returning(func.current_setting("synchronous_commit")))
        assert durable.first(fresh.engine, **_new()) == ("on",)  # not relaxed: the server's
    finally:
        if fresh._engine is not None:
            fresh._engine.dispose()


def _new() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "created_at": datetime.now(UTC), "progress": None}


def test_python_side_defaults_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="Python-side defaults"):
        PreparedWrite(insert(TaskRecord).values(id="x", name="y")).first(db.engine)


def _items(db: Database, count: int) -> list[int]:
    keys = [f"writers/{uuid.uuid4().hex}.mp4" for _ in range(count)]
    now = datetime.now(UTC)
    with db.session() as session:
        store.upsert_items(session, [
            {"source": "local", "source_id": key, "title": key, "mime_type": "video/mp4",
             "size_bytes": 1, "duration_s": None, "modified_at": now, "seen_at": now}
            for key in keys
        ])  # fmt: skip
        found = session.execute(
            select(CatalogItem.source_id, CatalogItem.id).where(CatalogItem.source_id.in_(keys))
        )
        ids = dict(found.all())
    return [ids[key] for key in keys]


# A saver process: 4 threads, each a person saving positions 1..SAVES over the same items; every
# answer must echo the position sent. A writer process: ORM transactions on another table.
SAVER = """
import json, sys, threading
from core.base.db import database
from core.catalog.courses.progress import save
url, first_user, items, saves = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
db, wrong, saves = database(url), [], int(saves)
def person(user):
    for k in range(1, saves + 1):
        item = items[k % len(items)]
        if save(db, user, item, position_s=float(k)).position_s != k:
            wrong.append((user, item, k))
threads = [threading.Thread(target=person, args=(first_user + t,)) for t in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
sys.exit(1 if wrong else 0)
"""
WRITER = """
import sys, uuid
from core.base.db import database
from core.base.models import TaskRecord
db = database(sys.argv[1])
for batch in range(int(sys.argv[2])):
    with db.session() as session:
        for _ in range(5):
            session.add(TaskRecord(id="writer-" + uuid.uuid4().hex, name="x", state="PENDING"))
            session.flush()
"""
SAVES = 60


def test_savers_in_two_processes_and_another_writer_lose_nothing(db: Database) -> None:
    items = _items(db, 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    url = db.url

    def run(code: str, *args: object) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", code, url, *(str(a) for a in args)]
        return subprocess.Popen(command, cwd=ROOT, env=env)

    started = [run(SAVER, first, json.dumps(items), SAVES) for first in (100, 200)]
    started.append(run(WRITER, 40))
    assert [process.wait(timeout=240) for process in started] == [0, 0, 0]
    with db.session() as session:
        rows = session.execute(
            select(LessonProgress.user_id, LessonProgress.item_id, LessonProgress.position_s)
            .where(LessonProgress.item_id.in_(items))
        ).all()  # fmt: skip
        written = session.scalar(
            select(func.count()).select_from(TaskRecord).where(TaskRecord.id.like("writer-%"))
        )
    last = {item: max(k for k in range(1, SAVES + 1) if k % 3 == i) for i, item in enumerate(items)}
    users = [first + t for first in (100, 200) for t in range(4)]
    assert sorted(rows) == sorted((u, item, float(last[item])) for u in users for item in items)
    assert written == 40 * 5


def _take_lane(url: str, trying: Any, took: Any) -> None:
    engine = database(url).engine
    trying.send("trying")
    with lane(engine).held():
        took.send("took")


def test_a_forked_child_queues_behind_its_parent(db: Database) -> None:
    if not db.url.startswith("sqlite"):
        pytest.skip("the lane is SQLite's")
    held = lane(db.engine)
    assert held.path == f"{db.engine.url.database}.write-lock"
    fork = multiprocessing.get_context("fork")
    (trying_in, trying_out), (took_in, took_out) = fork.Pipe(False), fork.Pipe(False)
    with held.held():  # the parent's descriptor is open and locked before the fork
        child = fork.Process(target=_take_lane, args=(db.url, trying_out, took_out))
        child.start()
        assert trying_in.recv() == "trying"
        # Had the child kept the parent's open file, its flock would have been granted at once.
        assert not took_in.poll(0.5)
    # Had it kept the parent's thread lock (taken at the fork), it would never get the lane.
    assert took_in.poll(60) and took_in.recv() == "took"
    child.join(timeout=30)
    assert child.exitcode == 0
