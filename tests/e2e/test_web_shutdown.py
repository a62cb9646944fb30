"""SIGTERM to gunicorn: new connections are refused at once, in-flight requests and streams finish
with all their bytes; a stream longer than WEB_GRACEFUL_TIMEOUT_S is cut."""

from __future__ import annotations

import os
import signal
import socket
import threading
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import read_log
from tests.e2e.web_process import start_web
from tests.helpers import stop_process_group, wait_for

MIB = 1024 * 1024


def _refused(base):
    parts = urlsplit(base)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def _in_background(work):
    """Run `work` on a thread; the returned dict gets its "result" or its "error"."""
    out: dict = {}

    def run():
        try:
            out["result"] = work()
        except Exception as error:  # the test asserts on it
            out["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    out["thread"] = thread
    return out


def _read_all(response):
    with response:
        return b"".join(response.iter_content(256 * 1024))


def _upstream_busy(drive, count):
    with drive._lock:  # the fake's count of requests it is answering right now
        return drive._inflight >= count


@pytest.mark.slow
def test_sigterm_lets_a_slow_request_and_a_stream_finish(base_env, settings, drive, tmp_path):
    web = start_web({**base_env, "WEB_GRACEFUL_TIMEOUT_S": "30"}, tmp_path / "web.log")
    size = 8 * MIB
    file_id = drive.add_file("aula em curso.mp4", size=size, seed=5)
    folder = drive.add_folder("pasta lenta")
    drive.add_file("dentro.mp4", parent=folder, size=1000, seed=6)
    drive.faults(rate=0.0, slow_s=3)
    drive.fail_next(1, "slow", match=folder)  # the listing's Drive call answers after 3 s
    drive.media_bytes_per_s = 2 * MIB  # the stream takes about 4 s
    try:
        stream = requests.get(
            f"{web.base}/api/drive/files/{file_id}/stream",
            headers={"Range": "bytes=1000-"},
            stream=True,
            timeout=30,
        )
        assert stream.status_code == 206
        streamed = _in_background(lambda: _read_all(stream))
        listed = _in_background(
            lambda: requests.get(f"{web.base}/api/drive/files?folder_id={folder}", timeout=30)
        )
        wait_for(lambda: _upstream_busy(drive, 2), 10, interval=0.05, what="both in flight")

        os.kill(web.process.pid, signal.SIGTERM)
        wait_for(lambda: _refused(web.base), 10, interval=0.05, what="new connections refused")

        for job in (streamed, listed):
            job["thread"].join(60)
            assert "error" not in job, job.get("error")
        assert streamed["result"] == drive.content_of(file_id, 1000)  # every byte
        answer = listed["result"]
        assert answer.status_code == 200, answer.text
        assert [f["name"] for f in answer.json()["files"]] == ["dentro.mp4"]
        assert web.process.wait(timeout=60) == 0
    finally:
        drive.media_bytes_per_s = None
        drive.clear_faults()
        stop_process_group(web.process)
        print(read_log(web.log)[-3000:])


@pytest.mark.slow
def test_a_stream_longer_than_the_grace_is_cut(base_env, settings, drive, tmp_path):
    web = start_web({**base_env, "WEB_GRACEFUL_TIMEOUT_S": "1"}, tmp_path / "web.log")
    size = 16 * MIB
    file_id = drive.add_file("aula sem fim.mp4", size=size, seed=8)
    drive.media_bytes_per_s = 1 * MIB  # 16 s of streaming against 1 s of grace
    try:
        stream = requests.get(
            f"{web.base}/api/drive/files/{file_id}/stream", stream=True, timeout=30
        )
        assert stream.status_code == 200 and stream.headers["Content-Length"] == str(size)
        received = bytearray()

        def read():
            with stream:
                for chunk in stream.iter_content(256 * 1024):
                    received.extend(chunk)

        job = _in_background(read)
        wait_for(lambda: len(received) > 0, 10, interval=0.05, what="the first bytes")
        os.kill(web.process.pid, signal.SIGTERM)
        job["thread"].join(60)
        assert 0 < len(received) < size  # cut: the client sees a short body, never a full one
        assert "error" in job  # requests reports the broken transfer
        web.process.wait(timeout=60)
    finally:
        drive.media_bytes_per_s = None
        stop_process_group(web.process)
        print(read_log(web.log)[-3000:])
