"""Identical POST /api/downloads at the same moment, against a real gunicorn: one 202, the
others 200 with the same download; never a 500."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from core import downloads
from core.base.db import database
from tests.conftest import read_log
from tests.e2e.web_process import start_web
from tests.helpers import private_redis_db, stop_process_group

ROUNDS = 50


@pytest.mark.slow
def test_identical_posts_at_once_never_fail(base_env, settings, tmp_path):
    # A broker database no worker consumes: the downloads stay queued, only creation races.
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    web = start_web(env, tmp_path / "web.log", workers=4)
    try:
        with ThreadPoolExecutor(8) as pool:
            for round_ in range(ROUNDS):
                racers = 2 + round_ % 7  # 2 to 8 requests at once
                url = f"https://drive.google.com/file/d/race{uuid.uuid4().hex[:16]}/view"
                start = threading.Barrier(racers)

                def post(_: int, url: str = url, start: threading.Barrier = start) -> tuple:
                    start.wait(timeout=30)
                    response = requests.post(
                        f"{web.base}/api/downloads", json={"url": url}, timeout=60
                    )
                    return response.status_code, response.json()

                answers = list(pool.map(post, range(racers)))
                statuses = sorted(status for status, _ in answers)
                assert statuses == [200] * (racers - 1) + [202], (round_, answers)
                ids = {body["download"]["id"] for _, body in answers}
                assert len(ids) == 1, (round_, answers)
                (download_id,) = ids
                row = downloads.get(database(settings.database_url), download_id)
                assert row.state == "queued" and row.task_id, row
                assert {body["task_id"] for _, body in answers} == {row.task_id}, answers
    finally:
        stop_process_group(web.process)
        print(read_log(tmp_path / "web.log")[-3000:])
