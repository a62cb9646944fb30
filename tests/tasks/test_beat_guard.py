"""Two beats at once: one runs the schedule, the other stands by and takes over when the first
dies (SIGKILL) or stops (SIGTERM), without sending anything twice; the heartbeat key's format."""

from __future__ import annotations

import itertools
import json
import shelve
import signal
from datetime import datetime

import pytest
import redis

from core.base.db import database
from core.jobs import records as jobs
from core.ops import gauges
from tests.conftest import read_log
from tests.helpers import private_redis_db, start_beat, stop_process_group, wait_for

PERIOD_S = 2.0


def _env(base_env, tmp_path, ttl):
    return {
        **base_env,
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
        "DATA_DIR": str(tmp_path / "shared"),  # one DATA_DIR for both, as in docker-compose
        "CLEANUP_INTERVAL_S": str(int(PERIOD_S)),
        "CATALOG_SYNC_INTERVAL_S": "3600",
        "BEAT_LOCK_TTL_S": str(ttl),
        "BEAT_HEARTBEAT_INTERVAL_S": "1",
    }


def _lines(log_path):
    out = []
    for line in read_log(log_path).splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"message": line, "not_json": True})
    return out


def _said(log_path, text):
    return any(text in line.get("message", "") for line in _lines(log_path))


def _sends(log_path):
    return sum(
        "Sending due task maintenance.cleanup" in line.get("message", "")
        for line in _lines(log_path)
    )


def _records(settings):
    page = jobs.list_records(database(settings.database_url), name="maintenance.cleanup", limit=200)
    return sorted(page.items, key=lambda record: record.created_at)


def _send_times(*log_paths):
    """When each beat logged a send of the cleanup, in order."""
    return sorted(
        datetime.fromisoformat(line["timestamp"])
        for log_path in log_paths
        for line in _lines(log_path)
        if "Sending due task maintenance.cleanup" in line.get("message", "")
    )


def _assert_spaced(times):
    """No scheduled task was sent twice: consecutive sends are most of a period apart."""
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert all(gap > PERIOD_S / 2 for gap in gaps), gaps


def _heartbeat(client):
    raw = client.get("aula:beat:heartbeat")
    assert raw is not None, "the running beat writes its heartbeat"
    beat = json.loads(raw)
    assert set(beat) == {"ts", "interval_s", "pid", "host"}, beat
    assert isinstance(beat["ts"], float) and isinstance(beat["interval_s"], float)
    assert isinstance(beat["pid"], int) and isinstance(beat["host"], str) and beat["host"]
    assert beat["interval_s"] == 1.0
    assert client.pttl("aula:beat:heartbeat") > 0, "the heartbeat expires when nobody writes it"
    read = gauges.beat_heartbeat(client)  # what web's /metrics gauge reads
    assert read is not None and read.interval_s == 1.0
    return beat


@pytest.mark.slow
def test_one_beat_runs_the_schedule_and_the_standby_takes_over(base_env, settings, tmp_path):
    env = _env(base_env, tmp_path, ttl=4)
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_beat(env, first_log)
    second = None
    try:
        wait_for(lambda: _said(first_log, "beat leading"), 40, what="the first beat to lead")
        second = start_beat(env, second_log)
        wait_for(lambda: _said(second_log, "beat standby"), 40, what="the second beat to wait")
        wait_for(lambda: _sends(first_log) >= 4, 40, interval=0.2, what="four sends")

        assert _sends(second_log) == 0, "the standby sends nothing"
        assert _heartbeat(client)["pid"] == first.pid
        assert client.get("aula:beat:lock").decode().split(":")[1] == str(first.pid)
        assert not any(tmp_path.glob("shared/*.bak.*")), "nobody rebuilt the schedule file"

        stop_process_group(first, signal.SIGKILL)  # the leader dies: its lock just expires
        sent_by_first = _sends(first_log)
        wait_for(lambda: _said(second_log, "beat leading"), 30, what="the standby to take over")
        wait_for(lambda: _sends(second_log) >= 2, 30, interval=0.2, what="sends by the new leader")
        assert _heartbeat(client)["pid"] == second.pid

        records = _records(settings)
        # The cleanup is single-instance and no worker runs it here: every send after the
        # first shares the one waiting to start (CONTRACT 8.6), whichever beat sent it.
        assert sent_by_first + _sends(second_log) >= 6
        assert len(records) == 1, [(r.id, r.state) for r in records]
        _assert_spaced(_send_times(first_log, second_log))
        assert client.llen("default") <= 1  # none extra (the SIGKILL may cut its one send)
    finally:
        stop_process_group(first)
        if second is not None:
            stop_process_group(second)
        client.close()
        print(read_log(first_log)[-2000:], read_log(second_log)[-2000:])


@pytest.mark.slow
def test_sigterm_stops_beat_cleanly_and_frees_the_lock_at_once(base_env, settings, tmp_path):
    env = _env(base_env, tmp_path, ttl=60)  # a lock left behind would block for a minute
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_beat(env, first_log)
    second = None
    try:
        wait_for(lambda: _said(first_log, "beat leading"), 40, what="the first beat to lead")
        wait_for(lambda: _sends(first_log) >= 2, 30, interval=0.2, what="two sends")
        second = start_beat(env, second_log)
        wait_for(lambda: _said(second_log, "beat standby"), 40, what="the second beat to wait")

        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0, read_log(first_log)[-2000:]
        stopped = [line for line in _lines(first_log) if line.get("message") == "beat stopped"]
        assert stopped and stopped[-1]["released_lock"] is True
        assert not [line for line in _lines(first_log) if line.get("not_json")]
        holder = client.get("aula:beat:lock")  # freed at once: gone, or the standby's already
        assert holder is None or holder.decode().split(":")[1] == str(second.pid)

        wait_for(lambda: _said(second_log, "beat leading"), 20, what="a quick take-over")
        wait_for(lambda: _sends(second_log) >= 1, 20, interval=0.2, what="a send by the new one")
        _assert_spaced(_send_times(first_log, second_log))
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, read_log(second_log)[-2000:]
        assert client.get("aula:beat:lock") is None
        with shelve.open(env["DATA_DIR"] + "/celerybeat-schedule", flag="r") as schedule:
            assert "maintenance.cleanup" in schedule["entries"]  # the file is intact
    finally:
        stop_process_group(first)
        if second is not None:
            stop_process_group(second)
        client.close()
        print(read_log(first_log)[-2000:], read_log(second_log)[-2000:])
