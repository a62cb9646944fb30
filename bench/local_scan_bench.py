"""Local rescans at scale: 10,000 small videos, indexed once, then rescanned as beat does.

Lays out `--files` real (tiny) videos in course/section folders, then times through
`core.catalog.indexing.rebuild_local` (what the beat-driven `catalog.rebuild source=local` runs):
- the first full index (every file probed with PyAV and written);
- a rescan with nothing changed (one stat per file, nothing probed or written);
- a rescan with 10 files changed (those 10 probed and written).
Each is printed in seconds and as a ratio against a reference measured in the same run: a bare
`os.walk` plus `os.stat` of the same tree (the least any rescan must do), best of 3.

    .venv/bin/python bench/local_scan_bench.py [--files 10000] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from api.extensions import make_celery_client
from core.base.db import migrate, reset_engines
from core.base.services import Services
from core.base.settings import load_settings
from core.catalog.indexing import rebuild_local
from tests.media import make_video

PER_SECTION = 20
SECTIONS = 5


def lay_out(root: Path, count: int, work: Path) -> list[Path]:
    """`count` copies of one tiny video, as Course NNN/Section N/Lesson NN.mp4."""
    sample = make_video(work / "sample.mp4", seconds=0.3, size=(32, 24))
    paths = []
    for index in range(count):
        course, rest = divmod(index, PER_SECTION * SECTIONS)
        section, lesson = divmod(rest, PER_SECTION)
        path = root / f"Course {course:03d}" / f"Section {section}" / f"Lesson {lesson:02d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, path)
        paths.append(path)
    return paths


def bare_walk(root: Path) -> float:
    """The reference: visit every file with os.walk and stat it, nothing else."""
    start = time.perf_counter()
    count = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(folder, name))
            count += 1
    return time.perf_counter() - start


def timed(services: Services) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    result = rebuild_local(services)
    return time.perf_counter() - start, result


def postgres_url(base: str) -> tuple[str, object]:
    base = base.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", (admin, schema)


def run(label: str, db_url: str, root: Path, paths: list[Path], work: Path) -> None:
    migrate(db_url)
    settings = load_settings(
        database_url=db_url, media_roots=str(root), data_dir=str(work / "var"),
        redis_url="redis://127.0.0.1:1/0",  # never used: a rescan talks to no broker
    )  # fmt: skip
    services = Services.build(settings, broker=make_celery_client(settings))
    reference = min(bare_walk(root) for _ in range(3))
    full, first = timed(services)
    unchanged, second = timed(services)
    changed_sample = make_video(work / "changed.mp4", seconds=0.6, size=(32, 24))
    for path in paths[:: max(1, len(paths) // 10)][:10]:
        shutil.copyfile(changed_sample, path)
    ten, third = timed(services)
    assert first["changed"] == len(paths) and second["changed"] == 0, (first, second)
    assert third["changed"] == 10, third
    print(f"{label}: {len(paths)} files; reference os.walk+stat {reference:.3f} s")
    for name, seconds in (("first full index", full), ("rescan, nothing changed", unchanged),
                          ("rescan, 10 changed", ten)):  # fmt: skip
        print(f"  {name:<26} {seconds:8.3f} s  {seconds / reference:8.1f}x the reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--postgres", help="also run on this PostgreSQL (a schema is made)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "media"
        started = time.perf_counter()
        paths = lay_out(root, args.files, work)
        print(f"laid out {len(paths)} files in {time.perf_counter() - started:.1f} s")
        run("SQLite", f"sqlite:///{work / 'aula.db'}", root, paths, work)
        if args.postgres:
            reset_engines()
            paths = lay_out(work / "media2", args.files, work)
            url, (admin, schema) = postgres_url(args.postgres)
            try:
                run("PostgreSQL", url, work / "media2", paths, work)
            finally:
                reset_engines()
                with admin.begin() as conn:  # type: ignore[attr-defined]
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
