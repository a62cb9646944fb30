"""Maintenance: only stale temp files and only old finished task records go."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from core.base.db import database, session_scope
from core.base.models import TaskRecord, utcnow
from core.base.settings import Settings
from core.ops import maintenance
from tests.core.brokers import env_settings
from tests.services import services_of

HOUR = 3600.0


def write(path: Path, size: int, age_s: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_sweep_removes_only_files_older_than_the_age(tmp_path: Path) -> None:
    now = time.time()
    old = write(tmp_path / "a.part", 100, 2 * HOUR, now)
    old_nested = write(tmp_path / "dl" / "7" / "b.part", 23, 3 * HOUR, now)
    fresh = write(tmp_path / "c.part", 50, 10, now)
    fresh_nested = write(tmp_path / "dl" / "8" / "d.part", 7, HOUR - 60, now)

    removed, freed = maintenance.sweep_temp_files(tmp_path, HOUR, now=now)

    assert (removed, freed) == (2, 123)
    assert not old.exists() and not old_nested.exists()
    assert fresh.exists() and fresh_nested.exists()
    assert (tmp_path / "dl" / "7").is_dir(), "folders are left for their owners"


def test_sweep_leaves_symlink_targets_alone(tmp_path: Path) -> None:
    now = time.time()
    outside = write(tmp_path / "library" / "lesson.mp4", 10, 5 * HOUR, now)
    temp = tmp_path / "tmp"
    temp.mkdir()
    link = temp / "link.mp4"
    link.symlink_to(outside)
    os.utime(link, (now - 5 * HOUR, now - 5 * HOUR), follow_symlinks=False)

    maintenance.sweep_temp_files(temp, HOUR, now=now)

    assert outside.exists()
    assert not link.is_symlink()


def test_sweep_of_a_missing_folder_is_a_no_op(tmp_path: Path) -> None:
    assert maintenance.sweep_temp_files(tmp_path / "nope", HOUR) == (0, 0)


def add_record(db_url: str, state: str, finished_days_ago: float | None) -> str:
    task_id = str(uuid.uuid4())
    now = utcnow()
    finished = None if finished_days_ago is None else now - timedelta(days=finished_days_ago)
    with session_scope(db_url) as session:
        session.add(
            TaskRecord(
                id=task_id,
                name="catalog.sync",
                state=state,
                created_at=now - timedelta(days=90),
                finished_at=finished,
            )
        )
    return task_id


def remaining(db_url: str) -> set[str]:
    with session_scope(db_url) as session:
        return set(session.scalars(select(TaskRecord.id)))


def test_purge_removes_only_finished_records_past_retention(settings: Settings) -> None:
    db = settings.database_url
    old = {add_record(db, state, 40) for state in ("SUCCESS", "FAILURE", "REVOKED")}
    recent = {add_record(db, "SUCCESS", 10), add_record(db, "FAILURE", 29.9)}
    unfinished = {add_record(db, state, None) for state in ("PENDING", "STARTED", "RETRY")}
    # A running task with a stale finished_at (from an earlier attempt) is not finished.
    unfinished.add(add_record(db, "PROGRESS", 40))

    assert maintenance.purge_task_records(database(db), timedelta(days=30)) == 3

    assert remaining(db) == recent | unfinished
    assert not remaining(db) & old
    assert maintenance.purge_task_records(database(db), timedelta(days=30)) == 0


def test_cleanup_returns_its_counts_and_reports_progress(
    base_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    own = env_settings(base_env, data_dir=str(tmp_path), temp_max_age_s=600, task_retention_days=7)
    now = time.time()
    write(own.temp_dir / "x.part", 1000, 3600, now)
    write(own.temp_dir / "y" / "z.part", 24, 700, now)
    kept = write(own.temp_dir / "fresh.part", 5, 30, now)
    add_record(own.database_url, "SUCCESS", 8)
    add_record(own.database_url, "SUCCESS", 1)
    calls: list[tuple[int, int | None, str]] = []

    result = maintenance.cleanup(
        services_of(own), on_progress=lambda c, t, m: calls.append((c, t, m))
    )

    assert result["temp_files_removed"] == 2
    assert result["bytes_freed"] == 1024  # nothing else is in this fresh DATA_DIR
    assert result["task_records_removed"] == 1
    assert kept.exists()
    assert calls[0][0] == 0
    assert calls[-1][0] == calls[-1][1], "the last report says it is done"
    assert [c for c, _, _ in calls] == sorted(c for c, _, _ in calls)
    again = maintenance.cleanup(services_of(own))
    assert again["temp_files_removed"] == again["task_records_removed"] == 0
    assert again["bytes_freed"] == 0
