"""Catalog at scale: ingest 100,000 Drive entries, then time one page of listing.

Prints, for SQLite and (with --postgres URL) PostgreSQL:
- ingest items/s through `core.catalog.store.upsert_items` (the rebuild's write path), and the ratio
  against a plain executemany INSERT of the same rows into a bare table (the database's own
  speed, measured in the same run);
- p50/p99 of one page (limit 50) of GET /api/catalog/items through the Flask app in-process, for
  the first page, pages deep in the cursor walk, a folder filter and a title search.

    .venv/bin/python bench/catalog_bench.py [--items 100000] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, text

from api import create_app
from core.base.db import migrate, reset_engines, session_scope
from core.base.models import CatalogItem
from core.catalog import store as catalog

WORDS = "aula matemática história física química biologia revisão prova exercício turma".split()  # noqa: SIM905


def rows(count: int) -> list[dict]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "source": "drive",
            "source_id": f"file{i:07d}",
            "title": f"{WORDS[i % 10]} {WORDS[(i // 10) % 10]} {i}",
            "mime_type": "video/mp4",
            "size_bytes": 1_000_000 + i,
            "duration_s": 60.0 + i % 3000,
            "modified_at": base + timedelta(seconds=i),
            "folder_id": f"folder{i % 200:03d}",
            "checksum": f"{i:032x}",
            "thumbnail_link": f"https://example.invalid/t/{i}",
        }
        for i in range(count)
    ]


def ingest(url: str, data: list[dict]) -> float:
    start = time.perf_counter()
    for offset in range(0, len(data), 1000):  # one Drive page at a time, as a rebuild does
        with session_scope(url) as session:
            catalog.upsert_items(session, [dict(r) for r in data[offset : offset + 1000]])
    return len(data) / (time.perf_counter() - start)


def reference(url: str, data: list[dict]) -> float:
    engine = create_engine(url)
    meta = MetaData()
    # The same columns as catalog_items, no indexes, no conflict handling: a plain bulk INSERT.
    table = Table(
        f"bench_ref_{uuid.uuid4().hex[:6]}",
        meta,
        Column("id", Integer, primary_key=True),
        *[Column(c.name, c.type) for c in CatalogItem.__table__.columns if c.name != "id"],
    )
    meta.create_all(engine)
    now = datetime.now(UTC)
    plain = [
        {**r, "title_key": r["title"].lower(), "is_video": True, "extra": {}, "seen_at": now,
         "created_at": now, "updated_at": now, "thumbnail_state": "pending", "url": None,
         "course_id": None}
        for r in data
    ]  # fmt: skip
    start = time.perf_counter()
    for offset in range(0, len(plain), 1000):
        with engine.begin() as conn:
            conn.execute(table.insert(), plain[offset : offset + 1000])
    rate = len(data) / (time.perf_counter() - start)
    meta.drop_all(engine)
    engine.dispose()
    return rate


def page_times(client, path: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:200]
    return times


def listing(url: str, repeat: int, count: int) -> dict[str, list[float]]:
    app = create_app({"database_url": url, "log_level": "WARNING"})
    client = app.test_client()
    deep = None
    cursor_path = "/api/catalog/items?limit=200"
    for _ in range(max(1, count // 1000)):  # walk a fifth of the rows in for a deep cursor
        body = client.get(cursor_path).get_json()
        deep = body["next_cursor"]
        cursor_path = f"/api/catalog/items?limit=200&cursor={deep}"
    paths = {
        "first page": "/api/catalog/items?limit=50",
        "deep cursor": f"/api/catalog/items?limit=50&cursor={deep}",
        "folder filter": "/api/catalog/items?limit=50&source=drive&folder_id=folder042",
        "title search": "/api/catalog/items?limit=50&q=historia%20prova",
    }
    return {label: page_times(client, path, repeat) for label, path in paths.items()}


def run(name: str, url: str, count: int, repeat: int) -> None:
    migrate(url)
    data = rows(count)
    ours = ingest(url, data)
    ref = reference(url, data)
    print(
        f"\n{name}: ingest {count} items: {ours:,.0f} items/s; plain INSERT {ref:,.0f} rows/s; "
        f"ratio {ours / ref:.2f} (target: >= 5,000 items/s)"
    )
    for label, times in listing(url, repeat, len(data)).items():
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(
            f"  {label:14s} p50 {statistics.median(times):6.2f} ms  p99 {p99:6.2f} ms "
            f"(target p99 < 20 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL URL; a scratch schema is created in it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args.items, args.repeat)
    if args.postgres:
        base = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            run("PostgreSQL", f"{base}?options=-csearch_path%3D{schema}", args.items, args.repeat)
        finally:
            reset_engines()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
