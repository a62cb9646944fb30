"""Downloads through the worker vs curl from the same local server, and 4 at once vs 1.

Starts a local media server (tests/fakes/media.py, unthrottled) holding one generated file, a
private redis-server, and a real `celery -A tasks worker` (WORKER_CONCURRENCY=4) allowed to fetch
from loopback; then
- times curl saving the file next to DOWNLOAD_DIR (the reference: the same work a download does
  but the sha256), and, for context, curl to /dev/null and curl followed by sha256sum;
- times one download of a plain file through POST /api/downloads (core/downloads), from creation to
  `succeeded` as the database records them: prints MiB/s and the ratio to curl (target >= 0.9);
- times the same file reached through a page (`/page.html?src=`), which yt-dlp downloads;
- times four downloads of four different URLs enqueued together: aggregate MiB/s against one.
Each figure is the median of --runs runs.

    .venv/bin/python bench/download_bench.py [--size-mib 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import create_app  # noqa: E402
from api.extensions import make_celery_client  # noqa: E402
from core.base.db import migrate  # noqa: E402
from core.base.settings import load_settings  # noqa: E402
from tests.helpers import start_redis, start_worker, stop_process_group, wait_for  # noqa: E402

MIB = 1024 * 1024
SERVER = """
import sys, time
from tests.fakes.media import MediaServer
server = MediaServer(slow_size=int(sys.argv[1])).__enter__()
server.rate_bps = None
print(server.base_url, flush=True)
time.sleep(3600)
"""


def curl_seconds(url: str, target: str, then_hash: bool = False) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "-o", target, url], check=True, timeout=600)
    if then_hash:
        subprocess.run(["sha256sum", target], check=True, timeout=600, capture_output=True)
    elapsed = time.perf_counter() - started
    if target != "/dev/null":
        Path(target).unlink()
    return elapsed


def download_seconds(client, urls: list[str]) -> float:
    """From the first creation to the last `finished_at`, as the database recorded them."""
    ids = [
        client.post("/api/downloads", json={"url": u}).get_json()["download"]["id"] for u in urls
    ]

    def all_done() -> list[dict] | None:
        rows = [client.get(f"/api/downloads/{i}").get_json() for i in ids]
        assert not [r for r in rows if r["state"] == "failed"], rows
        return rows if all(r["state"] == "succeeded" for r in rows) else None

    rows = wait_for(all_done, 600, interval=0.25, what="the downloads")
    start = min(datetime.fromisoformat(r["created_at"]) for r in rows)
    end = max(datetime.fromisoformat(r["finished_at"]) for r in rows)
    return (end - start).total_seconds()


def settle(folder: Path) -> None:
    """Remove what earlier measurements wrote, flush dirty pages and drop the page cache.

    Without this each measurement pays for the gigabytes written before it, whichever way it
    fetches: the kernel throttles writers once dirty pages pass its threshold, and a page cache
    that fills memory makes every new page a reclaim. Dropping caches needs root; without it the
    figures vary more from run to run (the script says so).
    """
    for path in folder.rglob("*"):
        if path.is_file():
            path.unlink()
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1")
    except OSError:
        if not getattr(settle, "warned", False):
            print("(not root: the page cache is not dropped between measurements)")
            settle.warned = True  # type: ignore[attr-defined]


def one_round(client, base_url: str, folder: Path, run: int) -> Iterator[tuple[str, float]]:
    """Each way of fetching the file once; a fresh URL per download so none is deduplicated."""
    url, saved = f"{base_url}/slow.bin", str(folder / "curl.bin")
    page = f"{base_url}/page.html?src={url}%3Fpage={run}"
    four = [f"{url}?run={run}-{i}" for i in range(4)]
    ways: list[tuple[str, Callable[[], float]]] = [
        ("curl -o file", lambda: curl_seconds(url, saved)),
        ("curl -o /dev/null", lambda: curl_seconds(url, "/dev/null")),
        ("curl -o file; sha256sum", lambda: curl_seconds(url, saved, then_hash=True)),
        ("one download", lambda: download_seconds(client, [f"{url}?run={run}"])),
        ("through a page (yt-dlp)", lambda: download_seconds(client, [page])),
        ("four at once", lambda: download_seconds(client, four) / 4),
    ]
    for name, measure in ways:
        settle(folder)
        yield name, measure()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MIB
    # The media server runs in its own process, so the bench's polling never competes with it.
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(size)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        redis_process, redis_url = start_redis(Path(tmp) / "redis")
        env = {
            "DATABASE_URL": f"sqlite:///{tmp}/aula.db", "REDIS_URL": redis_url, "DATA_DIR": tmp,
            "DOWNLOAD_DIR": f"{tmp}/downloads", "DOWNLOAD_ALLOW_PRIVATE_HOSTS": "true",
            "WORKER_CONCURRENCY": "4", "WORKER_METRICS_PORT": "0", "LOG_LEVEL": "WARNING",
            "PROGRESS_INTERVAL_S": "0.5", "DISK_FREE_FLOOR_MB": "1",
        }  # fmt: skip
        migrate(env["DATABASE_URL"])
        worker = start_worker(env, Path(tmp) / "worker.log", "-Q", "downloads")
        settings = load_settings(**{k.lower(): v for k, v in env.items()})
        try:
            wait_for(lambda: make_celery_client(settings).control.ping(timeout=0.5), 60)
            client = create_app({k.lower(): v for k, v in env.items()}).test_client()
            folder = Path(tmp) / "downloads"
            folder.mkdir(parents=True, exist_ok=True)
            times: dict[str, list[float]] = {}
            for run in range(args.runs):
                for name, seconds in one_round(client, base_url, folder, run):
                    times.setdefault(name, []).append(seconds)
        finally:
            stop_process_group(worker)
            stop_process_group(redis_process)
            stop_process_group(server)
    report(args.size_mib, times)


def report(size_mib: int, times: dict[str, list[float]]) -> None:
    """Median MiB/s of each way, and its ratio to curl saving the file."""
    print(f"{size_mib} MiB from a local server; 2 vCPUs shared by server, worker and client;")
    print(f"median of {len(times['curl -o file'])} runs (each run's MiB/s in brackets)")
    reference = size_mib / statistics.median(times["curl -o file"])
    for name, seconds in times.items():
        rates = [size_mib / s for s in seconds]
        rate = size_mib / statistics.median(seconds)
        each = ", ".join(f"{r:.0f}" for r in rates)
        print(f"  {name:26} {rate:8.1f} MiB/s  ratio {rate / reference:5.2f}  [{each}]")
    print("one download: from creation to finished_at, including enqueue, sha256 and the move")
    print("into place (target ratio >= 0.9); four at once: aggregate rate of four downloads")


if __name__ == "__main__":
    main()
