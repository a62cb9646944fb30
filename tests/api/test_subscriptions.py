"""/api/subscriptions: subscribe a course or folder, what it enqueues, listing, refusals."""

from __future__ import annotations

from api.extensions import SERVICES
from core.base.db import database
from core.catalog import indexing
from core.catalog.sources.sync import sync_classroom
from core.subscriptions import service as subscriptions
from tests.api.envelope import assert_envelope
from tests.fakes.google import drive_file, link
from tests.services import classroom_client, drive_client, services_of

KEYS = {"id", "source", "course_id", "folder_id", "format", "created_at", "last_checked_at",
        "downloads", "template", "retention"}  # fmt: skip


def _sync_classroom(settings):
    sync_classroom(
        database(settings.database_url),
        classroom_client(settings),
        drive_client(settings),
    )


def _course_with_videos(classroom, count):
    videos = [classroom.add_file(f"aula {i}.mp4", size=1000, seed=i) for i in range(count)]
    course = classroom.add_course("Física 1")
    materials = [drive_file(v, f"aula {i}") for i, v in enumerate(videos)]
    classroom.add_coursework(course, "Semana 1", [*materials, link("https://example.invalid/n")])
    return course, videos


def _downloads(client):
    return client.get("/api/downloads?limit=200").get_json()["items"]


def test_subscribing_a_course_enqueues_each_video_once(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    course, videos = _course_with_videos(classroom, 3)
    _sync_classroom(settings)
    # One of them was downloaded (queued) before: the subscription does not bring it again.
    first = classroom.file(videos[0])
    item = client.get("/api/catalog/items", query_string={"source": "classroom"}).get_json()
    first_item = next(i for i in item["items"] if i["source_id"] == first["id"])
    assert client.post("/api/downloads", json={"item_id": first_item["id"]}).status_code == 202

    response = client.post("/api/subscriptions", json={"source": "classroom", "course_id": course})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == KEYS
    assert body["source"] == "classroom" and body["course_id"] == course
    assert body["folder_id"] is None and body["format"] is None
    assert body["downloads"] == 2 and body["last_checked_at"] is not None
    listed = _downloads(client)
    assert sorted(d["url"].split("/")[5] for d in listed) == sorted(videos)

    again = client.post("/api/subscriptions", json={"source": "classroom", "course_id": course})
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert len(_downloads(client)) == 3, "subscribing again enqueues nothing"
    assert client.get(f"/api/subscriptions/{body['id']}").get_json()["downloads"] == 2


def test_a_course_not_synced_yet_is_subscribed_and_a_sync_enqueued(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    course, _ = _course_with_videos(classroom, 2)
    response = client.post("/api/subscriptions", json={"source": "classroom", "course_id": course})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["downloads"] == 0
    tasks = client.get("/api/tasks", query_string={"name": "classroom.sync"}).get_json()["items"]
    assert len(tasks) == 1 and tasks[0]["state"] == "PENDING"
    # That sync, once run, enqueues the course's videos (as every sync does).
    _sync_classroom(settings)
    subscriptions.refresh(quiet_app.extensions[SERVICES], "classroom")
    assert len(_downloads(client)) == 2
    sub = client.get(f"/api/subscriptions/{response.get_json()['id']}").get_json()
    assert sub["downloads"] == 2


def test_list_get_and_delete_keep_the_downloads(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    ids = []
    for _ in range(3):
        course, _ = _course_with_videos(classroom, 1)
        ids.append(course)
    _sync_classroom(settings)
    created = [
        client.post("/api/subscriptions", json={"source": "classroom", "course_id": c}).get_json()
        for c in ids
    ]
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/subscriptions", query_string=query).get_json()
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [s["id"] for s in seen] == sorted((s["id"] for s in created), reverse=True)
    assert all(set(s) == KEYS for s in seen)

    gone = created[0]["id"]
    assert client.delete(f"/api/subscriptions/{gone}").status_code == 204
    assert_envelope(client.get(f"/api/subscriptions/{gone}"), 404, "not_found")
    assert_envelope(client.delete(f"/api/subscriptions/{gone}"), 404, "not_found")
    assert len(_downloads(client)) == 3, "unsubscribing keeps what was downloaded"
    assert_envelope(client.get("/api/subscriptions?cursor=%%%"), 400, "validation_error")


def test_a_folder_tree_subscription_and_its_refusals(make_app, settings, drive):
    lessons = drive.add_folder("Aulas")
    week = drive.add_folder("Semana 1", lessons)
    elsewhere = drive.add_folder("Pessoal")
    inside = [drive.add_file("a.mp4", lessons, size=500), drive.add_file("b.mp4", week, size=500)]
    drive.add_file("c.mp4", elsewhere, size=500)
    drive.add_file("notas.pdf", lessons, mime_type="application/pdf", size=10)
    scoped = settings.model_copy(update={"drive_folder_ids": [lessons]})
    indexing.rebuild_drive(services_of(scoped), drive_client(scoped))
    client = make_app(drive_folder_ids=lessons).test_client()

    response = client.post("/api/subscriptions", json={"source": "drive", "folder_id": lessons})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["folder_id"] == lessons
    assert response.get_json()["downloads"] == 2
    assert sorted(d["url"].split("/")[5] for d in _downloads(client)) == sorted(inside)

    sub_folder = client.post("/api/subscriptions", json={"source": "drive", "folder_id": week})
    assert sub_folder.status_code == 201 and sub_folder.get_json()["downloads"] == 0

    # A folder made inside the tree after the last sync: subscribed, and a Drive sync enqueued.
    later = drive.add_folder("Semana 2", week)
    fresh = client.post("/api/subscriptions", json={"source": "drive", "folder_id": later})
    assert fresh.status_code == 201 and fresh.get_json()["downloads"] == 0
    tasks = client.get("/api/tasks", query_string={"name": "catalog.sync"}).get_json()["items"]
    assert len(tasks) == 1 and tasks[0]["state"] == "PENDING"

    outside = client.post("/api/subscriptions", json={"source": "drive", "folder_id": elsewhere})
    assert_envelope(outside, 400, "validation_error")
    unknown = client.post("/api/subscriptions", json={"source": "drive", "folder_id": "nope123"})
    assert_envelope(unknown, 404, "not_found")
    course = client.post("/api/subscriptions", json={"source": "classroom", "course_id": "4242"})
    assert_envelope(course, 404, "not_found")
    for bad in (
        {"source": "drive"},
        {"source": "classroom", "folder_id": lessons},
        {"source": "youtube", "course_id": "1"},
        {"source": "drive", "folder_id": lessons, "format": "\n"},
    ):
        response = client.post("/api/subscriptions", json=bad)
        assert response.status_code in (400, 422), bad
        assert_envelope(response, response.status_code, "validation_error")
    assert len(_downloads(client)) == 2


def test_before_any_drive_sync_a_folder_under_my_drive_is_found_by_its_ancestors(
    quiet_app, settings, drive
):
    client = quiet_app.test_client()  # DRIVE_FOLDER_IDS=root, nothing catalogued yet
    deep = drive.add_folder("C", drive.add_folder("B", drive.add_folder("A")))
    response = client.post("/api/subscriptions", json={"source": "drive", "folder_id": deep})
    assert response.status_code == 201, response.get_json()
    video = drive.add_file("aula.mp4", deep, size=100)
    notes = drive.add_file("notas.pdf", deep, mime_type="application/pdf", size=10)
    item = client.post("/api/subscriptions", json={"source": "drive", "folder_id": notes})
    assert_envelope(item, 400, "validation_error")
    # The sync it enqueued, run here, catalogues the tree and enqueues the folder's video.
    quiet = quiet_app.extensions["aula.settings"]
    indexing.rebuild_drive(services_of(quiet), drive_client(quiet))
    subscriptions.refresh(quiet_app.extensions[SERVICES], "drive")
    assert [d["url"].split("/")[5] for d in _downloads(client)] == [video]
