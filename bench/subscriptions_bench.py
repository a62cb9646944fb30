"""What a subscription check costs, against enqueuing the same videos one by one.

A Drive folder tree with --videos videos is catalogued in a fresh SQLite database; the broker is
a private redis-server (nothing consumes it). Prints:
- the first check of a new subscription (claims every video, enqueues a download for each), as
  a ratio to the reference: `core.downloads.create` called for each video in a loop (what
  `POST /api/classroom/courses/{id}/downloads` does), measured in the same run on a copy;
- the check after a sync that found nothing new (what every beat sync now adds), in ms, and as a
  ratio to the reference's per-video cost;
- the check after a sync that found 10 new videos.

    .venv/bin/python bench/subscriptions_bench.py [--videos 2000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from api.extensions import make_celery_client
from core import downloads
from core.base.db import migrate, session_scope
from core.base.models import CatalogItem, Subscription
from core.base.settings import load_settings
from core.catalog import store as catalog
from core.subscriptions import service as subscriptions
from tests.helpers import start_redis, stop_process_group


def catalogue(db_url: str, start: int, count: int) -> None:
    folders = [{"source": "drive", "source_id": f"f{i}", "name": f"f{i}",
                "parent_id": "root" if i == 0 else "f0"} for i in range(20)]  # fmt: skip
    items = [{"source": "drive", "source_id": f"video{i:07d}", "title": f"aula {i}",
              "mime_type": "video/mp4", "size_bytes": 1000, "folder_id": f"f{i % 20}"}
             for i in range(start, start + count)]  # fmt: skip
    with session_scope(db_url) as session:
        catalog.upsert_folders(session, folders)
        catalog.upsert_items(session, items)


def reference(settings, broker) -> float:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as session:
        ids = list(session.scalars(select(CatalogItem.id).order_by(CatalogItem.id)))
    start = time.perf_counter()
    for item_id in ids:
        downloads.create(settings, broker, item_id=item_id)
    return time.perf_counter() - start


def timed_check(settings, broker, sub_id: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    brought = subscriptions.check(settings, broker, sub_id)
    return time.perf_counter() - start, len(brought)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aula-subs-bench-"))
    redis, redis_url = start_redis(work / "redis")
    try:
        results = {}
        for name in ("reference", "subscription"):
            db_url = f"sqlite:///{work / name}.db"
            migrate(db_url)
            settings = load_settings(database_url=db_url, redis_url=redis_url, data_dir=work,
                                     download_dir=work / "dl", disk_free_floor_mb=0,
                                     drive_folder_ids=["root"])  # fmt: skip
            broker = make_celery_client(settings)
            catalogue(db_url, 0, args.videos)
            if name == "reference":
                results["reference"] = reference(settings, broker)
                continue
            with session_scope(db_url) as session:
                sub = Subscription(source="drive", source_key="root")
                session.add(sub)
            results["first"], brought = timed_check(settings, broker, sub.id)
            assert brought == args.videos, brought
            results["nothing_new"], _ = timed_check(settings, broker, sub.id)
            catalogue(db_url, args.videos, 10)
            results["ten_new"], brought = timed_check(settings, broker, sub.id)
            assert brought == 10, brought
        per_video = results["reference"] / args.videos
        print(f"videos: {args.videos}")
        print(f"reference (downloads.create per video): {results['reference']:.2f} s "
              f"({per_video * 1000:.2f} ms/video)")  # fmt: skip
        print(f"first check: {results['first']:.2f} s, "
              f"ratio to reference {results['first'] / results['reference']:.2f}")  # fmt: skip
        print(f"check with nothing new: {results['nothing_new'] * 1000:.1f} ms "
              f"(= {results['nothing_new'] / per_video:.1f} reference videos)")  # fmt: skip
        print(f"check with 10 new videos: {results['ten_new'] * 1000:.1f} ms "
              f"(= {results['ten_new'] / per_video:.1f} reference videos)")  # fmt: skip
    finally:
        stop_process_group(redis)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
