"""`make run`'s launcher on a machine with no Redis: it starts its own, and Ctrl-C stops it all.

scripts/run.py runs in a fresh network namespace, so nothing answers on 127.0.0.1:6379 there;
the test talks to it through `nsenter` into that namespace.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.support import Launched, clean_env, describe, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# Runs inside the namespace: one HTTP request, or a TCP probe, answered as one JSON line.
CLIENT = """
import json, socket, sys, urllib.error, urllib.request
mode, target = sys.argv[1], sys.argv[2]
if mode == "probe":
    with socket.socket() as sock:
        sock.settimeout(1)
        print(json.dumps({"open": sock.connect_ex(("127.0.0.1", int(target))) == 0}))
    sys.exit()
request = urllib.request.Request(target, method=mode, data=b"" if mode == "POST" else None)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        status, raw = response.status, response.read()
except urllib.error.HTTPError as error:
    status, raw = error.code, error.read()
print(json.dumps({"status": status, "body": json.loads(raw or b"null")}))
"""
NETNS_LAUNCH = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "netns"]


def netns_unavailable() -> str | None:
    """Why a fresh network namespace can't be made here, or None if it can."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    probe = subprocess.run([*NETNS_LAUNCH, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot create a network namespace (needs root): {probe.stderr.strip()}"
    return None


class Namespaced:
    """Requests sent from inside the network namespace of a process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def run(self, mode: str, target: str) -> dict[str, object]:
        command = ["nsenter", f"--net=/proc/{self.pid}/ns/net", "--", sys.executable, "-c", CLIENT]
        done = subprocess.run(
            [*command, mode, target], capture_output=True, text=True, timeout=15, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1:] or done.returncode)
        answer: dict[str, object] = json.loads(done.stdout)
        return answer


@pytest.fixture
def launcher(app_tree: Path, tmp_path: Path) -> Iterator[tuple[Launched, Path, int]]:
    """scripts/run.py in a copy of the tree, in its own network namespace, REDIS_URL unset."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    port = free_port()
    data = tmp_path / "data"
    env = clean_env(
        PORT=port,
        FLOWER_PORT=free_port(),
        WORKER_METRICS_PORT=free_port(),
        DATA_DIR=data,
        LOG_FORMAT="json",
        WEB_CONCURRENCY=1,
        WORKER_CONCURRENCY=1,
    )
    assert "REDIS_URL" not in env
    command = [*NETNS_LAUNCH, sys.executable, "scripts/run.py"]
    launched = Launched(command, app_tree, env, tmp_path / "run.log")
    try:
        yield launched, data, port
    finally:
        launched.kill()


def test_make_run_starts_its_own_redis_and_stops_everything(
    launcher: tuple[Launched, Path, int],
) -> None:
    launched, data, port = launcher
    inside = Namespaced(launched.process.pid)
    base = f"http://127.0.0.1:{port}"

    def health() -> dict[str, object] | None:
        launched.running()
        answer = inside.run("GET", f"{base}/api/health")
        return answer if answer["status"] == 200 else None

    answer = wait_until(health, 60, "web to answer /api/health", interval=0.5)
    assert inside.run("probe", "6379") == {"open": False}, "something answers on 6379"
    body = answer["body"]
    assert isinstance(body, dict)
    redis_url = str(body.get("settings", {}).get("redis_url", ""))
    assert urlsplit(redis_url).hostname == "127.0.0.1", redis_url
    assert urlsplit(redis_url).port != 6379, redis_url

    accepted = inside.run("POST", f"{base}/api/maintenance/cleanup")
    assert accepted["status"] == 202, accepted
    enqueued = accepted["body"]
    assert isinstance(enqueued, dict)
    status_url = f"{base}{enqueued['status_url']}"

    def finished() -> dict[str, object] | None:
        launched.running()
        task = inside.run("GET", status_url)["body"]
        assert isinstance(task, dict)
        return task if task["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None

    task = wait_until(finished, 60, "the cleanup task to finish", interval=0.5)
    assert task["state"] == "SUCCESS", task

    key = data / "encryption.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().strip() not in launched.output(), "the key was printed"

    left = launched.interrupt(timeout=20)
    assert not left, f"still running 20 s after Ctrl-C: {describe(left)}"
    assert any("redis-server" in command for command in launched.seen_commands)
    assert launched.process.returncode == 0, launched.tail()
