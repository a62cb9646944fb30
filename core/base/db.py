"""Database engine and sessions, opened lazily and reset in forked children; Alembic migrations."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.base import db_liveness
from core.base.errors import NotFound
from core.base.setting_values import strip_password

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_lock = threading.Lock()
_databases: dict[str, Database] = {}
Row = TypeVar("Row")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets web readers go on while a worker writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Build an engine for `url`; SQLite gets WAL and a busy timeout, its folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=5, max_overflow=10)
    db_liveness.watch(engine)  # pool_pre_ping's guarantee without its round trip per checkout
    return engine


class Database:
    """One database: its engine and session factory, opened lazily on first use.

    Built once per process by its composition root (core.base.services). A forked child must not
    use the parent's connections: `reset()` (all of them: `reset_engines()`) forgets the engine.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    def __repr__(self) -> str:
        return f"Database({strip_password(self.url)!r})"

    @property
    def engine(self) -> Engine:
        """The engine, created on first use."""
        return self._open()[0]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self._open()[1]()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def get(self, model: type[Row], key: object, missing: str) -> Row:
        """The `model` row whose primary key is `key`, detached; NotFound(`missing`) if none."""
        with self.session() as session:
            row = session.get(model, key)
        if row is None:
            raise NotFound(missing)
        return row

    def reset(self) -> None:
        """Forget the engine without closing the parent's sockets (call in a forked child)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose(close=False)
            self._engine = self._factory = None

    def _open(self) -> tuple[Engine, sessionmaker[Session]]:
        with self._lock:
            if self._engine is None or self._factory is None:
                self._engine = make_engine(self.url)
                self._factory = sessionmaker(self._engine, expire_on_commit=False)
            return self._engine, self._factory


def database(url: str) -> Database:
    """The process's one `Database` for `url` (one engine and pool per URL and process)."""
    with _lock:
        found = _databases.get(url)
        if found is None:
            found = _databases[url] = Database(url)
        return found


def get_engine(url: str) -> Engine:
    """The process's engine for `url`, created on first use."""
    return database(url).engine


def session_scope(url: str) -> AbstractContextManager[Session]:
    """A session on the process's database at `url` that commits on success."""
    return database(url).session()


def reset_engines() -> None:
    """Forget every engine without closing the parent's sockets (call in a forked child)."""
    with _lock:
        for db in _databases.values():
            db.reset()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    return config


@contextmanager
def _migration_lock(url: str) -> Iterator[Engine]:
    # web, worker and beat may start together: only one of them may run the migrations.
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(727001)"))
                try:
                    yield engine
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(727001)"))
                    conn.commit()
        else:
            database = make_url(url).database or "memory"
            lock_path = Path(f"{database}.migrate-lock")
            with lock_path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield engine
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        engine.dispose()


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision` (idempotent, safe to run concurrently)."""
    from alembic import command

    with _migration_lock(url) as engine, engine.begin() as connection:
        config = _alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str | None:
    """The revision the code expects: the head of migrations/ (read from the scripts, no I/O)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("")).get_current_head()


def prepare_schema(url: str, migrate_on_start: bool) -> None:
    """At a process's start: check the schema is at head, migrating it if `migrate_on_start`.

    A release step (`python -m core migrate`: compose's `migrate` service, `make run`) applies
    the migrations once before the processes start and sets MIGRATE_ON_START=false; then a
    schema left behind stops the process with one line. Without a release step (the Procfile
    under plain `honcho start`) every process brings the schema up to date itself, under
    `migrate`'s lock; once one has, the others find it at head and take no lock.
    """
    head = head_revision()
    current = current_revision(url)
    if current == head:
        return
    if not migrate_on_start:
        raise SystemExit(
            f"MIGRATE_ON_START=false but the database is at revision {current}, not {head}:"
            " run `python -m core migrate` (the release step) first"
        )
    migrate(url)


def current_revision(url: str) -> str | None:
    """The Alembic revision the database at `url` is at, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
