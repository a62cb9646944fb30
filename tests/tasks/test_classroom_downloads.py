"""POST /api/classroom/courses/{id}/downloads: each video of a course enqueued once."""

from __future__ import annotations

from api import create_app
from core.base.db import database
from core.catalog.sources.sync import sync_classroom
from tests.fakes.google import drive_file, link
from tests.helpers import private_redis_db
from tests.services import classroom_client, drive_client


def test_a_course_batch_enqueues_each_video_once(base_env, settings, classroom):
    # A Redis database no worker consumes: the downloads stay queued for the assertions.
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    client = create_app({k.lower(): v for k, v in env.items()}).test_client()
    videos = [classroom.add_file(f"aula {i}.mp4", size=1000, seed=i) for i in range(3)]
    handout = classroom.add_file("apostila.pdf", mime_type="application/pdf")
    course = classroom.add_course("Física 1", section="Turma A")
    classroom.add_coursework(
        course,
        "Semana 1",
        [
            drive_file(videos[0], "aula 0.mp4"),
            drive_file(handout, "apostila.pdf"),
            link("https://example.invalid/notas", "Notas"),
        ],
    )
    classroom.add_course_material(course, "Extras", [drive_file(v, f"v{v}") for v in videos[1:]])
    sync_classroom(
        database(settings.database_url),
        classroom_client(settings),
        drive_client(settings),
    )

    first = client.post(f"/api/classroom/courses/{course}/downloads")
    assert first.status_code == 202
    body = first.get_json()
    assert body["skipped"] == 0 and body["refused"] == []
    assert sorted(d["url"].split("/")[5] for d in body["downloads"]) == sorted(videos)
    assert all(d["state"] == "queued" and d["item_id"] for d in body["downloads"])

    again = client.post(f"/api/classroom/courses/{course}/downloads").get_json()
    assert again["downloads"] == [] and again["skipped"] == 3
    listed = client.get("/api/downloads?limit=200").get_json()["items"]
    assert len(listed) == 3
    assert client.post("/api/classroom/courses/unknown/downloads").status_code == 404
