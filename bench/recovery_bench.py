"""Crash recovery with the default settings: SIGKILL a worker mid-download, time the way back.

Starts a local media server (tests/fakes/media.py, throttled), a private redis-server, SQLite,
and a real `celery -A tasks worker` with every crash-recovery setting at its default
(BROKER_VISIBILITY_TIMEOUT_S 12 h, WORKER_LIVENESS_INTERVAL_S 10 s, WORKER_LIVENESS_TTL_S 30 s).
First one undisturbed download (the reference, measured in this run); then --trials times: a
download of a fresh URL, the worker's whole process group SIGKILLed once a random share (5-90%)
of the file has arrived, a new worker started at once (as docker's restart policy would). For
each trial it records the seconds from the kill to the download running again (its attempt
count rising) and to its `succeeded`, and checks the file's sha256. Prints min/median/max of
both, the count of correct files, and the ratio of the extra time to the reference download.

    .venv/bin/python bench/recovery_bench.py [--trials 10] [--size-mib 8] [--rate-mib 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import create_app  # noqa: E402
from api.extensions import make_celery_client  # noqa: E402
from core.base.db import migrate  # noqa: E402
from core.base.settings import load_settings  # noqa: E402
from tests.fakes.media import pattern  # noqa: E402
from tests.helpers import start_redis, start_worker, stop_process_group, wait_for  # noqa: E402

MIB = 1024 * 1024
TARGET_S = 120.0  # the contract: a dead worker's task runs again within 2 minutes
SERVER = """
import sys, time
from tests.fakes.media import MediaServer
server = MediaServer(slow_size=int(sys.argv[1])).__enter__()
server.rate_bps = float(sys.argv[2])
print(server.base_url, flush=True)
time.sleep(3600)
"""


def state(client: Any, download_id: int) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/downloads/{download_id}").get_json()
    return body


def until(client: Any, download_id: int, check: Any, timeout: float = 600) -> dict[str, Any]:
    """Poll the download every 0.2 s until `check(body)`; a failed download stops the bench."""

    def reached() -> dict[str, Any] | None:
        body = state(client, download_id)
        assert body["state"] != "failed", body
        return body if check(body) else None

    result: dict[str, Any] = wait_for(reached, timeout, interval=0.2, what="the download")
    return result


def reference_s(client: Any, url: str) -> float:
    """One download left alone: seconds from the POST to `succeeded`."""
    started = time.monotonic()
    download_id = client.post("/api/downloads", json={"url": url}).get_json()["download"]["id"]
    until(client, download_id, lambda b: b["state"] == "succeeded")
    return time.monotonic() - started


def trial(
    client: Any, url: str, size: int, share: float, expected: str, restart: Any, folder: Path
) -> tuple[float, float, bool]:
    """One SIGKILL at `share` of the file; (to running again, to finished, file correct)."""
    download_id = client.post("/api/downloads", json={"url": url}).get_json()["download"]["id"]
    body = until(
        client,
        download_id,
        lambda b: (
            b["state"] == "running" and (b["progress"]["downloaded_bytes"] or 0) >= share * size
        ),
    )
    attempts = body["attempts"]
    killed = time.monotonic()
    restart()
    until(client, download_id, lambda b: b["attempts"] > attempts and b["state"] == "running")
    running = time.monotonic() - killed
    body = until(client, download_id, lambda b: b["state"] == "succeeded")
    finished = time.monotonic() - killed
    on_disk = hashlib.sha256((folder / body["file"]["path"]).read_bytes()).hexdigest()
    return running, finished, on_disk == expected == body["file"]["sha256"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--size-mib", type=int, default=8)
    parser.add_argument("--rate-mib", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    size = args.size_mib * MIB
    expected = hashlib.sha256(pattern(size)).hexdigest()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(size), str(args.rate_mib * MIB)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    shares = random.Random(args.seed)
    results: list[tuple[float, float, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        redis_process, redis_url = start_redis(Path(tmp) / "redis")
        env = {
            "DATABASE_URL": f"sqlite:///{tmp}/aula.db", "REDIS_URL": redis_url, "DATA_DIR": tmp,
            "DOWNLOAD_DIR": f"{tmp}/downloads", "DOWNLOAD_ALLOW_PRIVATE_HOSTS": "true",
            "WORKER_METRICS_PORT": "0", "LOG_LEVEL": "WARNING", "DISK_FREE_FLOOR_MB": "1",
        }  # fmt: skip
        migrate(env["DATABASE_URL"])
        settings = load_settings(**{k.lower(): v for k, v in env.items()})
        log = Path(tmp) / "worker.log"
        workers = [start_worker(env, log, "-Q", "downloads")]

        def restart() -> None:
            os.killpg(workers[-1].pid, signal.SIGKILL)
            workers[-1].wait(10)
            workers.append(start_worker(env, log, "-Q", "downloads"))

        try:
            wait_for(lambda: make_celery_client(settings).control.ping(timeout=0.5), 60)
            client = create_app({k.lower(): v for k, v in env.items()}).test_client()
            downloads = Path(tmp) / "downloads"
            reference = reference_s(client, f"{base_url}/slow.bin?reference")
            for number in range(args.trials):
                share = shares.uniform(0.05, 0.9)
                url = f"{base_url}/slow.bin?trial={number}"
                results.append(trial(client, url, size, share, expected, restart, downloads))
                print(f"trial {number + 1}: killed at {share:.0%}: running again after"
                      f" {results[-1][0]:.1f} s, finished after {results[-1][1]:.1f} s,"
                      f" {'correct' if results[-1][2] else 'WRONG'}", flush=True)  # fmt: skip
        finally:
            for worker in workers:
                stop_process_group(worker)
            stop_process_group(redis_process)
            stop_process_group(server)
    report(args, reference, results)


def report(args: argparse.Namespace, reference: float, results: list[tuple[float, float, bool]]):
    """The table for docs/PERFORMANCE.md."""
    running = [r[0] for r in results]
    finished = [r[1] for r in results]
    correct = sum(1 for r in results if r[2])
    print(f"\n{args.trials} SIGKILLs of the whole worker, restarted at once; {args.size_mib} MiB"
          f" at {args.rate_mib} MiB/s; defaults (liveness TTL 30 s, every 10 s)")  # fmt: skip
    print(f"undisturbed download (reference): {reference:.1f} s")
    print("                          min   median      max")
    for name, values in (("kill -> running again", running), ("kill -> finished", finished)):
        print(f"  {name:22} {min(values):6.1f} {statistics.median(values):8.1f}"
              f" {max(values):8.1f} s")  # fmt: skip
    print(f"  correct files: {correct} of {len(results)}")
    print(f"  max kill -> running again / target {TARGET_S:.0f} s: {max(running) / TARGET_S:.2f}")
    extra = statistics.median(finished) - statistics.median(running)
    print(f"  median remaining download after the restart / reference: {extra / reference:.2f}")


if __name__ == "__main__":
    main()
