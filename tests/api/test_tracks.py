"""Items list subtitles and chapters; a track answers WebVTT; /api/search finds what was said."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from api.headers import MEDIA_CSP
from core.base.settings import Settings
from core.catalog.indexing import rebuild_local
from tests.media import make_video
from tests.services import services_of
from tests.subtitle_media import HOSTILE_SRT, LESSON_SRT, make_mkv_with_tracks


@pytest.fixture
def lessons(settings: Settings) -> Iterator[Settings]:
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "Biology" / "Lesson 1.mp4", seconds=1)
    (root / "Biology" / "Lesson 1.en.srt").write_text(LESSON_SRT)
    (root / "Biology" / "Lesson 1.pt-BR.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBem-vindos à aula\n"
    )
    (root / "Biology" / "Lesson 1.srt").write_text(HOSTILE_SRT)
    make_mkv_with_tracks(root / "Biology" / "Lesson 2.mkv")
    rebuild_local(services_of(settings))
    yield settings
    shutil.rmtree(root, ignore_errors=True)  # the shared root as it was: empty
    root.mkdir(parents=True)


def _item(client: FlaskClient, title: str) -> dict:
    items = client.get("/api/catalog/items", query_string={"q": title}).get_json()["items"]
    return next(item for item in items if item["title"] == title)


def test_items_carry_subtitles_and_chapters(client: FlaskClient, lessons: Settings) -> None:
    item = _item(client, "Lesson 1")
    assert {(s["language"], s["source"], s["label"]) for s in item["subtitles"]} == {
        ("en", "sidecar", "English"),
        ("pt-BR", "sidecar", "Portuguese (Brazil)"),
        ("und", "sidecar", "Unknown language"),
    }
    assert item["chapters"] == []
    same = client.get(f"/api/catalog/items/{item['id']}").get_json()
    assert same["subtitles"] == item["subtitles"]
    mkv = _item(client, "Lesson 2")
    assert [(s["language"], s["source"]) for s in mkv["subtitles"]] == [("pt", "embedded")]
    assert mkv["chapters"] == [
        {"title": "Intro", "start_s": 0.0, "end_s": 2.0},
        {"title": "Main part", "start_s": 2.0, "end_s": 4.0},
    ]


def test_a_track_is_safe_webvtt(client: FlaskClient, lessons: Settings) -> None:
    item = _item(client, "Lesson 1")
    by_language = {s["language"]: s["url"] for s in item["subtitles"]}
    response = client.get(by_language["pt-BR"])
    assert response.status_code == 200
    assert response.mimetype == "text/vtt"
    assert response.headers["Content-Security-Policy"] == MEDIA_CSP
    assert response.get_data(as_text=True) == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBem-vindos à aula\n"
    )
    hostile = client.get(by_language["und"]).get_data(as_text=True)
    assert "<script" not in hostile and "onerror" not in hostile and "<font" not in hostile
    assert "a --&gt; b &amp; c &lt; d" in hostile
    other = _item(client, "Lesson 2")["subtitles"][0]["id"]
    assert client.get(f"/api/catalog/items/{item['id']}/subtitles/{other}").status_code == 404
    missing = client.get(f"/api/catalog/items/{item['id']}/subtitles/999999")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"


def test_search_finds_cues_and_titles_with_pages(client: FlaskClient, lessons: Settings) -> None:
    hits = client.get("/api/search", query_string={"q": "photosynthesis"}).get_json()
    assert {(h["title"], h["start_s"], h["end_s"], h["text"]) for h in hits["items"]} == {
        ("Lesson 1", 3.0, 4.0, "Today we learn photosynthesis"),
        ("Lesson 2", 3.0, 4.0, "Today we learn photosynthesis"),
    }
    assert set(hits["items"][0]) == {"item_id", "title", "course_id", "start_s", "end_s", "text"}
    seen, cursor = [], None
    while True:
        query = {"q": "lesson", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/search", query_string=query).get_json()
        seen += [(h["item_id"], h["start_s"], h["text"]) for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4  # two titles, then "first lesson" in each


@pytest.mark.parametrize("q", ['"', "a OR b*", "NEAR(x y)", "col:x", "'); DROP TABLE x; --"])
def test_search_syntax_from_users_is_plain_text(client: FlaskClient, lessons: Settings, q) -> None:
    response = client.get("/api/search", query_string={"q": q})
    assert response.status_code == 200, response.get_json()


def test_search_refuses_bad_arguments(client: FlaskClient, lessons: Settings) -> None:
    assert client.get("/api/search").status_code in (400, 422)
    assert client.get("/api/search", query_string={"q": "x" * 201}).status_code in (400, 422)
    bad = client.get("/api/search", query_string={"q": "lesson", "cursor": "WzIsMV0"})
    assert bad.status_code in (400, 422)
    assert bad.get_json()["error"]["code"] == "validation_error"


def test_once_people_exist_tracks_are_signed_and_search_needs_sign_in(app, lessons) -> None:
    from tests.api.people_support import with_viewer

    _, viewer = with_viewer(app)
    stranger = app.test_client()
    assert stranger.get("/api/search", query_string={"q": "lesson"}).status_code == 401
    hits = viewer.client.get("/api/search", query_string={"q": "photosynthesis"})
    assert hits.status_code == 200 and len(hits.get_json()["items"]) == 2
    item = _item(viewer.client, "Lesson 1")
    url = item["subtitles"][0]["url"]
    assert "sig=" in url and "exp=" in url
    assert stranger.get(url).status_code == 200  # a <track> sends no cookie: the URL is the key
    plain = url.split("?")[0]
    assert stranger.get(plain).status_code == 401
    assert stranger.get(plain + "?exp=9999999999&sig=forged").status_code == 403
