"""The first ten minutes with the defaults a user gets: a copy of the repository as a fresh
clone, a `.env` with only MEDIA_ROOTS (relative), launched through `make run`'s own launcher.

No REDIS_URL, no DATABASE_URL, DATA_DIR left at `var`, the default ports: the launcher runs in
a fresh network namespace (as test_make_run.py does), where those ports are free whatever else
runs on this machine. It prints its address, serves real thumbnails, streams a lesson with a
Range, finishes a URL download (then found by a catalog search and played), and refuses a
second launcher with one line and no second Redis.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.support import Launched, clean_env, wait_until
from tests.e2e.test_make_run import NETNS_LAUNCH, netns_unavailable
from tests.media import make_video

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
BASE = "http://127.0.0.1:8000"  # PORT's default
FILES_PORT = 8088  # the loopback file server the download fetches from, in the namespace
START_S = 120  # a cold start on this loaded 2-core machine takes 25 s to a minute
# Runs inside the namespace: one request; status, headers, size and digest, and JSON if any.
CLIENT = """
import hashlib, json, sys, urllib.error, urllib.request
method, url, body, headers = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
data = body.encode() if body else None
request = urllib.request.Request(url, method=method, data=data, headers=headers)
if data:
    request.add_header("Content-Type", "application/json")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=10) as response:
        status, head, raw = response.status, dict(response.headers), response.read()
except urllib.error.HTTPError as error:
    status, head, raw = error.code, dict(error.headers), error.read()
try:
    parsed = json.loads(raw)
except ValueError:
    parsed = None
print(json.dumps({"status": status, "headers": head, "size": len(raw),
                  "sha256": hashlib.sha256(raw).hexdigest(), "json": parsed}))
"""


class Inside:
    """HTTP requests sent from inside the launcher's network namespace."""

    def __init__(self, pid: int) -> None:
        self.enter = ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> dict[str, object]:
        payload = "" if body is None else json.dumps(body)
        command = [*self.enter, sys.executable, "-c", CLIENT, method, f"{BASE}{path}", payload]
        done = subprocess.run(
            [*command, json.dumps(headers or {})],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1:] or done.returncode)
        answer: dict[str, object] = json.loads(done.stdout)
        return answer

    def json(self, method: str, path: str, body: object = None) -> tuple[int, dict[str, object]]:
        answer = self.request(method, path, body)
        found = answer["json"]
        assert isinstance(found, dict), answer
        return int(str(answer["status"])), found


@pytest.fixture
def clone(app_tree: Path) -> Path:
    """The fresh clone, with a lesson in its media root and the user's `.env`."""
    make_video(app_tree / "lessons" / "Intro to Biology" / "Week 1" / "Lesson 1.mp4", seconds=2)
    (app_tree / ".env").write_text(
        "MEDIA_ROOTS=lessons\n"
        # The download below comes from a file server on loopback, which downloads refuse by
        # default (DOWNLOAD_ALLOW_PRIVATE_HOSTS=false): the only other setting changed.
        "DOWNLOAD_ALLOW_PRIVATE_HOSTS=true\n"
    )
    return app_tree


@pytest.fixture
def running(clone: Path, tmp_path: Path) -> Iterator[tuple[Launched, Inside]]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    env = clean_env()  # no Aula variable: everything else at its default
    launched = Launched(
        [*NETNS_LAUNCH, sys.executable, "scripts/run.py"], clone, env, tmp_path / "run.log"
    )
    try:
        yield launched, Inside(launched.process.pid)
    finally:
        launched.kill()


@contextlib.contextmanager
def served(tmp_path: Path, inside: Inside) -> Iterator[Path]:
    """A file on a loopback file server inside the namespace (a URL to download)."""
    folder = tmp_path / "served"
    make_video(folder / "remote.mp4", seconds=1)
    command = [*inside.enter, sys.executable, "-m", "http.server", str(FILES_PORT)]
    server = subprocess.Popen(
        [*command, "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield folder / "remote.mp4"
    finally:
        server.kill()
        server.wait(timeout=10)


def test_a_fresh_clone_with_the_defaults(
    running: tuple[Launched, Inside], clone: Path, tmp_path: Path
) -> None:
    launched, inside = running

    def ready() -> bool:
        launched.running()
        return inside.request("GET", "/api/health/ready")["status"] == 200

    def ready_line() -> bool:
        launched.running()
        return "run: Aula is ready: http://127.0.0.1:8000/\n" in launched.output()

    wait_until(ready, START_S, "web and a worker to be ready", interval=0.5)
    # The launcher polls the same endpoint, whose answer web reuses for up to 5 s.
    wait_until(ready_line, 30, "the launcher to print the address", interval=0.2)
    warning = next(line for line in launched.output().splitlines() if "reads are open" in line)
    assert "http://127.0.0.1:8000/#/setup" in warning and "0.0.0.0" in warning

    [item] = _index(inside)
    _thumbnail_and_stream(inside, item, clone)
    with served(tmp_path, inside) as remote:
        _download(inside, remote, clone)
    _second_launcher_refused(launched, clone)

    left = launched.interrupt(timeout=30)
    assert not left, launched.tail()
    assert launched.process.returncode == 0, launched.tail()


def _index(inside: Inside) -> list[dict[str, object]]:
    status, enqueued = inside.json("POST", "/api/catalog/rebuild", {"source": "local"})
    assert status == 202, enqueued
    task = _finished(inside, str(enqueued["status_url"]))
    assert task["state"] == "SUCCESS", task
    status, page = inside.json("GET", "/api/catalog/items?source=local")
    assert status == 200, page
    listed = page["items"]
    assert isinstance(listed, list)
    return listed


def _finished(inside: Inside, status_url: str) -> dict[str, object]:
    def done() -> dict[str, object] | None:
        _, task = inside.json("GET", status_url)
        return task if task["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None

    found: dict[str, object] = wait_until(done, 60, f"task {status_url}", interval=0.5)
    return found


def _thumbnail_and_stream(inside: Inside, item: dict[str, object], clone: Path) -> None:
    thumbnail = inside.request("GET", str(item["thumbnail_url"]))
    assert thumbnail["status"] == 200, thumbnail  # a 500 when web took var/ from api/
    headers = thumbnail["headers"]
    assert isinstance(headers, dict) and headers["Content-Type"].startswith("image/")
    assert int(str(thumbnail["size"])) > 0
    assert list((clone / "var" / "thumbnails").glob("*.thumb")), "not under the clone's var/"

    lesson = clone / "lessons" / "Intro to Biology" / "Week 1" / "Lesson 1.mp4"
    ranged = inside.request("GET", str(item["stream_url"]), headers={"Range": "bytes=100-299"})
    assert ranged["status"] == 206, ranged
    assert ranged["sha256"] == hashlib.sha256(lesson.read_bytes()[100:300]).hexdigest()


def _download(inside: Inside, remote: Path, clone: Path) -> None:
    url = f"http://127.0.0.1:{FILES_PORT}/{remote.name}"
    wait_until(lambda: _answers(inside, url), 30, "the file server")
    status, created = inside.json("POST", "/api/downloads", {"url": url})
    assert status in (200, 202), created
    download = created["download"]
    assert isinstance(download, dict)

    def succeeded() -> dict[str, object] | None:
        _, found = inside.json("GET", f"/api/downloads/{download['id']}")
        assert found["state"] not in ("failed", "canceled"), found
        return found if found["state"] == "succeeded" else None

    done = wait_until(succeeded, 90, "the download", interval=0.5)
    expected = hashlib.sha256(remote.read_bytes()).hexdigest()
    file = done["file"]
    assert isinstance(file, dict) and file["sha256"] == expected
    landed = clone / "var" / "downloads" / str(file["path"])
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == expected
    _found_in_the_catalog(inside, expected)


def _found_in_the_catalog(inside: Inside, sha256: str) -> None:
    """A finished URL download is a catalog item: found by a title search, and it plays the file."""
    status, page = inside.json("GET", "/api/catalog/items?q=remote")
    assert status == 200, page
    listed = page["items"]
    assert isinstance(listed, list)
    [item] = [entry for entry in listed if entry["source"] == "download"]
    whole = inside.request("GET", str(item["stream_url"]))
    assert whole["status"] == 200 and whole["sha256"] == sha256, whole


def _answers(inside: Inside, url: str) -> bool:
    done = subprocess.run(
        [*inside.enter, sys.executable, "-c", CLIENT, "HEAD", url, "", "{}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0 and json.loads(done.stdout)["status"] == 200


def _redis_servers(clone: Path) -> list[psutil.Process]:
    """redis-servers working in the clone's var/redis (it rewrites its command line, but it
    changes into its --dir)."""
    data = str(clone / "var" / "redis")
    found = []
    for process in psutil.process_iter(["name", "cwd"]):
        if "redis-server" in (process.info["name"] or "") and process.info["cwd"] == data:
            found.append(process)
    return found


def _second_launcher_refused(first: Launched, clone: Path) -> None:
    """A second `make run` in the same folder and network: one line naming the first."""
    [redis] = _redis_servers(clone)
    # Redis holds the lock too: were the launcher killed, it would keep a second one out.
    assert str(clone / "var" / "aula.lock") in {file.path for file in redis.open_files()}
    enter = ["nsenter", f"--net=/proc/{first.process.pid}/ns/net", "--"]
    done = subprocess.run(
        [*enter, sys.executable, "scripts/run.py"],
        cwd=clone,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 1, lines
    assert lines == [
        f"run: Aula is already running on DATA_DIR={clone / 'var'} (pid {first.process.pid},"
        " http://127.0.0.1:8000/); stop it first"
    ]
    assert len(_redis_servers(clone)) == 1
    assert first.running()
