"""Retention per subscription (CONTRACT 8.5): keep_latest and delete_watched_after_days prune
finished downloads (file gone, state pruned, file null), never a protected one, every deletion
logged and audited, run by the cleanup task; a subscription never fetches a pruned one again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select, text

from api.extensions import SERVICES
from core.base.db import database
from core.base.models import CatalogItem, Download
from core.catalog.sources.sync import sync_classroom
from core.downloads import state
from core.ops import maintenance
from core.people.models import AuditEntry
from core.subscriptions import retention
from core.subscriptions import service as subscriptions
from tests.fakes.google import drive_file
from tests.services import classroom_client, drive_client

DAY = timedelta(days=1)
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def _subscribed(client, settings, classroom, count, rule):
    """A course of `count` videos published a day apart (oldest first), subscribed with `rule`;
    every download finished with a file (and an .nfo) on disk. {title: download}."""
    videos = [classroom.add_file(f"aula {i}.mp4", size=1000, seed=i) for i in range(count)]
    course = classroom.add_course("Retenção")
    for index, video in enumerate(videos):
        classroom.add_coursework(course, f"Semana {index}", [drive_file(video, f"Aula {index}")])
    db = database(settings.database_url)
    sync_classroom(db, classroom_client(settings), drive_client(settings))
    with db.session() as session:
        for item in session.scalars(select(CatalogItem).where(CatalogItem.is_video)):
            item.modified_at = NOW - DAY * (10 - int(item.title.split()[-1]))
    body = client.post(
        "/api/subscriptions", json={"source": "classroom", "course_id": course, "retention": rule}
    ).get_json()
    rows = {}
    with db.session() as session:
        for row in session.scalars(select(Download)):
            title = session.get(CatalogItem, row.item_id).title
            path = settings.download_dir / "ret" / f"{title}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"video")
            path.with_suffix(".nfo").write_text("<episodedetails/>")
            state.succeed(session, row.id, file_path=f"ret/{title}.mp4", size=5, sha256="0" * 64)
            rows[title] = row.id
    return body["id"], rows


def _states(db):
    with db.session() as session:
        return {row.id: (row.state, row.file_path) for row in session.scalars(select(Download))}


def test_keep_latest_prunes_the_oldest_never_a_protected_one(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    _sub, rows = _subscribed(client, settings, classroom, 4, {"keep_latest": 2})
    protected = client.patch(f"/api/downloads/{rows['Aula 0']}", json={"protected": True})
    assert protected.status_code == 200 and protected.get_json()["protected"] is True
    db = database(settings.database_url)
    services = quiet_app.extensions[SERVICES]
    assert retention.apply(services, now=NOW) == 1, "Aula 1 only: Aula 0 is protected"
    states = _states(db)
    assert states[rows["Aula 1"]] == ("pruned", None)
    for kept in ("Aula 0", "Aula 2", "Aula 3"):
        assert states[rows[kept]][0] == "succeeded"
    assert not (settings.download_dir / "ret" / "Aula 1.mp4").exists()
    assert not (settings.download_dir / "ret" / "Aula 1.nfo").exists()
    assert (settings.download_dir / "ret" / "Aula 0.mp4").exists()
    body = client.get(f"/api/downloads/{rows['Aula 1']}").get_json()
    assert body["state"] == "pruned" and body["file"] is None
    assert client.get("/api/downloads?state=pruned").get_json()["items"][0]["id"] == rows["Aula 1"]
    with db.session() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "download.pruned"))
        assert entry.actor == "retention" and "Aula 1.mp4" in entry.target
    assert retention.apply(services, now=NOW) == 0, "idempotent"
    # A pruned download is final: no retry, nothing to protect.
    assert client.post(f"/api/downloads/{rows['Aula 1']}/retry").status_code == 409
    assert (
        client.patch(f"/api/downloads/{rows['Aula 1']}", json={"protected": True}).status_code
        == 409
    )


def test_a_subscription_never_fetches_a_pruned_download_again(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    sub_id, _rows = _subscribed(client, settings, classroom, 3, {"keep_latest": 1})
    services = quiet_app.extensions[SERVICES]
    assert maintenance.cleanup(services)["downloads_pruned"] == 2, "the cleanup task runs it"
    sync_classroom(
        database(settings.database_url), classroom_client(settings), drive_client(settings)
    )
    assert subscriptions.check(services, sub_id) == []
    assert len(client.get("/api/downloads?limit=200").get_json()["items"]) == 3


def test_watched_downloads_go_after_their_days(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    _sub, rows = _subscribed(
        client, settings, classroom, 3, {"delete_watched_after_days": 7, "keep_latest": None}
    )
    db = database(settings.database_url)
    with db.session() as session:
        item_of = {row.id: row.item_id for row in session.scalars(select(Download))}
    seen = {item_of[rows["Aula 0"]]: NOW - 8 * DAY, item_of[rows["Aula 1"]]: NOW - 6 * DAY}

    def watched(_session, item_ids):
        return {item: at for item, at in seen.items() if item in item_ids}

    assert retention.apply(quiet_app.extensions[SERVICES], now=NOW, watched=watched) == 1
    states = _states(db)
    assert states[rows["Aula 0"]][0] == "pruned"
    assert states[rows["Aula 1"]][0] == states[rows["Aula 2"]][0] == "succeeded"


def test_watched_is_read_from_the_progress_table_when_the_courses_work_made_it(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'progress.db'}")
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE lesson_progress (user_id INTEGER, item_id INTEGER, position_s FLOAT,"
            " duration_s FLOAT, watched BOOLEAN, updated_at DATETIME)"
        ))  # fmt: skip
        rows = [(1, 5, 1, "2026-12-01 10:00:00"), (2, 5, 1, "2026-12-03 10:00:00"),
                (1, 6, 0, "2026-12-04 10:00:00"), (1, 7, 1, "2026-12-02 10:00:00")]  # fmt: skip
        for user, item, watched, at in rows:
            connection.execute(
                text("INSERT INTO lesson_progress VALUES (:u, :i, 0, 100, :w, :at)"),
                {"u": user, "i": item, "w": watched, "at": at},
            )
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        found = retention.progress_watched(session, [5, 6, 8])
    assert found == {5: datetime(2026, 12, 3, 10)}, "watched by anyone, the latest mark"
    empty = create_engine(f"sqlite:///{tmp_path / 'none.db'}")
    with Session(empty) as session:
        assert retention.progress_watched(session, [5]) == {}, "no progress table: none watched"
