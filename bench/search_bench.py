"""Transcript search at scale, and what subtitles add to indexing.

1. Search: bulk-loads `--items` items with one track of `--cues-per-item` cues each (1,000 x
   1,000 = 1 million cues by default; straight INSERTs, so the FTS5 triggers or the GIN index do
   their real work), starts the Procfile's gunicorn (`wsgi:app`, gunicorn.conf.py) on it and
   times `GET /api/search` one request after another on a keep-alive connection: a rare word, a
   common word, a two-word phrase, a word that also matches titles, a course filter and the
   second page. Prints p50/p99 per query and the ratio of each p99 to the p99 of
   `GET /api/health` through the same server in the same run (the floor of any request).
   Target: search p99 < 50 ms.
2. Indexing: 1,000 local videos scanned once without sidecars (the reference: stat, probe,
   tracks inside), then again with a 300-cue SRT beside each (only the sidecars are new); prints
   the seconds per 1,000 items and the ratio to the reference scan.

    .venv/bin/python bench/search_bench.py [--items 1000] [--cues-per-item 1000]
        [--repeat 300] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from core.base.db import migrate, reset_engines, session_scope  # noqa: E402
from core.base.models import CatalogItem, utcnow  # noqa: E402
from core.catalog.models import Subtitle, SubtitleCue  # noqa: E402

COMMON = ["the", "we", "and", "is", "this", "lesson", "today", "learn", "see", "how"]
RARE_WORD = "photosynthesis"


def vocabulary(size: int = 20_000) -> list[str]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(size)]


def _migration() -> Any:
    import importlib.util

    path = ROOT / "migrations" / "versions" / "0014_subtitles_and_search.py"
    spec = importlib.util.spec_from_file_location("m0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def index_after(url: str) -> Iterator[None]:
    """Bulk loading: the full-text index is built once at the end (as 0014 defines it), not
    row by row."""
    m = _migration()
    postgres = url.startswith("postgresql")
    with session_scope(url) as session:
        session.execute(text(f"DROP INDEX {m.PG_INDEX}" if postgres else
                             "DROP TRIGGER subtitle_cues_ai"))  # fmt: skip
    yield
    start = time.perf_counter()
    with session_scope(url) as session:
        if postgres:
            session.execute(text(f"CREATE INDEX {m.PG_INDEX} ON subtitle_cues USING gin"
                                 f" ({m.PG_COLUMN})"))  # fmt: skip
            session.execute(text("ANALYZE"))  # as autovacuum would have by then
        else:
            session.execute(text(f"INSERT INTO {m.FTS}({m.FTS}) VALUES ('rebuild')"))
            session.execute(text(m.SQLITE_FTS[1]))
    print(f"  full-text index built in {time.perf_counter() - start:.0f} s")


def load(url: str, items: int, per_item: int) -> None:
    """Items, one track each, and their cues: straight INSERTs in batches."""
    words = vocabulary()
    rng = random.Random(11)
    now = utcnow()
    with session_scope(url) as session:
        session.execute(
            insert(CatalogItem),
            [
                {"source": "local", "source_id": f"c{i % 20}/lesson {i}.mp4",
                 "title": f"lesson {i} {words[i]}", "title_key": f"lesson {i} {words[i]}",
                 "is_video": True, "course_id": f"course{i % 20}", "extra": {},
                 "thumbnail_state": "pending", "seen_at": now, "created_at": now,
                 "updated_at": now, "duration_s": per_item * 3.0}
                for i in range(items)
            ],
        )  # fmt: skip
        ids = [row[0] for row in session.execute(text("SELECT id FROM catalog_items ORDER BY id"))]
        session.execute(
            insert(Subtitle),
            [
                {"item_id": item_id, "source": "sidecar", "origin": f"s{item_id}.srt",
                 "fingerprint": "", "language": "en", "label": "English", "created_at": now}
                for item_id in ids
            ],
        )  # fmt: skip
        tracks = dict(session.execute(text("SELECT item_id, id FROM subtitles")).all())
    with index_after(url):
        _cues(url, ids, tracks, per_item, words, rng)


def _cues(url: str, ids: list[int], tracks: dict[int, int], per_item: int, words: list[str],
          rng: random.Random) -> None:  # fmt: skip
    for n, item_id in enumerate(ids):
        rows = []
        for k in range(per_item):
            said = [rng.choice(COMMON), *rng.choices(words, k=7)]
            if (n * per_item + k) % 100_000 == 0:
                said.append(RARE_WORD)  # ten cues in a million
            line = " ".join(said)
            rows.append({"subtitle_id": tracks[item_id], "item_id": item_id, "start_s": k * 3.0,
                         "end_s": k * 3.0 + 2.5, "markup": line, "text": line})  # fmt: skip
        with session_scope(url) as session:
            session.execute(SubtitleCue.__table__.insert(), rows)
        if n % 100 == 99:
            print(f"  loaded {(n + 1) * per_item:,} cues", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    import subprocess  # nosec B404 - the bench starts gunicorn

    from tests.helpers import stop_process_group

    args = [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "wsgi:app"]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(  # nosec B603
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/health")
                if conn.getresponse().status == 200:
                    break
            time.sleep(0.2)
        yield
    finally:
        stop_process_group(proc)


def timed(port: int, path: str, repeat: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - start) * 1000)
        assert response.status == 200, (path, response.status)
    conn.close()
    return sorted(times)


def p99(times: list[float]) -> float:
    return times[max(0, int(len(times) * 0.99) - 1)]


def search_run(name: str, url: str, args: argparse.Namespace, tmp: Path) -> None:
    from tests.helpers import start_redis, stop_process_group

    migrate(url)
    start = time.perf_counter()
    load(url, args.items, args.cues_per_item)
    cues = args.items * args.cues_per_item
    print(f"\n{name}: loaded {cues:,} cues in {time.perf_counter() - start:.0f} s")
    redis_process, redis_url = start_redis(tmp / f"redis-{name}")
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "DATA_DIR": str(tmp),
           "DOWNLOAD_DIR": str(tmp / "downloads"), "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING",
           "MIGRATE_ON_START": "false",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           }  # fmt: skip
    port = free_port()
    try:
        with gunicorn(env, port, tmp / f"web-{name}.log"):
            floor = p99(timed(port, "/api/health", args.repeat))
            listing = timed(port, "/api/catalog/items?limit=50", args.repeat)
            first = timed(port, "/api/search?q=lesson&limit=50", 1)  # noqa: F841 - warm up
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/search?q=lesson&limit=50")
            import json

            cursor = json.loads(conn.getresponse().read())["next_cursor"]
            conn.close()
            queries = {
                "rare word": f"/api/search?q={RARE_WORD}",
                "common word": "/api/search?q=today",
                "two words": "/api/search?q=learn%20today",
                "titles+cues": "/api/search?q=lesson",
                "course filter": "/api/search?q=today&course_id=course7",
                "second page": f"/api/search?q=lesson&limit=50&cursor={cursor}",
            }
            print(f"  GET /api/health p99 {floor:6.2f} ms (the reference); for context, GET"
                  f" /api/catalog/items?limit=50 p50 {statistics.median(listing):.2f} ms"
                  f" p99 {p99(listing):.2f} ms")  # fmt: skip
            for label, path in queries.items():
                times = timed(port, path, args.repeat)
                print(f"  {label:14s} p50 {statistics.median(times):6.2f} ms  p99 "
                      f"{p99(times):6.2f} ms  ratio to health p99 {p99(times) / floor:5.1f}"
                      f"  (target p99 < 50 ms)")  # fmt: skip
    finally:
        stop_process_group(redis_process)


def indexing_run(tmp: Path, count: int = 1000) -> None:
    from core.base.settings import Settings
    from core.catalog.local_scan import rebuild_local
    from tests.media import make_video
    from tests.services import services_of

    root = tmp / "media"
    sample = make_video(tmp / "sample.webm", seconds=2, codec="libvpx").read_bytes()
    for i in range(count):
        (root / f"c{i % 20}").mkdir(parents=True, exist_ok=True)
        (root / f"c{i % 20}" / f"lesson {i}.webm").write_bytes(sample)
    url = f"sqlite:///{tmp / 'index.db'}"
    migrate(url)
    redis_process = None
    settings = Settings(database_url=url, media_roots=str(root), data_dir=str(tmp),
                        redis_url="redis://127.0.0.1:1/0")  # fmt: skip
    services = services_of(settings)
    start = time.perf_counter()
    rebuild_local(services)
    reference = time.perf_counter() - start
    srt = "".join(
        f"{k + 1}\n00:{k * 3 // 60:02d}:{k * 3 % 60:02d},000 --> 00:{k * 3 // 60:02d}:"
        f"{k * 3 % 60:02d},900\nline {k} of what the teacher <i>said</i>\n\n"
        for k in range(300)
    )
    for i in range(count):
        (root / f"c{i % 20}" / f"lesson {i}.en.srt").write_text(srt)
    start = time.perf_counter()
    rebuild_local(services)
    with_subs = time.perf_counter() - start
    scale = 1000 / count
    print(f"\nindexing {count} local videos: first scan {reference * scale:.2f} s per 1,000 items"
          f" (reference); sidecars (300 cues each) added: {with_subs * scale:.2f} s per 1,000"
          f" items, ratio {with_subs / reference:.2f} to the first scan")  # fmt: skip
    del redis_process


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--cues-per-item", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL URL; a scratch schema is created in it")
    parser.add_argument("--skip-indexing", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true", help="search on PostgreSQL only")
    parser.add_argument("--skip-search", action="store_true", help="indexing only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if not args.skip_sqlite and not args.skip_search:
            search_run("SQLite", f"sqlite:///{tmp / 'search.db'}", args, tmp)
        if args.postgres and not args.skip_search:
            base = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(base)
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                search_run("PostgreSQL", f"{base}?options=-csearch_path%3D{schema}", args, tmp)
            finally:
                reset_engines()
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        if not args.skip_indexing:
            indexing_run(tmp)
        shutil.rmtree(tmp / "media", ignore_errors=True)


if __name__ == "__main__":
    main()
