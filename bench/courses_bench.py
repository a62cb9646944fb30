"""Courses at scale through gunicorn: the course page of a 2,000-lesson course among 100 courses,
the list of courses, and progress writes, against GET /api/health in the same run.

Seeds a migrated database (SQLite, or --postgres URL) with 100 local folder courses (one of
2,000 lessons in 20 sections with a PDF beside every tenth lesson, 99 of 20 lessons) and some
progress, starts the Procfile's web command (gunicorn, gunicorn.conf.py, 2 workers) and a private
redis-server once per --cache-sizes (COURSE_CACHE_SIZE; 0 is off), then drives each case with
wrk (one thread, --clients keep-alive connections, --seconds; a Lua script for the PUT's JSON
body and its varied lessons) and prints p50/p99, requests per second, the p99 ratio to
/api/health and the load average after each case. wrk rather than Python clients: those
fought gunicorn for the same cores and parsed the 1.2 MB answers, which inflated even health's
p99. Targets: course page p99 < 100 ms, progress write p99 < 10 ms. Each save is counted under
RATE_LIMIT_MUTATIONS in Redis, as by default (a limit wrk does not reach). With 2 workers and 4
connections, the kernel sometimes gives all four connections to one worker (about one run in
eight): that run's requests per second are about half the others'.

    .venv/bin/python bench/courses_bench.py [--seconds 10] [--clients 4] [--postgres URL]
        [--only put] [--cache-sizes 0] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BIG_SECTIONS, BIG_PER_SECTION = 20, 100  # 2,000 lessons
COURSES, SMALL_LESSONS = 100, 20


def _items(root: str) -> tuple[list[dict], list[dict]]:
    """Catalog rows of every course (videos and PDFs), and their folders."""
    items, folders = [], []
    now = datetime.now(UTC)
    for course in range(COURSES):
        name = f"Course {course:03d}"
        sections, per = (BIG_SECTIONS, BIG_PER_SECTION) if course == 0 else (2, SMALL_LESSONS // 2)
        for section in range(1, sections + 1):
            folder = f"{name}/Section {section}"
            folders.append({"source": "local", "source_id": folder, "name": f"Section {section}",
                            "parent_id": name, "seen_at": now})  # fmt: skip
            for lesson in range(1, per + 1):
                files = [f"Lesson {lesson}.mp4"] + (
                    [f"Lesson {lesson}.pdf"] if lesson % 10 == 0 else []
                )
                for file in files:
                    video = file.endswith(".mp4")
                    items.append({
                        "source": "local", "source_id": f"{folder}/{file}", "title": file[:-4],
                        "mime_type": "video/mp4" if video else "application/pdf",
                        "is_video": video, "size_bytes": 1000,
                        "duration_s": 600.0 if video else None,
                        "modified_at": now, "folder_id": folder, "seen_at": now,
                        "extra": {"root": root, "mtime_ns": 1},
                    })  # fmt: skip
    return items, folders


def seed(url: str, root: str) -> tuple[int, list[int]]:
    """The database: courses, items and progress; (the big course's id, its first 200 lessons)."""
    from sqlalchemy import select

    from core.base.db import migrate, session_scope
    from core.catalog import store
    from core.catalog.courses.discovery import discover_local
    from core.catalog.courses.models import IMPLICIT_USER, CourseEntry, LessonProgress

    migrate(url)
    items, folders = _items(root)
    with session_scope(url) as session:
        store.upsert_items(session, items)
        store.upsert_folders(session, folders)
        discover_local(session)
    with session_scope(url) as session:
        big = session.scalars(select(CourseEntry.id).where(CourseEntry.key == "Course 000")).one()
        ids = list(
            session.scalars(
                store.items_query(source="local", videos_only=True)
                .where(store.CatalogItem.source_id.like("Course 000/%"))
                .with_only_columns(store.CatalogItem.id)
                .order_by(store.CatalogItem.id)
            )
        )
        now = datetime.now(UTC)
        session.add_all(
            LessonProgress(
                user_id=IMPLICIT_USER,
                item_id=i,
                position_s=600,
                duration_s=600,
                watched=True,
                updated_at=now,
            )
            for i in ids[:500]
        )
    return big, ids[500:700]


@contextlib.contextmanager
def web(env: dict[str, str], log: Path) -> Iterator[str]:
    """The Procfile's web command with `env`; its base URL once it answers."""
    from tests.helpers import free_port, stop_process_group

    port = free_port()
    args = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--config",
        "gunicorn.conf.py",
        "wsgi:app",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env={**env, "PORT": str(port), "WEB_ADDRESS": "127.0.0.1"},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/api/health", timeout=5).ok:
                    break
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn exited: see {log}")
            time.sleep(0.3)
        yield base
    finally:
        stop_process_group(proc)


# wrk prints its own percentiles rounded; done() hands over the exact ones (microseconds).
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d\\n", latency:percentile(50),
    latency:percentile(99), summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def put_script(ids: list[int]) -> str:
    """PUT /api/progress/{id} with a JSON body, cycling through `ids` and positions."""
    listed = ",".join(str(i) for i in ids)
    return (
        f"""
local ids = {{{listed}}}
local n = 0
request = function()
  n = n + 1
  local body = string.format('{{"position_s": %d}}', 10 + n % 500)
  return wrk.format("PUT", "/api/progress/" .. ids[n % #ids + 1],
                    {{["Content-Type"] = "application/json"}}, body)
end
"""
        + DONE
    )


def wrk(url: str, script: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """`wrk --latency -t1 -c{clients}` on `url` for --seconds: p50 and p99 in ms, requests per
    second; exits if any answer was not 2xx/3xx or a socket failed."""
    lua = tmp / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    lua.write_text(script)
    command = ["wrk", "--latency", "-t1", f"-c{args.clients}", f"-d{args.seconds}s",
               "-s", str(lua), url]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    p50, p99, count, bad, failed = (int(value) for value in line.split()[1:])
    if bad or failed:
        raise SystemExit(f"{url}: {bad} answers not 2xx/3xx, {failed} socket errors\n{out}")
    return {"p50": p50 / 1000, "p99": p99 / 1000, "rps": count / args.seconds}


def load() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def cache_estimate(url: str, root: str, big: int, redis_url: str, count: int) -> None:
    """The course page in process, same run: built from the database (COURSE_CACHE_SIZE=0),
    answered from this process's copy (api/course_cache.py), and what a Redis cache of course
    reads (seed 002, 4.4) would cost on a hit (GET the course's JSON without progress, decode
    it, lay the caller's progress over it, encode)."""
    import orjson
    import redis

    from api import courses, create_app
    from api.course_json import json_response
    from core.base.db import database
    from core.catalog.courses import service
    from core.catalog.courses.models import IMPLICIT_USER
    from core.catalog.courses.progress import of_items

    app = create_app({"database_url": url, "media_roots": root, "log_level": "WARNING"})
    cache, db = redis.Redis.from_url(redis_url), database(url)
    with app.test_request_context():
        body = courses.detail(service.get_course(db, big, IMPLICIT_USER))
        cache.set("bench:course", orjson.dumps(body))

        def built() -> None:  # what the view does with the cache off
            json_response(courses.detail(service.get_course(db, big, IMPLICIT_USER)))

        def kept() -> None:  # what it does with the cache on, once the copy is made
            courses._cached_page(big, IMPLICIT_USER, 8)

        def hit() -> None:
            cached = orjson.loads(cache.get("bench:course") or b"{}")
            lessons = [lesson for section in cached["sections"] for lesson in section["lessons"]]
            with db.session() as session:
                rows = of_items(session, IMPLICIT_USER, [lesson["id"] for lesson in lessons])
            for lesson in lessons:
                row = rows.get(lesson["id"])
                if row is not None:
                    lesson["progress"] = {"item_id": row.item_id, "position_s": row.position_s,
                                          "duration_s": row.duration_s, "watched": row.watched,
                                          "updated_at": row.updated_at.isoformat()}  # fmt: skip
            orjson.dumps(cached)

        results = {}
        kept()
        paths = (("built from the database", built), ("this process's copy (hit)", kept),
                 ("Redis cache hit (estimate)", hit))  # fmt: skip
        for label, call in paths:
            times = []
            for _ in range(count):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
            results[label] = times
    print(f"\nCourse page (2,000 lessons) in process, {count} times each ({load()}):")
    print("| path | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for label, times in results.items():
        print(f"| {label} | {statistics.median(times):.1f} | {p(times, 0.99):.1f} |")


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


HEALTH = "GET /api/health (reference)"
# Every save is counted in Redis as with the default limit (600/minute per address), which wrk's
# one address would pass within a second: the same cost, a limit it does not reach.
RATE_LIMIT = "100000000/minute"
ONLY = {"course": ("GET /api/courses/{id} (2,000 lessons)",),
        "list": ("GET /api/courses (50 of 100)",),
        "put": ("PUT /api/progress/{id}",)}  # fmt: skip
TARGETS = {"GET /api/courses/{id} (2,000 lessons)": "p99 < 100 ms",
           "PUT /api/progress/{id}": "p99 < 10 ms"}  # fmt: skip


def run(name: str, url: str, args: argparse.Namespace, tmp: Path, redis_url: str) -> None:
    root = str(tmp / "media")
    big, lessons = seed(url, root)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "DATA_DIR": str(tmp),
           "DOWNLOAD_DIR": str(tmp / "downloads"), "MEDIA_ROOTS": root, "WEB_CONCURRENCY": "2",
           "LOG_LEVEL": "WARNING", "RATE_LIMIT_MUTATIONS": RATE_LIMIT}  # fmt: skip
    print(f"\n{name}: wrk -t1 -c{args.clients} -d{args.seconds}s per case, 2 gunicorn workers")
    print("| case | cache | p50 ms | p99 ms | req/s | p99 / health p99 | target | load |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for size in args.cache_sizes:
        results: dict[str, dict[str, float]] = {}
        loads: dict[str, str] = {}
        with web({**env, "COURSE_CACHE_SIZE": str(size)}, tmp / f"web-{size}.log") as base:
            cases = {
                HEALTH: (f"{base}/api/health", DONE),
                "GET /api/courses/{id} (2,000 lessons)": (f"{base}/api/courses/{big}", DONE),
                "GET /api/courses (50 of 100)": (f"{base}/api/courses?limit=50", DONE),
                "PUT /api/progress/{id}": (base, put_script(lessons)),
            }
            cases = {k: v for k, v in cases.items() if k in args.cases}
            for label, (target, script) in cases.items():
                for _ in range(8):  # every worker's connections, statements and copies warm
                    requests.get(f"{base}/api/courses/{big}", timeout=30).raise_for_status()
                results[label] = wrk(target, script, args, tmp)
                loads[label] = load()
        reference = results[HEALTH]["p99"]
        state = f"{size} (on)" if size else "0 (off)"
        for label, got in results.items():
            cells = f"{got['p50']:.1f} | {got['p99']:.1f} | {got['rps']:.0f}"
            ratio = got["p99"] / reference
            print(f"| {label} | {state} | {cells} | {ratio:.1f} | {TARGETS.get(label, '')} "
                  f"| {loads[label]} |")  # fmt: skip
    if "course" in args.only:
        cache_estimate(url, root, big, redis_url, max(20, args.seconds * 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk's duration per case")
    parser.add_argument("--clients", type=int, default=4, help="wrk's connections (one thread)")
    parser.add_argument(
        "--cache-sizes", type=int, nargs="+", default=[0, 8],
        help="COURSE_CACHE_SIZE of each run of the web server (0: off)",
    )  # fmt: skip
    parser.add_argument("--postgres", help="a PostgreSQL URL; a scratch schema is made in it")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(ONLY), default=sorted(ONLY),
        help="the cases to run besides GET /api/health (default: all; `put` alone: one cache"
        " size is enough, the PUT does not read the course cache)",
    )  # fmt: skip
    parser.add_argument("--no-sqlite", action="store_true", help="run on --postgres only")
    args = parser.parse_args()
    args.cases = {HEALTH, *(label for key in args.only for label in ONLY[key])}
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    from sqlalchemy import create_engine, text

    from tests.helpers import start_redis, stop_process_group

    with tempfile.TemporaryDirectory(prefix="aula-courses-") as folder:
        tmp = Path(folder)
        redis_process, redis_url = start_redis(tmp / "redis")
        try:
            if not args.no_sqlite:
                run("SQLite", f"sqlite:///{tmp / 'aula.db'}", args, tmp, redis_url)
            if args.postgres:
                schema = f"bench_{uuid.uuid4().hex[:8]}"
                admin = create_engine(
                    args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
                )
                with admin.begin() as conn:
                    conn.execute(text(f"CREATE SCHEMA {schema}"))
                try:
                    run(
                        "PostgreSQL",
                        f"{args.postgres}?options=-csearch_path%3D{schema}",
                        args,
                        tmp,
                        redis_url,
                    )
                finally:
                    with admin.begin() as conn:
                        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        finally:
            stop_process_group(redis_process)


if __name__ == "__main__":
    main()
