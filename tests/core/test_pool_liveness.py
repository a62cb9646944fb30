"""Pooled PostgreSQL connections the server ended are never handed out, without a ping per
checkout (core/base/db_liveness.py): what `pool_pre_ping` promised, asked of the socket. Real
server connections, ended by the server itself (`pg_terminate_backend`, as a restart or an
idle timeout ends them). PostgreSQL only (TEST_DATABASE_URL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text

from core.base import db_liveness
from core.base.db import Database
from core.base.settings import Settings
from core.catalog.courses import progress
from core.catalog.courses.models import IMPLICIT_USER
from tests.core.test_prepared_write import _items


@pytest.fixture
def url(settings: Settings) -> str:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("a server that ends connections: PostgreSQL")
    return settings.database_url


@pytest.fixture
def fresh(url: str) -> Iterator[Database]:
    """A database with its own pool, so that its connections are this test's alone."""
    found = Database(url)
    yield found
    found.engine.dispose()


@pytest.fixture
def admin(url: str) -> Iterator[Engine]:
    engine = create_engine(url, poolclass=None)
    yield engine
    engine.dispose()


def end_backend(admin: Engine, pid: int) -> None:
    """End server process `pid` and wait (bounded) until it is gone. Autocommit: within one
    transaction pg_stat_activity is a snapshot, and a backend seen once is seen until it ends
    (a CI run waited out the deadline that way)."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        deadline = time.monotonic() + 10
        while connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ):
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.02)


def last_query(admin: Engine, pid: int) -> str:
    with admin.connect() as connection:
        found = connection.scalar(
            text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
    return str(found)


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def test_a_resting_connections_socket_is_quiet_until_the_server_ends_it(
    url: str, admin: Engine
) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as connection:
        pid = connection.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        connection.rollback()
        assert db_liveness.socket_quiet(connection)
        end_backend(admin, pid)
        assert not db_liveness.socket_quiet(connection)  # its last words, then the end
    assert not db_liveness.socket_quiet(connection)  # closed


def test_a_connection_the_server_ended_is_not_handed_out(fresh: Database, admin: Engine) -> None:
    engine = fresh.engine
    with engine.connect() as one, engine.connect() as two:  # two pooled connections
        pids = {one.scalar(text("SELECT pg_backend_pid()")),
                two.scalar(text("SELECT pg_backend_pid()"))}  # fmt: skip
    for pid in pids:
        end_backend(admin, pid)  # as a server restart ends them all

    # The ORM's way, a prepared write's and a prepared read's: each gets a live connection.
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT pg_backend_pid()")) not in pids
    [item_id] = _items(fresh, 1)
    assert progress.save(fresh, IMPLICIT_USER, item_id, position_s=30).position_s == 30.0
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_connection_at_rest_is_checked_out_without_a_round_trip(
    fresh: Database, admin: Engine
) -> None:
    engine = fresh.engine
    pid = backend_pid(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT 'rested-marker'")) == "rested-marker"
    left = last_query(admin, pid)  # the pool's reset as it took the connection back

    with engine.connect() as connection:  # checked out again: nothing sent at checkout
        assert last_query(admin, pid) == left
        assert connection.scalar(text("SELECT pg_backend_pid()")) == pid


def test_a_connection_rested_long_is_pinged_first(fresh: Database, admin: Engine) -> None:
    # What the kernel cannot see (a peer gone without a word) a ping finds: sent only after
    # PING_AFTER_IDLE_S at rest, here aged by hand rather than waited for.
    engine = fresh.engine
    pid = backend_pid(engine)
    with engine.connect() as connection:
        connection.scalar(text("SELECT 'rested-marker'"))
    left = last_query(admin, pid)
    resting: Any = engine.pool._pool.queue[0]  # type: ignore[attr-defined]
    resting.info[db_liveness._RESTED] -= db_liveness.PING_AFTER_IDLE_S + 1

    with engine.connect() as connection:
        assert (left, last_query(admin, pid)) == ("ROLLBACK", ";")  # the ping went first
        assert connection.scalar(text("SELECT pg_backend_pid()")) == pid
