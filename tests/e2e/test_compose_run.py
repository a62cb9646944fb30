"""docker-compose.yml run for real: health, the proxy, streams, downloads, restarts, monitoring.

Needs a Docker engine, docker-compose (1.29 or v2's standalone) and debootstrap:
`make compose-test` provides them in CI and skips with one line elsewhere when it cannot. The
images registries would give are local stand-ins (deploy/standins/build.sh, cached).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
import yaml

from tests.e2e.compose_stack import (
    AUTH,
    LONG_RUNNING,
    ROOT,
    Stack,
    add_video,
    exit_codes_after_stop,
    rebuild_local,
)
from tests.helpers import wait_for

# The first run builds every image (debootstrap, apt, pip): minutes, bounded generously.
pytestmark = pytest.mark.timeout(1800)
# Headers Flask sets that must reach the client through nginx unchanged.
FLASK_HEADERS = (
    "Content-Type", "Content-Disposition", "Content-Security-Policy", "X-Content-Type-Options",
    "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy", "Permissions-Policy",
    "Cache-Control",
)  # fmt: skip


def _engine() -> None:
    done = subprocess.run(
        [str(ROOT / "deploy/standins/engine.sh")], capture_output=True, text=True, timeout=900
    )
    if done.returncode == 3:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    built = subprocess.run(
        [str(ROOT / "deploy/standins/build.sh")], capture_output=True, text=True, timeout=1800
    )
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _engine()
    running = Stack(tmp_path_factory.mktemp("compose"))
    add_video(running.media, "lesson one é.mp4", seconds=4)
    add_video(running.serve, "remote.mp4")
    running.compose("down", "-v", "--remove-orphans", timeout=300)  # a crashed run's leftovers
    try:
        running.compose("up", "-d", "--build", timeout=1500)
        running.wait_healthy()
        yield running
    finally:
        logs = running.compose("logs", "--no-color", "--tail=200", check=False)
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        (ROOT / "test-artifacts/compose.log").write_text(logs)
        running.compose("--profile", "monitoring", "down", "-v", "--remove-orphans", timeout=300)


def test_every_service_is_healthy_and_ready_through_the_proxy(stack: Stack) -> None:
    assert all(states == ["healthy"] for states in stack.health().values()), stack.health()
    (migrate,) = stack.containers("migrate")
    assert stack.inspect(migrate)["State"]["ExitCode"] == 0
    ready = stack.get("/api/health/ready", headers={})
    assert ready.status_code == 200, ready.text
    assert ready.headers["Server"] == "nginx"
    assert ready.json()["status"] == "ready"


def test_a_cleanup_task_succeeds(stack: Stack) -> None:
    answer = stack.post("/api/maintenance/cleanup")
    assert answer.status_code == 202, answer.text
    assert stack.task(answer.json()["task_id"])["name"] == "maintenance.cleanup"


def test_local_media_is_indexed_and_nginx_streams_it_byte_exact(stack: Stack) -> None:
    data = (stack.media / "lesson one é.mp4").read_bytes()
    item = rebuild_local(stack)["lesson one é.mp4"]

    whole = stack.get(item["stream_url"], headers={})
    part = stack.get(item["stream_url"], headers={"Range": "bytes=100-1099"})

    assert whole.status_code == 200 and whole.content == data
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    # nginx sent the bytes: web answered the proxied request with X-Accel-Redirect only.
    direct = stack.get(item["stream_url"], "web", headers={"X-Aula-Accel": "1"})
    assert direct.headers["X-Accel-Redirect"] == "/_accel/media/lesson%20one%20%C3%A9.mp4"
    assert direct.content == b"" and "X-Accel-Redirect" not in whole.headers
    for name in FLASK_HEADERS:
        assert whole.headers.get(name) == direct.headers.get(name), name
    # Without nginx's mark web still sends the bytes itself.
    assert stack.get(item["stream_url"], "web", headers={}).content == data


def test_auth_and_signed_urls_hold_through_the_proxy(stack: Stack) -> None:
    item = rebuild_local(stack)["lesson one é.mp4"]
    path = item["stream_url"].split("?")[0]
    tampered = item["stream_url"][:-1] + ("A" if item["stream_url"][-1] != "A" else "B")

    assert stack.get("/api/catalog/items", headers={}).status_code == 401
    assert stack.get(path, headers={}).status_code == 401
    assert stack.get(tampered, headers={}).status_code == 403
    assert requests.post(stack.url("/api/maintenance/cleanup"), timeout=30).status_code == 401
    assert stack.get(path, headers=AUTH).status_code == 200
    # The internal locations answer only X-Accel-Redirect, never a client.
    inside = stack.get("/_accel/media/lesson%20one%20%C3%A9.mp4", headers=AUTH)
    assert inside.status_code == 404


def test_ui_files_come_from_nginx_with_flasks_headers(stack: Stack) -> None:
    for path in ("/", "/ui/ui.css", "/ui/js/app.js"):
        proxied = stack.get(path, headers={})
        direct = stack.get(path, "web", headers={})
        assert proxied.status_code == direct.status_code == 200, path
        assert proxied.content == direct.content, path
        assert "X-Request-ID" not in proxied.headers, "served by nginx, not by web"
        for name in FLASK_HEADERS[2:]:
            assert proxied.headers.get(name) == direct.headers.get(name), (path, name)
        assert proxied.headers["Content-Type"].split(";")[0] in (
            direct.headers["Content-Type"].split(";")[0],
            "application/javascript",
        ), path


def test_a_download_from_the_compose_network_keeps_its_sha256(stack: Stack) -> None:
    expected = hashlib.sha256((stack.serve / "remote.mp4").read_bytes()).hexdigest()
    answer = stack.post("/api/downloads", {"url": "http://mediaserver:8000/remote.mp4"})
    assert answer.status_code in (200, 202), answer.text

    done = stack.download(answer.json()["download"]["id"])

    assert done["file"]["sha256"] == expected
    served = stack.get(done["file_url"], headers={})
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == expected
    # nginx sent it from its read-only mount of the downloads: web only named the file.
    direct = stack.get(done["file_url"], "web", headers={"X-Aula-Accel": "1"})
    # The URI is percent-encoded (the default name has spaces and brackets); nginx decodes it.
    named = quote(f"/_accel/data/downloads/{done['file']['path']}")
    assert direct.headers["X-Accel-Redirect"] == named
    assert direct.content == b""


def _last_runs(stack: Stack) -> dict[str, float]:
    flat = stack.redis_cli("HGETALL", "aula:beat:last_run").split()
    return {flat[i]: float(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def test_restart_redis_keeps_records_queued_work_and_the_schedule(stack: Stack) -> None:
    finished = stack.task(stack.post("/api/maintenance/cleanup").json()["task_id"])
    before = wait_for(lambda: _last_runs(stack), 120, interval=1, what="a beat send")
    stack.compose("stop", "worker", timeout=120)
    queued = stack.post("/api/maintenance/cleanup").json()["task_id"]
    assert int(stack.redis_cli("LLEN", "default")) >= 1

    stack.compose("restart", "redis", timeout=120)
    wait_for(lambda: stack.redis_cli("PING") == "PONG", 60, interval=1, what="redis")

    assert int(stack.redis_cli("LLEN", "default")) >= 1, "the queued message survived"
    assert stack.get(f"/api/tasks/{finished['id']}").json()["state"] == "SUCCESS"
    after = _last_runs(stack)
    assert set(before) <= set(after)
    assert all(after[name] >= sent for name, sent in before.items())
    stack.compose("start", "worker", timeout=120)
    assert stack.task(queued)["state"] == "SUCCESS"
    # Beat carries on from the kept schedule: the next cleanup is sent after the restart.
    wait_for(
        lambda: _last_runs(stack)["maintenance.cleanup"] > after["maintenance.cleanup"],
        120, interval=1, what="a beat send after the restart",
    )  # fmt: skip
    stack.wait_healthy()


def test_stop_exits_within_grace_periods_and_up_brings_everything_back(stack: Stack) -> None:
    item = rebuild_local(stack)["lesson one é.mp4"]
    data = (stack.media / "lesson one é.mp4").read_bytes()

    codes = exit_codes_after_stop(stack)

    # 137 is SIGKILL: docker's answer to a container still running when its grace period ends.
    assert set(codes) == set(LONG_RUNNING)
    assert all(code != 137 for code in codes.values()), codes
    stack.compose("up", "-d", timeout=600)
    stack.wait_healthy()
    again = stack.get(f"/api/catalog/items/{item['id']}").json()
    assert again["source_id"] == item["source_id"]
    assert stack.get(again["stream_url"], headers={}).content == data


def _rule_count() -> int:
    groups = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    return sum(len(group["rules"]) for group in groups)


def test_prometheus_has_every_target_up_and_every_rule_loaded(stack: Stack) -> None:
    stack.compose("--profile", "monitoring", "up", "-d", "prometheus", timeout=600)
    api = f"http://127.0.0.1:{stack.ports['prometheus']}/api/v1"

    def all_up() -> list[dict[str, str]] | None:
        targets = requests.get(f"{api}/targets", timeout=10).json()["data"]["activeTargets"]
        jobs = {target["labels"]["job"] for target in targets}
        every = {"aula-web", "aula-worker", "flower", "prometheus"} <= jobs
        return targets if every and all(t["health"] == "up" for t in targets) else None

    targets = wait_for(all_up, 240, interval=3, what="every Prometheus target up")
    rules = requests.get(f"{api}/rules", timeout=10).json()["data"]["groups"]

    assert len(targets) >= 4
    assert sum(len(group["rules"]) for group in rules) == _rule_count()
    assert all(rule["health"] == "ok" for group in rules for rule in group["rules"])


def test_a_killed_workers_download_is_finished_by_another(stack: Stack) -> None:
    big = stack.serve / "big.bin"  # 4 MiB, sent at 256 KiB/s: 16 s
    big.write_bytes(hashlib.sha256(b"aula").digest() * (4 * 1024 * 1024 // 32))
    big.chmod(0o644)
    stack.compose("up", "-d", "--scale", "worker=3", "--no-recreate", timeout=600)
    try:
        stack.wait_healthy()
        answer = stack.post("/api/downloads", {"url": "http://mediaserver:8000/slow/big.bin"})
        download = answer.json()["download"]
        running = _worker_of(stack, "big.bin")
        subprocess.run(["docker", "kill", running], check=True, capture_output=True)

        # Issue 10 hands a dead worker's task back within about 40 s (its recovery bench), then
        # the download resumes: 150 s bounds that with room on a loaded machine.
        done = stack.download(download["id"], timeout=150)

        assert done["file"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    finally:
        stack.compose("up", "-d", "--scale", "worker=1", "--no-recreate", timeout=600)
        stack.wait_healthy()


def _worker_of(stack: Stack, name: str) -> str:
    """The worker container fetching /slow/<name>: the media server logs each client's address."""
    (server,) = stack.containers("mediaserver")

    def client_address() -> str | None:
        logs = subprocess.run(
            ["docker", "logs", server], capture_output=True, text=True, check=True
        ).stderr
        lines = [line for line in logs.splitlines() if f"/slow/{name}" in line]
        return lines[0].split()[0] if lines else None

    address: str = wait_for(client_address, 60, interval=0.5, what="the download's worker")
    for container in stack.containers("worker"):
        networks = stack.inspect(container)["NetworkSettings"]["Networks"].values()
        if address in {network["IPAddress"] for network in networks}:
            return container
    raise AssertionError(f"no worker has address {address}")
