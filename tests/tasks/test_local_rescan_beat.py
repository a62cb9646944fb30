"""Beat rescans the media roots every LOCAL_SCAN_INTERVAL_S: a copied lesson appears on its own,
unchanged files are not probed again, and a scheduled rescan shares a requested one's task."""

from __future__ import annotations

import shutil

from api import create_app
from core.base.db import database
from core.base.models import CatalogItem
from core.jobs import records as jobs
from tests.conftest import read_log
from tests.helpers import private_redis_db, wait_for
from tests.media import make_video
from tests.workers import running_beat

# Shortened from the default 300 s: these tests prove that beat schedules the rescan and that
# the worker picks the lesson up, not the length of the period.
SCAN_EVERY_S = "1"


def _beat_env(base_env, tmp_path, **extra):
    return {
        **base_env,
        "LOCAL_SCAN_INTERVAL_S": SCAN_EVERY_S,
        "CATALOG_SYNC_INTERVAL_S": "3600",
        "CLEANUP_INTERVAL_S": "3600",
        "CLASSROOM_SYNC_INTERVAL_S": "0",
        "DATA_DIR": str(tmp_path / "beat"),
        **extra,
    }


def _titles(client, q):
    page = client.get("/api/catalog/items", query_string={"q": q, "source": "local"}).get_json()
    return [item["title"] for item in page["items"]]


def _rescans(db_url, state=None):
    records = jobs.list_records(database(db_url), name="catalog.rebuild", state=state, limit=200)
    return records.items


def _updated_at(db_url, source_id):
    with database(db_url).session() as session:
        item = session.query(CatalogItem).filter_by(source="local", source_id=source_id).one()
        return item.updated_at


def test_a_lesson_copied_into_a_root_appears_without_a_request(
    base_env, settings, client, worker, tmp_path
):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "Week 1" / "Lesson 1.mp4", seconds=1)
    made = make_video(tmp_path / "elsewhere" / "Lesson 2.mp4", seconds=1)
    try:
        db_url = settings.database_url
        with running_beat(_beat_env(base_env, tmp_path), tmp_path / "beat.log") as beat:
            wait_for(lambda: _titles(client, "Lesson 1"), 60, interval=0.2, what="the first rescan")
            before = _updated_at(db_url, "Week 1/Lesson 1.mp4")
            shutil.copy(made, root / "Week 1" / "Lesson 2.mp4")
            copied = lambda: _titles(client, "lesson 2")  # noqa: E731
            wait_for(copied, 60, interval=0.2, what="the copied lesson")
            # Every rescan there is by now, running ones too: one running while the file was copied
            # may commit it and then count it as changed, so only a rescan enqueued later is quiet.
            seen = {record.id for record in _rescans(db_url)}

            def quiet_rescan():
                done = [r for r in _rescans(db_url, "SUCCESS") if r.id not in seen]
                return done[0] if done else None

            # A rescan enqueued after the copy was catalogued: nothing new, nothing probed.
            quiet = wait_for(quiet_rescan, 60, interval=0.2, what="a rescan with nothing new")
            assert beat.poll() is None, read_log(tmp_path / "beat.log")
        assert quiet.args == {"source": "local"} and quiet.request_id
        assert quiet.result["local"] == {"items": 2, "changed": 0, "removed": 0}
        assert _updated_at(db_url, "Week 1/Lesson 1.mp4") == before  # never written again
        found = client.get("/api/catalog/items", query_string={"q": "lesson 2"}).get_json()
        item = found["items"][0]
        assert item["source_id"] == "Week 1/Lesson 2.mp4" and item["duration_s"] > 0.5
        stream = client.get(item["stream_url"], headers={"Range": "bytes=0-9"})
        assert stream.status_code == 206 and stream.data == made.read_bytes()[:10]
        unfinished = lambda: not [r for r in _rescans(db_url) if r.state not in jobs.FINISHED]  # noqa: E731
        wait_for(unfinished, 60, what="the scheduled rescans still queued")
    finally:  # the media root is shared with the session's other tests: leave it as found
        shutil.rmtree(root / "Week 1", ignore_errors=True)


def test_a_scheduled_rescan_shares_the_requested_one_waiting_to_start(base_env, settings, tmp_path):
    # A Redis database no worker consumes: the requested rebuild stays waiting to start.
    env = _beat_env(base_env, tmp_path, REDIS_URL=private_redis_db(base_env["REDIS_URL"]))
    client = create_app({key.lower(): value for key, value in env.items()}).test_client()
    requested = client.post("/api/catalog/rebuild", json={"source": "local"}).get_json()
    log_path = tmp_path / "beat.log"
    with running_beat(env, log_path):
        wait_for(
            lambda: read_log(log_path).count("catalog.rebuild.local") >= 3,
            60,
            interval=0.2,
            what="beat to send three rescans",
        )
    records = _rescans(settings.database_url)
    assert [record.id for record in records] == [requested["task_id"]]
    client.delete(f"/api/tasks/{requested['task_id']}")
