"""Streaming through the real web process: exact Drive ranges; disconnects stop the upstream."""

from __future__ import annotations

import random
import socket
import subprocess
import time

import requests

from core.catalog.indexing import rebuild_drive
from tests.helpers import (
    ROOT,
    STARTUP_TIMEOUT_S,
    VENV_BIN,
    free_port,
    process_env,
    stop_process_group,
    wait_for,
)
from tests.services import drive_client, services_of

MIB = 1024 * 1024


def test_drive_ranges_are_byte_exact(web, settings, drive):
    size = 8 * MIB + 12345
    file_id = drive.add_file("aula longa.mp4", size=size, seed=7)
    url = f"{web}/api/drive/files/{file_id}/stream"
    full = requests.get(url, timeout=30)
    assert full.status_code == 200 and full.headers["Content-Length"] == str(size)
    assert full.content == drive.content_of(file_id)
    rng = random.Random(3)
    for _ in range(25):
        start = rng.randrange(size)
        end = min(size - 1, start + rng.randrange(1, 2 * MIB))
        part = requests.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=30)
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert part.content == drive.content_of(file_id, start, end + 1)
    tail = requests.get(url, headers={"Range": "bytes=-1000"}, timeout=30)
    assert tail.status_code == 206 and tail.content == drive.content_of(file_id, size - 1000)
    beyond = requests.get(url, headers={"Range": f"bytes={size + 10}-"}, timeout=30)
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert beyond.json()["error"]["code"] == "range_not_satisfiable"
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(size)
    assert head.content == b""


def test_catalog_item_of_drive_streams_too(web, settings, drive):
    file_id = drive.add_file("no catálogo.mp4", size=MIB, seed=9)
    rebuild_drive(services_of(settings), drive_client(settings))
    items = requests.get(f"{web}/api/catalog/items?source=drive", timeout=10).json()["items"]
    item = next(i for i in items if i["source_id"] == file_id)
    part = requests.get(
        f"{web}{item['stream_url']}", headers={"Range": "bytes=100-199"}, timeout=30
    )
    assert part.status_code == 206 and part.content == drive.content_of(file_id, 100, 200)


def test_a_client_that_goes_away_stops_the_upstream_read(web, settings, drive):
    size = 64 * MIB
    file_id = drive.add_file("enorme.mp4", size=size, seed=1)
    drive.media_bytes_per_s = 4 * MIB
    try:
        with socket.create_connection(("127.0.0.1", int(web.rsplit(":", 1)[1])), timeout=10) as s:
            s.sendall(
                f"GET /api/drive/files/{file_id}/stream HTTP/1.1\r\n"
                f"Host: localhost\r\n\r\n".encode()
            )
            received = 0
            while received < MIB:
                received += len(s.recv(65536))
        # The client is gone: the upstream transfer must stop long before the end of the file.
        wait_for(
            lambda: drive.wait_idle(1) and drive.media_requests(file_id),
            20,
            what="the upstream request to end",
        )
        time.sleep(1)
        record = drive.media_requests(file_id)[-1]
        assert record.outcome == "client_gone", record
        assert record.bytes_sent < size / 4, record
    finally:
        drive.media_bytes_per_s = None


def test_json_requests_are_answered_while_streams_are_open(web, settings, drive):
    file_id = drive.add_file("lento.mp4", size=16 * MIB, seed=2)
    drive.media_bytes_per_s = 1 * MIB
    streams = []
    try:
        for _ in range(4):  # more open streams than gunicorn has worker processes
            response = requests.get(
                f"{web}/api/drive/files/{file_id}/stream", stream=True, timeout=30
            )
            next(response.iter_content(65536))
            streams.append(response)
        health = requests.get(f"{web}/api/health", timeout=5)
        assert health.status_code == 200
    finally:
        drive.media_bytes_per_s = None
        for response in streams:
            response.close()


def test_a_stream_outlives_the_worker_timeout(base_env, settings, drive, tmp_path):
    # gthread: the worker's heartbeat runs apart from the threads serving requests, so a stream
    # that lasts longer than WEB_TIMEOUT_S is not killed as a hung worker would be.
    port = free_port()
    env = process_env({**base_env, "PORT": str(port), "WEB_CONCURRENCY": "1", "WEB_TIMEOUT_S": "2"})
    log_path = tmp_path / "web.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    size = 5 * MIB
    file_id = drive.add_file("devagar.mp4", size=size, seed=5)
    drive.media_bytes_per_s = 1 * MIB  # about five seconds: more than twice the timeout
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: requests.get(f"{base}/api/health", timeout=1).ok,
            STARTUP_TIMEOUT_S,
            what="gunicorn",
        )
        body = requests.get(f"{base}/api/drive/files/{file_id}/stream", timeout=30).content
        assert body == drive.content_of(file_id)
        assert "WORKER TIMEOUT" not in log_path.read_text()
    finally:
        drive.media_bytes_per_s = None
        stop_process_group(process)
