"""media.convert through a real worker vs plain ffmpeg on the same file: remux and transcode.

Makes two lessons with ffmpeg (lavfi): an MKV with H.264/AAC (remuxed: a stream copy) and an
AVI with MPEG-4 Part 2/MP3 (transcoded to H.264/AAC), starts a private redis-server and a real
`celery -A tasks worker -Q media -c 1`, indexes the lessons, then for each file, alternately:
- runs plain ffmpeg with the very argv the task uses (no limits, no progress reading): the
  reference, timed from start to exit;
- runs the task through POST /api/catalog/items/{id}/convert, timed from the task record's
  created_at to its finished_at (enqueue, pickup, probe, ffmpeg bounded, the cache insert),
  after emptying the cache so it converts again.
Prints the median MB/s of the source for each, and their ratio (target >= 0.9). The machine's
other load moves single runs by tens of percent: look at the medians of several runs.

    .venv/bin/python bench/convert_bench.py [--remux-seconds 600] [--transcode-seconds 60]
        [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import create_app  # noqa: E402
from api.extensions import make_celery_client  # noqa: E402
from core.base.db import database, migrate  # noqa: E402
from core.base.settings import load_settings  # noqa: E402
from core.media import convert, facts, ffmpeg  # noqa: E402
from core.media.models import ConvertedFile  # noqa: E402
from tests.helpers import start_redis, start_worker, stop_process_group, wait_for  # noqa: E402

MB = 1_000_000


def make_lesson(path: Path, seconds: int, video: list[str], audio: list[str]) -> None:
    """A lesson of `seconds`: a 10 s lavfi clip encoded once, then stream-copied in a loop."""
    clip = path.with_name("clip" + path.suffix)
    subprocess.run([
        ffmpeg.ffmpeg_path(), "-v", "error", "-y", "-f", "lavfi", "-i",
        "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
        "-t", "10", *video, *audio, str(clip),
    ], check=True, timeout=600)  # fmt: skip
    subprocess.run([
        ffmpeg.ffmpeg_path(), "-v", "error", "-y", "-stream_loop", str(seconds // 10 - 1),
        "-i", str(clip), "-c", "copy", str(path),
    ], check=True, timeout=600)  # fmt: skip
    clip.unlink()


def plain_seconds(source: Path, target: Path) -> float:
    """The task's own ffmpeg argv, run bare."""
    media = facts.inspect(source)[1]
    argv = convert.arguments(source, target, convert.mode_for(media), media)
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def task_seconds(client, db, settings, item_id: int) -> float:
    """POST convert until SUCCESS, from the record's created_at to its finished_at."""
    with db.session() as session:
        session.query(ConvertedFile).delete()
    shutil.rmtree(convert.cache_dir(settings), ignore_errors=True)
    task_id = client.post(f"/api/catalog/items/{item_id}/convert").get_json()["task_id"]

    def done():
        body = client.get(f"/api/tasks/{task_id}").get_json()
        assert body["state"] not in ("FAILURE", "REVOKED"), body
        return body if body["state"] == "SUCCESS" else None

    body = wait_for(done, 3600, interval=0.1, what="the conversion")
    assert body["result"]["mode"] in ("remux", "transcode"), body
    start = datetime.fromisoformat(body["created_at"])
    return (datetime.fromisoformat(body["finished_at"]) - start).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--remux-seconds", type=int, default=600)
    parser.add_argument("--transcode-seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        media_root = Path(tmp) / "media"
        media_root.mkdir()
        h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "60"]
        make_lesson(media_root / "remux.mkv", args.remux_seconds, h264, ["-c:a", "aac"])
        make_lesson(
            media_root / "transcode.avi", args.transcode_seconds,
            ["-c:v", "mpeg4", "-q:v", "4"], ["-c:a", "libmp3lame"],
        )  # fmt: skip
        redis_process, redis_url = start_redis(Path(tmp) / "redis")
        env = {
            "DATABASE_URL": f"sqlite:///{tmp}/aula.db", "REDIS_URL": redis_url, "DATA_DIR": tmp,
            "DOWNLOAD_DIR": f"{tmp}/downloads", "MEDIA_ROOTS": str(media_root),
            "WORKER_CONCURRENCY": "1", "WORKER_METRICS_PORT": "0", "LOG_LEVEL": "WARNING",
            "PROGRESS_INTERVAL_S": "0.5", "DISK_FREE_FLOOR_MB": "1",
        }  # fmt: skip
        migrate(env["DATABASE_URL"])
        settings = load_settings(**{k.lower(): v for k, v in env.items()})
        worker = start_worker(env, Path(tmp) / "worker.log", "-Q", "media,default")
        try:
            wait_for(lambda: make_celery_client(settings).control.ping(timeout=0.5), 60)
            client = create_app({k.lower(): v for k, v in env.items()}).test_client()
            from core.catalog.indexing import rebuild_local
            from tests.services import services_of

            rebuild_local(services_of(settings))
            items = client.get("/api/catalog/items?source=local").get_json()["items"]
            db = database(settings.database_url)
            times: dict[str, list[float]] = {}
            for item in sorted(items, key=lambda i: i["source_id"]):
                source = media_root / item["source_id"]
                mode = item["media"]["playable"]
                for run in range(args.runs):
                    # Alternate which goes first: neither always meets the other's dirty pages.
                    for way in ("plain", "task") if run % 2 == 0 else ("task", "plain"):
                        seconds = (
                            plain_seconds(source, Path(tmp) / "plain.mp4")
                            if way == "plain"
                            else task_seconds(client, db, settings, item["id"])
                        )
                        times.setdefault(f"{mode} {way}", []).append(seconds)
                size = source.stat().st_size / MB
                report(mode, size, times[f"{mode} plain"], times[f"{mode} task"])
        finally:
            stop_process_group(worker)
            stop_process_group(redis_process)


def report(mode: str, size_mb: float, plain: list[float], task: list[float]) -> None:
    """Median MB/s of the source, plain ffmpeg and the task, and the ratio task / plain."""
    reference = size_mb / statistics.median(plain)
    rate = size_mb / statistics.median(task)
    runs = "; ".join(
        f"{size_mb / p:.1f} vs {size_mb / t:.1f}" for p, t in zip(plain, task, strict=True)
    )
    print(
        f"{mode:9} {size_mb:8.1f} MB  plain ffmpeg {reference:8.1f} MB/s  task {rate:8.1f} MB/s"
        f"  ratio {rate / reference:5.2f}  [plain vs task: {runs}]"
    )


if __name__ == "__main__":
    main()
