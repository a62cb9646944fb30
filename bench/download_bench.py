"""Downloads through the worker vs curl from the same local server, and 4 at once vs 1.

Starts a local media server (tests/fakes/media.py, unthrottled) holding one generated file, a
private redis-server, and a real `celery -A tasks worker` (WORKER_CONCURRENCY=4) allowed to fetch
from loopback; then
- times curl fetching the file, and one download through POST /api/downloads (yt-dlp runner)
  from creation to `succeeded`: prints both MB/s and the ratio (target >= 0.9);
- times four downloads of four different URLs enqueued together, and prints the aggregate MB/s
  against the single one.

    .venv/bin/python bench/download_bench.py [--size-mib 256]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import create_app  # noqa: E402
from api.extensions import make_celery_client  # noqa: E402
from core.db import migrate  # noqa: E402
from core.settings import load_settings  # noqa: E402
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


def curl_seconds(url: str) -> float:
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    return float(out)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
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
            url = f"{base_url}/slow.bin"
            reference = curl_seconds(url)
            ours = download_seconds(client, [f"{url}?run=1"])
            four = download_seconds(client, [f"{url}?run=4-{i}" for i in range(4)])
        finally:
            stop_process_group(worker)
            stop_process_group(redis_process)
            stop_process_group(server)
    curl_rate, ours_rate = size / reference / MIB, size / ours / MIB
    print(f"{args.size_mib} MiB from a local server (2 vCPUs shared by server, worker and client)")
    print(f"  curl          {curl_rate:8.1f} MiB/s")
    print(
        f"  one download  {ours_rate:8.1f} MiB/s  ratio {ours_rate / curl_rate:.2f} "
        "(target >= 0.9; includes enqueue, sha256 and the move into place)"
    )
    print(
        f"  four at once  {4 * size / four / MIB:8.1f} MiB/s aggregate "
        f"({4 * ours / four:.2f}x one download)"
    )


if __name__ == "__main__":
    main()
