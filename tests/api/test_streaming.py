"""Streaming: local files through a real gunicorn (gunicorn.conf.py), Drive bytes proxied."""

from __future__ import annotations

import json
import random
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import requests
from flask import Flask

from api.errors import register_error_handlers
from api.streaming import drive_proxy_response, local_file_response
from core.base.http import make_session
from core.base.settings import load_settings
from core.google.auth import GoogleAuth, GoogleCredentials
from core.google.drive import DriveClient
from tests.helpers import (
    ROOT,
    STARTUP_TIMEOUT_S,
    VENV_BIN,
    free_port,
    process_env,
    stop_process_group,
    wait_for,
)

DATA_SIZE = 20_000_000
SPARSE_SIZE = 512 * 1024 * 1024
MIB = 1024 * 1024
UNICODE_NAME = "leçon 1 \u2013 vídeo.mp4"  # with an en dash


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    root: Path
    data: bytes
    log: Path

    def url(self, name: str) -> str:
        return f"{self.base}/stream-test/{name}"

    def worker_read_chars(self) -> int:
        """Bytes the worker processes have read so far (read() and sendfile() both count)."""
        workers = psutil.Process(self.process.pid).children(recursive=True)
        return sum(worker.io_counters().read_chars for worker in workers)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A 20 MB random file, a 512 MiB sparse file with data near its end, and odd entries."""
    root = tmp_path_factory.mktemp("media")
    data = random.Random(20261123).randbytes(DATA_SIZE)
    (root / "data.bin").write_bytes(data)
    with (root / "sparse.bin").open("wb") as handle:
        handle.truncate(SPARSE_SIZE)
        handle.seek(int(SPARSE_SIZE * 0.99))
        handle.write(data[:MIB])
    (root / "empty.bin").write_bytes(b"")
    (root / "clip.mp4").write_bytes(data[:1000])
    (root / "lecture.dat").write_bytes(b"\x00\x00\x00\x18ftypmp42" + data[:1000])
    (root / "notes.txt").write_text("hello")
    (root / "folder").mkdir()
    return root, data


@pytest.fixture(scope="module")
def server(media: tuple[Path, bytes], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`gunicorn --config gunicorn.conf.py` serving tests.api.streaming_app on a loopback port."""
    root, data = media
    var = tmp_path_factory.mktemp("stream-var")
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{var / 'aula.db'}",
        "DATA_DIR": str(var),
        "DOWNLOAD_DIR": str(var / "downloads"),
        "STREAM_ROOT": str(root),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
    }
    log = var / "gunicorn.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                *(str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py"),
                *("--bind", f"127.0.0.1:{port}", "tests.api.streaming_app:app"),
            ],
            cwd=ROOT,
            env=process_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: requests.get(f"{base}/stream-test/empty.bin", timeout=2).status_code == 200,
            STARTUP_TIMEOUT_S,
            what="gunicorn to serve",
        )
        yield Server(base, process, root, data, log)
    finally:
        stop_process_group(process)


@pytest.fixture
def http(server: Server) -> Iterator[requests.Session]:
    """One keep-alive connection: every response must be framed exactly for the next to work."""
    session = requests.Session()
    yield session
    session.close()


def assert_unsatisfiable(response: requests.Response, size: int) -> None:
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert response.headers["Accept-Ranges"] == "bytes"
    body = response.json()
    assert body["error"]["code"] == "range_not_satisfiable"
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_whole_file_is_200_with_length_and_validators(
    server: Server, http: requests.Session
) -> None:
    response = http.get(server.url("data.bin"))
    assert response.status_code == 200
    assert response.content == server.data
    assert response.headers["Content-Length"] == str(DATA_SIZE)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"].endswith("GMT")
    assert "Content-Range" not in response.headers


def test_random_ranges_are_byte_exact(server: Server, http: requests.Session) -> None:
    rng = random.Random(42)
    for _ in range(50):
        kind = rng.choice(("closed", "open", "suffix", "closed"))
        start = rng.randrange(DATA_SIZE)
        if kind == "closed":
            end = min(DATA_SIZE - 1, start + rng.randrange(1, 3 * MIB))
            header, want = f"bytes={start}-{end}", (start, end)
        elif kind == "open":
            header, want = f"bytes={start}-", (start, DATA_SIZE - 1)
        else:
            length = rng.randrange(1, 2 * MIB)
            header, want = f"bytes=-{length}", (DATA_SIZE - length, DATA_SIZE - 1)
        response = http.get(server.url("data.bin"), headers={"Range": header})
        assert response.status_code == 206, header
        assert response.headers["Content-Range"] == f"bytes {want[0]}-{want[1]}/{DATA_SIZE}"
        assert response.headers["Content-Length"] == str(want[1] - want[0] + 1)
        assert response.content == server.data[want[0] : want[1] + 1], header


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        (f"bytes={DATA_SIZE - 1}-", DATA_SIZE - 1, DATA_SIZE - 1),
        (f"bytes=10-{DATA_SIZE * 5}", 10, DATA_SIZE - 1),
        (f"bytes=-{DATA_SIZE * 2}", 0, DATA_SIZE - 1),
        ("BYTES = 5-9", 5, 9),
    ],
)
def test_range_edges(
    server: Server, http: requests.Session, header: str, start: int, end: int
) -> None:
    response = http.get(server.url("data.bin"), headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{DATA_SIZE}"
    assert response.content == server.data[start : end + 1]


@pytest.mark.parametrize(
    "header", ["bytes=5-3", "bytes=abc", "items=0-5", "bytes=", "bytes=0-1,5-9", "bytes=--5"]
)
def test_malformed_or_multiple_ranges_get_the_whole_file(
    server: Server, http: requests.Session, header: str
) -> None:
    response = http.get(server.url("data.bin"), headers={"Range": header})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(DATA_SIZE)
    assert response.content == server.data


@pytest.mark.parametrize("header", [f"bytes={DATA_SIZE}-", f"bytes={DATA_SIZE + 10}-20000010"])
def test_unsatisfiable_range_is_416_envelope(
    server: Server, http: requests.Session, header: str
) -> None:
    assert_unsatisfiable(http.get(server.url("data.bin"), headers={"Range": header}), DATA_SIZE)
    head = http.head(server.url("data.bin"), headers={"Range": header})
    assert head.status_code == 416
    assert head.headers["Content-Range"] == f"bytes */{DATA_SIZE}"
    assert head.content == b""


def test_any_range_of_an_empty_file_is_416(server: Server, http: requests.Session) -> None:
    assert_unsatisfiable(http.get(server.url("empty.bin"), headers={"Range": "bytes=0-"}), 0)
    whole = http.get(server.url("empty.bin"))
    assert (whole.status_code, whole.content, whole.headers["Content-Length"]) == (200, b"", "0")


@pytest.mark.parametrize("range_header", [None, "bytes=100-199"])
def test_head_answers_the_same_headers_without_a_body(
    server: Server, http: requests.Session, range_header: str | None
) -> None:
    headers = {"Range": range_header} if range_header else {}
    get = http.get(server.url("data.bin"), headers=headers)
    head = http.head(server.url("data.bin"), headers=headers)
    assert head.status_code == get.status_code
    assert head.content == b""
    for name in ("Content-Length", "Content-Range", "Content-Type", "ETag", "Last-Modified"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert head.headers["Accept-Ranges"] == "bytes"


def test_if_none_match_answers_304(server: Server, http: requests.Session) -> None:
    etag = http.head(server.url("data.bin")).headers["ETag"]
    for value in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        response = http.get(server.url("data.bin"), headers={"If-None-Match": value})
        assert response.status_code == 304, value
        assert response.headers["ETag"] == etag
        assert response.content == b""
    other = http.get(server.url("data.bin"), headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200
    assert len(other.content) == DATA_SIZE


def test_if_modified_since(server: Server, http: requests.Session) -> None:
    last_modified = http.head(server.url("data.bin")).headers["Last-Modified"]
    same = http.get(server.url("data.bin"), headers={"If-Modified-Since": last_modified})
    assert same.status_code == 304
    older = http.head(
        server.url("data.bin"), headers={"If-Modified-Since": formatdate(0, usegmt=True)}
    )
    assert older.status_code == 200
    # If-None-Match takes precedence: a non-matching tag means "send it" whatever the date.
    both = {"If-Modified-Since": last_modified, "If-None-Match": '"other"'}
    assert http.head(server.url("data.bin"), headers=both).status_code == 200


def test_if_range(server: Server, http: requests.Session) -> None:
    head = http.head(server.url("data.bin")).headers
    wanted = {"Range": "bytes=1000-1999"}
    matching = http.get(server.url("data.bin"), headers={**wanted, "If-Range": head["ETag"]})
    assert matching.status_code == 206
    assert matching.content == server.data[1000:2000]
    by_date = http.get(
        server.url("data.bin"), headers={**wanted, "If-Range": head["Last-Modified"]}
    )
    assert by_date.status_code == 206
    for stale in ('"stale"', f"W/{head['ETag']}", formatdate(0, usegmt=True)):
        response = http.get(server.url("data.bin"), headers={**wanted, "If-Range": stale})
        assert response.status_code == 200, stale
        assert response.content == server.data
    beyond = {"Range": f"bytes={DATA_SIZE}-", "If-Range": '"stale"'}
    assert http.head(server.url("data.bin"), headers=beyond).status_code == 200


def test_a_range_near_the_end_reads_only_its_own_bytes(
    server: Server, http: requests.Session
) -> None:
    start = int(SPARSE_SIZE * 0.99)
    before = server.worker_read_chars()
    response = http.get(
        server.url("sparse.bin"), headers={"Range": f"bytes={start}-{start + MIB - 1}"}
    )
    read = server.worker_read_chars() - before
    assert response.status_code == 206
    assert response.content == server.data[:MIB]
    # Reading up to the range's start, as Werkzeug's range wrapper does, would be ~530 MB.
    assert read < 8 * MIB, f"the worker read {read} bytes to serve 1 MiB"


def test_type_and_download_name(server: Server, http: requests.Session) -> None:
    clip = http.head(server.url("clip.mp4"), params={"as": UNICODE_NAME})
    assert clip.headers["Content-Type"] == "video/mp4"
    disposition = clip.headers["Content-Disposition"]
    assert disposition.startswith('inline; filename="le_on 1 _ v_deo.mp4"')
    assert "filename*=UTF-8''le%C3%A7on%201%20%E2%80%93%20v%C3%ADdeo.mp4" in disposition
    typed = http.head(server.url("data.bin"), params={"type": "video/webm"})
    assert typed.headers["Content-Type"] == "video/webm"
    assert http.head(server.url("lecture.dat")).headers["Content-Type"] == "video/mp4"  # sniffed
    # Not audio, video or an image: an opaque attachment (CONTRACT section 7).
    notes = http.head(server.url("notes.txt"))
    assert notes.headers["Content-Type"] == "application/octet-stream"
    assert notes.headers["Content-Disposition"] == 'attachment; filename="notes.txt"'


@pytest.mark.parametrize("name", ["missing.bin", "folder", "../../etc/passwd"])
def test_what_is_not_a_file_is_404(server: Server, http: requests.Session, name: str) -> None:
    response = http.get(server.url(name))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_client_that_leaves_mid_body_does_not_hurt_the_server(server: Server) -> None:
    with requests.get(server.url("sparse.bin"), stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert len(next(response.iter_content(MIB))) > 0
    after = requests.get(server.url("data.bin"), headers={"Range": "bytes=0-9"}, timeout=10)
    assert after.content == server.data[:10]
    assert server.process.poll() is None


# Without gunicorn's file wrapper (Werkzeug's test client has none) the body is read in chunks.
@pytest.fixture
def bare_app(media: tuple[Path, bytes]) -> Flask:
    root, _ = media
    app = Flask(__name__)
    register_error_handlers(app)

    @app.get("/f/<name>")
    def serve(name: str) -> Any:
        return local_file_response(root / name)

    return app


def test_fallback_head_and_not_modified_have_no_body(bare_app: Flask) -> None:
    client = bare_app.test_client()
    head = client.head("/f/data.bin", headers={"Range": "bytes=0-9"})
    assert (head.status_code, head.headers["Content-Length"], head.get_data()) == (206, "10", b"")
    etag = head.headers["ETag"]
    cached = client.get("/f/data.bin", headers={"If-None-Match": etag})
    assert (cached.status_code, cached.headers["ETag"], cached.get_data()) == (304, etag, b"")


def test_fallback_without_file_wrapper_reads_only_the_range(
    bare_app: Flask, media: tuple[Path, bytes]
) -> None:
    _, data = media
    client = bare_app.test_client()
    response = client.get("/f/data.bin", headers={"Range": "bytes=5-300004"})
    assert response.status_code == 206
    assert response.get_data() == data[5:300005]
    assert client.get("/f/data.bin").get_data() == data
    assert client.get("/f/missing.bin").status_code == 404
    unsatisfiable = client.get("/f/data.bin", headers={"Range": f"bytes={DATA_SIZE}-"})
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{DATA_SIZE}"


# Drive: a small upstream speaking the OAuth token and Drive `alt=media` wire formats.
DRIVE_DATA = random.Random(7).randbytes(1_500_000)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class FakeDrive(BaseHTTPRequestHandler):
    seen_ranges: list[str | None] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(200, json.dumps({"access_token": "t0k", "expires_in": 3600}).encode())

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        file_id = url.path.rsplit("/", 1)[-1]
        if file_id == "missing":
            error = {"error": {"code": 404, "errors": [{"reason": "notFound"}]}}
            self._send(404, json.dumps(error).encode())
        elif "alt=media" not in url.query:
            self._send(200, json.dumps({"id": file_id, "size": str(len(DRIVE_DATA))}).encode())
        else:
            self._media(file_id)

    def _media(self, file_id: str) -> None:
        header = self.headers.get("Range")
        FakeDrive.seen_ranges.append(header)
        match = _RANGE.fullmatch(header or "")
        size = len(DRIVE_DATA)
        if not match:
            self._send(200, DRIVE_DATA, {"Content-Type": "video/mp4"})
            return
        first, last = match.groups()
        start = int(first) if first else size - int(last)
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size:
            extra = {} if file_id == "bare416" else {"Content-Range": f"bytes */{size}"}
            self._send(416, b"", extra)
            return
        content_range = {"Content-Range": f"bytes {start}-{end}/{size}", "X-Goog-Hash": "x"}
        self._send(206, DRIVE_DATA[start : end + 1], {"Content-Type": "video/mp4", **content_range})

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def drive_client() -> Iterator[DriveClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDrive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = load_settings(
        drive_api_url=base, google_token_url=f"{base}/token", drive_rate_per_s=1000
    )
    creds = GoogleCredentials("client", "secret", "refresh")
    auth = GoogleAuth(settings.google_token_url, creds, make_session(settings, methods=("POST",)))
    yield DriveClient(settings, auth, make_session(settings))
    server.shutdown()
    server.server_close()


@pytest.fixture
def drive_app(drive_client: DriveClient) -> Flask:
    app = Flask(__name__)
    register_error_handlers(app)

    @app.get("/d/<file_id>")
    def serve(file_id: str) -> Any:
        return drive_proxy_response(drive_client, file_id)

    return app


def test_drive_proxy_whole_and_ranges(drive_app: Flask) -> None:
    client = drive_app.test_client()
    whole = client.get("/d/abc")
    assert (whole.status_code, whole.headers["Content-Length"]) == (200, str(len(DRIVE_DATA)))
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.get_data() == DRIVE_DATA
    part = client.get("/d/abc", headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-{len(DRIVE_DATA) - 1}/{len(DRIVE_DATA)}"
    assert part.headers["Content-Type"] == "video/mp4"
    assert "X-Goog-Hash" not in part.headers
    assert part.get_data() == DRIVE_DATA[1000:]
    head = client.head("/d/abc", headers={"Range": "bytes=-10"})
    assert (head.status_code, head.headers["Content-Length"], head.get_data()) == (206, "10", b"")


def test_drive_proxy_passes_one_valid_range_only(drive_app: Flask) -> None:
    client = drive_app.test_client()
    FakeDrive.seen_ranges.clear()
    for header in ("bytes=0-1,5-6", "bytes=9-2", " BYTES=5-9"):
        client.get("/d/abc", headers={"Range": header})
    assert FakeDrive.seen_ranges == [None, None, "bytes=5-9"]


@pytest.mark.parametrize("file_id", ["abc", "bare416"])
def test_drive_proxy_416(drive_app: Flask, file_id: str) -> None:
    response = drive_app.test_client().get(f"/d/{file_id}", headers={"Range": "bytes=9999999-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DRIVE_DATA)}"
    assert response.get_json()["error"]["code"] == "range_not_satisfiable"


def test_drive_proxy_errors_propagate_to_the_envelope(drive_app: Flask) -> None:
    response = drive_app.test_client().get("/d/missing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
