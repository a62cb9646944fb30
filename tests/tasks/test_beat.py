"""Beat runs maintenance.cleanup on its schedule, and each run gets a task record."""

from __future__ import annotations

import subprocess

from core.base.db import database
from core.jobs import records as jobs
from tests.conftest import read_log
from tests.helpers import ROOT, VENV_BIN, process_env, stop_process_group, wait_for


def _unfinished_cleanups(db_url):
    page = jobs.list_records(database(db_url), name="maintenance.cleanup", limit=200)
    return [record.id for record in page.items if record.state not in jobs.FINISHED]


def test_beat_enqueues_cleanup_every_interval(base_env, settings, worker, tmp_path):
    env = {**base_env, "CLEANUP_INTERVAL_S": "1", "DATA_DIR": str(tmp_path / "beat")}
    log_path = tmp_path / "beat.log"
    with log_path.open("ab") as log:
        beat = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "tasks", "beat"],
            cwd=ROOT,
            env=process_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def two_successes():
            page = jobs.list_records(
                database(settings.database_url), name="maintenance.cleanup", state="SUCCESS"
            )
            return page.items if len(page.items) >= 2 else None

        runs = wait_for(two_successes, 40, interval=0.3, what="two scheduled cleanups")
        for record in runs:
            assert record.request_id, "a scheduled task has a request id for its log lines"
            assert record.result is not None and "temp_files_removed" in record.result
        assert (tmp_path / "beat" / "celerybeat-schedule").exists() or any(
            (tmp_path / "beat").glob("celerybeat-schedule*")
        )
    finally:
        stop_process_group(beat)
        print(read_log(log_path)[-2000:])
        # Beat sent a cleanup every second to the session's worker: let those still queued run
        # now, or a later test's cleanup would queue behind them and find its work done.
        drained = lambda: not _unfinished_cleanups(settings.database_url)  # noqa: E731
        wait_for(drained, 60, what="the queued cleanups")
    assert beat.returncode in (0, -15), read_log(log_path)[-2000:]
