"""/api/classroom: a sync through the API and a real worker, the courses list, refusals."""

from __future__ import annotations

from core.base.db import database
from core.catalog.sources.sync import sync_classroom
from tests.api.envelope import assert_envelope
from tests.fakes.google import drive_file, link, youtube
from tests.helpers import wait_for
from tests.services import classroom_client, drive_client

COURSE_KEYS = {"id", "name", "section", "state", "item_count", "connection_id"}


def _finish(client, task_id):
    def done():
        body = client.get(f"/api/tasks/{task_id}").get_json()
        return body if body["state"] in ("SUCCESS", "FAILURE") else None

    return wait_for(done, 60, what="the task")


def _walk(client, limit):
    courses, cursor = [], None
    for _ in range(50):
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/classroom/courses", query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"} and len(body["items"]) <= limit
        courses += body["items"]
        if not (cursor := body["next_cursor"]):
            return courses
    raise AssertionError("the cursor walk does not end")


def test_sync_on_the_worker_then_the_courses_and_their_items(client, settings, classroom, worker):
    video = classroom.add_file("aula.mp4")
    course = classroom.add_course("Geografia", section="9º ano")
    classroom.add_coursework(course, "Mapas", [drive_file(video, "Aula"), youtube("g1", "Relevo")])
    classroom.add_course_material(course, "Leitura", [link("https://example.org/clima", "Clima")])
    idle = classroom.add_course("Sem nada", state="ARCHIVED")

    response = client.post("/api/classroom/sync")
    assert response.status_code == 202
    task_id = response.get_json()["task_id"]
    assert response.get_json()["status_url"] == f"/api/tasks/{task_id}"
    body = _finish(client, task_id)
    assert (body["state"], body["name"]) == ("SUCCESS", "classroom.sync"), body
    assert body["result"]["items"] == 3 and body["result"]["videos"] == 2
    assert body["progress"]["percent"] == 100.0

    items = client.get(f"/api/catalog/items?source=classroom&course_id={course}").get_json()
    by_id = {item["source_id"]: item for item in items["items"]}
    assert set(by_id) == {video, "https://www.youtube.com/watch?v=g1", "https://example.org/clima"}
    assert by_id[video]["is_video"] and by_id[video]["stream_url"]
    assert by_id["https://www.youtube.com/watch?v=g1"]["stream_url"] is None  # download first
    assert not by_id["https://example.org/clima"]["is_video"]
    courses = {c["id"]: c for c in _walk(client, 50)}
    assert courses[course] == {
        "id": course, "name": "Geografia", "section": "9º ano", "state": "ACTIVE", "item_count": 3,
        "connection_id": None,  # synced through the by-hand credential, no connection
    }  # fmt: skip
    assert courses[idle]["item_count"] == 0 and courses[idle]["section"] is None


def test_a_second_request_while_one_is_queued_answers_with_it(quiet_client, classroom):
    first = quiet_client.post("/api/classroom/sync")
    second = quiet_client.post("/api/classroom/sync")
    assert first.status_code == second.status_code == 202
    assert first.get_json()["task_id"] == second.get_json()["task_id"]
    task = quiet_client.get(first.get_json()["status_url"]).get_json()
    assert (task["name"], task["state"]) == ("classroom.sync", "PENDING")


def test_courses_page_with_every_course_once_and_item_counts(client, settings, classroom):
    ids = [classroom.add_course(f"Curso {i:02d}", section=f"S{i}") for i in range(7)]
    classroom.add_coursework(ids[3], "A", [link(f"https://example.org/{n}") for n in range(4)])
    client_ = classroom_client(settings)
    sync_classroom(
        database(settings.database_url),
        client_,
        drive_client(settings),
    )

    courses = _walk(client, 3)
    assert [c["id"] for c in courses] == ids  # by name
    assert all(set(c) == COURSE_KEYS for c in courses)
    assert [c["item_count"] for c in courses] == [0, 0, 0, 4, 0, 0, 0]


def test_bad_paging_arguments_are_refused(client, settings):
    for query in ("limit=0", "limit=201", "cursor=not-a-cursor", "cursor=W10"):
        response = client.get(f"/api/classroom/courses?{query}")
        assert response.status_code in (400, 422), query
        assert_envelope(response, response.status_code, "validation_error")


def test_without_google_credentials_sync_is_409(client, settings):
    response = client.post("/api/classroom/sync")
    details = assert_envelope(response, 409, "conflict")
    # Where a person fixes it (the UI's Settings page), not an API call to make.
    assert details == {"reason": "google_not_connected", "page": "/#/settings"}
    message = response.get_json()["error"]["message"]
    assert "Settings page" in message and "/api/" not in message
    assert client.get("/api/classroom/courses").get_json() == {"items": [], "next_cursor": None}
