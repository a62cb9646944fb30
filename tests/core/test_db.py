"""Database: idempotent and concurrent migrations, sessions that commit or roll back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from core.base.db import (
    MIGRATIONS_DIR,
    Database,
    current_revision,
    database,
    get_engine,
    make_engine,
    migrate,
    prepare_schema,
    reset_engines,
    session_scope,
)
from core.base.models import TaskRecord
from core.base.settings import Settings
from core.jobs import records as jobs
from tests.conftest import postgres_schema_url
from tests.helpers import ROOT, process_env


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@pytest.fixture
def fresh_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the test database: a new file or a new schema."""
    if settings.database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh' / 'aula.db'}"
        return
    yield from postgres_schema_url("aula_fresh")


def test_a_fresh_database_has_no_revision(fresh_url: str) -> None:
    assert current_revision(fresh_url) is None


def test_migrate_brings_the_schema_to_head(fresh_url: str, request: pytest.FixtureRequest) -> None:
    migrate(fresh_url)

    assert current_revision(fresh_url) == head_revision()
    engine = make_engine(fresh_url)
    try:
        assert "task_records" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_migrating_twice_is_a_no_op(settings: Settings) -> None:
    db = settings.database_url
    jobs.ensure_record(database(db), "kept-across-migrations", "catalog.sync", {"a": 1}, None)
    before = current_revision(db)

    migrate(db)
    migrate(db)

    assert current_revision(db) == before == head_revision()
    assert jobs.get_record(database(db), "kept-across-migrations").args == {"a": 1}


def test_a_process_start_migrates_a_fresh_database_unless_a_release_step_should_have(
    fresh_url: str,
) -> None:
    with pytest.raises(SystemExit, match=r"MIGRATE_ON_START=false .* revision None"):
        prepare_schema(fresh_url, migrate_on_start=False)
    assert current_revision(fresh_url) is None  # checked only, never migrated

    prepare_schema(fresh_url, migrate_on_start=True)
    assert current_revision(fresh_url) == head_revision()


def test_a_process_start_accepts_a_schema_at_head(settings: Settings) -> None:
    prepare_schema(settings.database_url, migrate_on_start=False)  # the release step ran

    assert current_revision(settings.database_url) == head_revision()


def test_concurrent_migrations_from_three_processes(
    fresh_url: str, request: pytest.FixtureRequest
) -> None:
    # Without a release step, web, worker and beat all migrate at start, maybe in one instant.
    code = "import sys; from core.base.db import prepare_schema; prepare_schema(sys.argv[1], True)"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_url],
            cwd=ROOT,
            env=process_env({}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(child.wait(timeout=60), child.stderr.read()) for child in children]  # type: ignore[union-attr]
    for child in children:
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]

    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert current_revision(fresh_url) == head_revision()
    jobs.ensure_record(database(fresh_url), "after-race", "catalog.sync", {}, None)
    assert jobs.get_record(database(fresh_url), "after-race").state == "PENDING"


def test_session_scope_commits_on_success_and_rolls_back_on_error(settings: Settings) -> None:
    db = settings.database_url
    with session_scope(db) as session:
        session.add(TaskRecord(id="committed", name="catalog.sync"))

    with pytest.raises(RuntimeError), session_scope(db) as session:
        session.add(TaskRecord(id="rolled-back", name="catalog.sync"))
        session.flush()
        raise RuntimeError("abort")

    with session_scope(db) as session:
        assert session.get(TaskRecord, "committed") is not None
        assert session.get(TaskRecord, "rolled-back") is None


def test_engines_are_shared_until_reset(settings: Settings, db: Database) -> None:
    first = get_engine(settings.database_url)

    assert get_engine(settings.database_url) is first is db.engine
    reset_engines()
    assert db.engine is not first
    assert get_engine(settings.database_url) is db.engine  # one engine per URL, again


def test_sqlite_engines_make_their_folder_and_use_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'x.db'}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            mode = conn.execute(text("PRAGMA journal_mode")).scalar()
            foreign_keys = conn.execute(text("PRAGMA foreign_keys")).scalar()
    finally:
        engine.dispose()

    assert (tmp_path / "deep" / "er").is_dir()
    assert mode == "wal"
    assert foreign_keys == 1
