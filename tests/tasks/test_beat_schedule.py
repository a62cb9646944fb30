"""Beat's schedule: classroom.sync every CLASSROOM_SYNC_INTERVAL_S (900 by default, 0 = off)."""

from __future__ import annotations

from celeryconfig import make_config
from core.base.settings import load_settings


def test_classroom_sync_runs_every_interval_and_zero_turns_it_off(tmp_path):
    default = make_config(load_settings(data_dir=tmp_path))["beat_schedule"]
    assert default["classroom.sync"] == {"task": "classroom.sync", "schedule": 900.0}
    assert {"catalog.sync", "maintenance.cleanup"} <= set(default)
    short = make_config(load_settings(data_dir=tmp_path, classroom_sync_interval_s=60))
    assert short["beat_schedule"]["classroom.sync"]["schedule"] == 60.0
    off = make_config(load_settings(data_dir=tmp_path, classroom_sync_interval_s=0))
    assert "classroom.sync" not in off["beat_schedule"]
    assert {"catalog.sync", "maintenance.cleanup"} <= set(off["beat_schedule"])


def test_local_roots_are_rescanned_every_interval_and_zero_turns_it_off(tmp_path):
    roots = {"data_dir": tmp_path, "media_roots": str(tmp_path)}
    default = make_config(load_settings(**roots))["beat_schedule"]
    assert default["catalog.rebuild.local"] == {
        "task": "catalog.rebuild",
        "schedule": 300.0,
        "kwargs": {"source": "local"},
    }
    off = make_config(load_settings(**roots, local_scan_interval_s=0))
    assert "catalog.rebuild.local" not in off["beat_schedule"]
    no_roots = make_config(load_settings(data_dir=tmp_path, media_roots=""))
    assert "catalog.rebuild.local" not in no_roots["beat_schedule"]
