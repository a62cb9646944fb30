"""GET/POST/DELETE /api/courses and PUT/GET /api/progress as CONTRACT 8.3 says, bad input too."""

from __future__ import annotations

import shutil

import pytest

from core.catalog.indexing import rebuild_local
from tests.api.people_support import with_viewer
from tests.core.test_courses import clip
from tests.services import services_of


@pytest.fixture
def media_root(settings):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


@pytest.fixture
def course(settings, media_root):
    """A course folder: Lesson 1, 2 and 10 (named so a plain sort gets them wrong), slides."""
    for name in ("Lesson 10.mp4", "Lesson 2.mp4", "Lesson 1.mp4"):
        clip(media_root / "Algebra" / name)
    (media_root / "Algebra" / "Lesson 1.pdf").write_bytes(b"%PDF-1.4")
    rebuild_local(services_of(settings))
    return media_root / "Algebra"


def _detail(client, course_id):
    answer = client.get(f"/api/courses/{course_id}")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _the_course(client):
    (listed,) = client.get("/api/courses").get_json()["items"]
    return listed


def test_a_course_lists_and_opens_with_lessons_in_natural_order(client, course):
    listed = _the_course(client)
    assert set(listed) == {"id", "source", "title", "connection_id", "lesson_count",
                           "duration_s", "thumbnail_url", "progress"}  # fmt: skip
    assert (listed["source"], listed["title"], listed["lesson_count"]) == ("local", "Algebra", 3)
    assert listed["connection_id"] is None
    detail = _detail(client, listed["id"])
    (section,) = detail["sections"]
    assert (section["title"], section["position"]) == (None, 0)
    lessons = section["lessons"]
    assert [(l["title"], l["position"]) for l in lessons] == [  # noqa: E741
        ("Lesson 1", 1), ("Lesson 2", 2), ("Lesson 10", 3)
    ]  # fmt: skip
    first = lessons[0]
    assert first["stream_url"] and first["source_id"] == "Algebra/Lesson 1.mp4"
    (slides,) = first["attachments"]
    assert slides["title"] == "Lesson 1.pdf" and slides["mime_type"] == "application/pdf"
    assert client.get(slides["url"]).headers["Content-Disposition"].startswith("attachment")
    never = {"position_s": 0.0, "duration_s": None, "watched": False, "updated_at": None}
    assert first["progress"] == {"item_id": first["id"], **never}
    assert listed["progress"] == {"watched": 0, "total": 3, "percent": 0.0,
                                  "next_item_id": first["id"]}  # fmt: skip


def test_watching_half_way_resumes_and_finishing_leads_to_lesson_2(client, course):
    listed = _the_course(client)
    lessons = _detail(client, listed["id"])["sections"][0]["lessons"]
    one, two = lessons[0]["id"], lessons[1]["id"]
    saved = client.put(f"/api/progress/{one}", json={"position_s": 300, "duration_s": 600})
    assert saved.status_code == 200
    assert saved.get_json()["position_s"] == 300 and not saved.get_json()["watched"]
    again = _detail(client, listed["id"])["sections"][0]["lessons"][0]["progress"]
    assert again["position_s"] == 300  # what a reload resumes from
    assert again == saved.get_json()  # the same figures, updated_at in ISO 8601 both ways
    assert _the_course(client)["progress"]["next_item_id"] == one  # most recently in progress
    done = client.put(f"/api/progress/{one}", json={"position_s": 560}).get_json()
    assert done["watched"] is True and done["duration_s"] == 600  # 90%, duration remembered
    assert _the_course(client)["progress"] == {"watched": 1, "total": 3, "percent": 33.3,
                                               "next_item_id": two}  # fmt: skip


def test_progress_rules_clamp_resume_floor_and_marks_by_hand(client, course):
    lessons = _detail(client, _the_course(client)["id"])["sections"][0]["lessons"]
    item = lessons[2]["id"]
    url = f"/api/progress/{item}"
    assert client.put(url, json={"position_s": 20, "duration_s": 600}).get_json()[
        "position_s"] == 0  # under 5%: not worth resuming  # fmt: skip
    past = client.put(url, json={"position_s": 9999}).get_json()
    assert (past["position_s"], past["watched"]) == (600, True)  # clamped to the end
    rewatch = client.put(url, json={"position_s": 120}).get_json()
    assert (rewatch["position_s"], rewatch["watched"]) == (120, True)  # watched stays
    unmarked = client.put(url, json={"watched": False}).get_json()
    assert (unmarked["position_s"], unmarked["watched"]) == (0, False)
    marked = client.put(url, json={"watched": True}).get_json()
    assert marked["watched"] is True


@pytest.mark.parametrize(
    "body",
    [{"position_s": -1}, {"position_s": "abc"}, {"position_s": None}, {"position_s": "NaN"},
     {"position_s": True}, {}, {"watched": "yes"}, {"duration_s": 10}, [], "12"],
)  # fmt: skip
def test_bad_progress_is_400(client, course, body):
    item = _detail(client, _the_course(client)["id"])["sections"][0]["lessons"][0]["id"]
    answer = client.put(f"/api/progress/{item}", json=body)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == "validation_error"


def test_progress_on_an_unknown_item_is_404(client, settings):
    answer = client.put("/api/progress/987654", json={"position_s": 1})
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_continue_watching_lists_most_recent_first(client, course):
    lessons = _detail(client, _the_course(client)["id"])["sections"][0]["lessons"]
    a, b, c = (lesson["id"] for lesson in lessons)
    for item in (a, b):
        client.put(f"/api/progress/{item}", json={"position_s": 100, "duration_s": 600})
    client.put(f"/api/progress/{c}", json={"watched": True})
    started = client.get("/api/progress?state=in_progress").get_json()
    assert [entry["item_id"] for entry in started["items"]] == [b, a]
    assert started["items"][0]["item"]["title"] == "Lesson 2"
    course_id = _the_course(client)["id"]
    assert started["items"][0]["course_id"] == course_id
    assert started["items"][0]["course"] == {"id": course_id, "title": "Algebra"}
    client.put(f"/api/progress/{a}", json={"position_s": 130})
    started = client.get("/api/progress?state=in_progress&limit=1").get_json()
    assert [entry["item_id"] for entry in started["items"]] == [a]
    rest = client.get(f"/api/progress?state=in_progress&cursor={started['next_cursor']}")
    assert [entry["item_id"] for entry in rest.get_json()["items"]] == [b]
    watched = client.get("/api/progress?state=watched").get_json()["items"]
    assert [entry["item_id"] for entry in watched] == [c]
    assert client.get("/api/progress?state=bogus").status_code in (400, 422)


def test_adding_a_folder_by_hand(client, course, media_root, tmp_path):
    week = media_root / "Algebra" / "Week 1"
    clip(week / "Intro.mp4")
    added = client.post("/api/courses", json={"source": "local", "path": str(week)})
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["title"] == "Week 1"
    again = client.post("/api/courses", json={"source": "local", "path": str(week)})
    assert again.status_code == 200 and again.get_json()["id"] == added.get_json()["id"]
    found = client.post("/api/courses", json={"source": "local", "path": str(course)})
    assert found.status_code == 200  # found on its own already: that course
    for path in (str(tmp_path), "relative/path", str(media_root / "missing"), str(media_root)
                 + "/../" + tmp_path.name):  # fmt: skip
        refused = client.post("/api/courses", json={"source": "local", "path": path})
        assert refused.status_code == 400, path
        assert refused.get_json()["error"]["code"] == "validation_error"
    drive = client.post("/api/courses", json={"source": "drive", "folder_id": "not-indexed"})
    assert drive.status_code == 400
    assert client.post("/api/courses", json={"source": "local"}).status_code == 400
    assert client.post("/api/courses", json={"source": "classroom", "path": "/"}).status_code == 400


def test_hiding_a_course(client, course):
    course_id = _the_course(client)["id"]
    assert client.delete(f"/api/courses/{course_id}").status_code == 204
    assert client.get("/api/courses").get_json()["items"] == []
    assert client.get(f"/api/courses/{course_id}").status_code == 404
    assert client.delete("/api/courses/987654").status_code == 404
    shown = client.post("/api/courses", json={"source": "local", "path": str(course)})
    assert shown.status_code == 200 and shown.get_json()["id"] == course_id


def test_a_course_whose_folder_disappears_is_empty_not_an_error(client, course, settings):
    listed = _the_course(client)
    first = _detail(client, listed["id"])["sections"][0]["lessons"][0]["id"]
    client.put(f"/api/progress/{first}", json={"position_s": 300, "duration_s": 600})
    shutil.rmtree(course)
    rebuild_local(services_of(settings))
    detail = _detail(client, listed["id"])
    assert detail["sections"] == [] and detail["lesson_count"] == 0
    assert detail["progress"] == {"watched": 0, "total": 0, "percent": 0.0, "next_item_id": None}


def test_viewers_read_courses_and_keep_their_own_progress(app, course):
    admin, viewer = with_viewer(app)
    listed = viewer.client.get("/api/courses").get_json()["items"][0]
    item = _detail(viewer.client, listed["id"])["sections"][0]["lessons"][0]["id"]
    mine = viewer.client.put(f"/api/progress/{item}", json={"position_s": 300, "duration_s": 600},
                             headers=viewer.headers)  # fmt: skip
    assert mine.status_code == 200
    theirs = admin.client.get("/api/progress").get_json()["items"]
    assert theirs == []  # progress is per person
    assert len(viewer.client.get("/api/progress").get_json()["items"]) == 1
    hide = viewer.client.delete(f"/api/courses/{listed['id']}", headers=viewer.headers)
    assert hide.status_code == 403
    add = viewer.client.post("/api/courses", json={"source": "local", "path": str(course)},
                             headers=viewer.headers)  # fmt: skip
    assert add.status_code == 403
    assert app.test_client().get("/api/courses").status_code == 401
    assert app.test_client().put(f"/api/progress/{item}", json={"position_s": 1}).status_code == 401
    assert (
        admin.client.delete(f"/api/courses/{listed['id']}", headers=admin.headers).status_code
        == 204
    )


def test_a_lesson_is_its_catalog_item_plus_position_progress_and_attachments(client, course):
    lessons = _detail(client, _the_course(client)["id"])["sections"][0]["lessons"]
    for lesson in lessons:
        item = client.get(f"/api/catalog/items/{lesson['id']}").get_json()
        added = {"position", "progress", "attachments"}
        assert {k: v for k, v in lesson.items() if k not in added} == item


def test_a_finished_course_has_no_next_lesson(client, course):
    listed = _the_course(client)
    for lesson in _detail(client, listed["id"])["sections"][0]["lessons"]:
        assert (
            client.put(f"/api/progress/{lesson['id']}", json={"watched": True}).status_code == 200
        )
    assert _the_course(client)["progress"] == {"watched": 3, "total": 3, "percent": 100.0,
                                               "next_item_id": None}  # fmt: skip
