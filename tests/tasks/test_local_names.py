"""Local names that are not UTF-8, and Windows-style ones, through a real worker's rescan and the
API: catalogued with readable titles, found, shown in courses, streamed byte for byte."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from core.base.local_names import os_name
from core.base.settings import Settings
from tests.helpers import wait_for
from tests.media import make_video
from tests.subtitle_media import LESSON_SRT

# Raw names as an old USB stick or Windows share gives them (Latin-1), beside UTF-8 ones: the
# one literally named as the first's text form must stay a file of its own.
LATIN = b"Aula \xe9 1.mp4"
LITERAL = "Aula \ufffdE9 1.mp4".encode()
SIDECAR = b"Aula \xe9 1.srt"
SECTION = b"M\xf3dulo \xe9/Se\xe7\xe3o 1/Li\xe7\xe3o 2.mp4"
HANDOUT = b"Apostila \xe9.pdf"
WINDOWS = [b"back\\slash.mp4", b"CON.mp4", b"Trailing dot..mp4", b"Pasta. /Aula 9 .mp4",
           b"C:\\Cap [1] 50%_*?/Aula 10.mp4"]  # fmt: skip
VIDEOS = [LATIN, LITERAL, SECTION, *WINDOWS]


def _path(root: Path, raw: bytes) -> Path:
    return Path(os.fsdecode(os.path.join(os.fsencode(root), raw)))


@pytest.fixture
def library(settings: Settings) -> Iterator[Path]:
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    for seconds, raw in enumerate(VIDEOS, start=1):
        make_video(_path(root, raw), seconds=seconds)
    _path(root, SIDECAR).write_text(LESSON_SRT)
    _path(root, HANDOUT).write_bytes(b"%PDF-1.4 not much of a handout\n")
    yield root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


def _rescan(client: FlaskClient) -> dict:
    task_id = client.post("/api/catalog/rebuild", json={"source": "local"}).get_json()["task_id"]

    def done() -> dict | None:
        body = client.get(f"/api/tasks/{task_id}").get_json()
        return body if body["state"] in ("SUCCESS", "FAILURE") else None

    body = wait_for(done, 90, what="the local rescan")
    assert body["state"] == "SUCCESS", body
    return body["result"]["local"]


def _items(client: FlaskClient) -> dict[bytes, dict]:
    response = client.get("/api/catalog/items?source=local&limit=200")
    assert response.status_code == 200, response.get_data()[:300]
    return {os.fsencode(os_name(item["source_id"])): item for item in response.get_json()["items"]}


def test_every_name_is_catalogued_readable_and_maps_back(client, library, worker) -> None:
    result = _rescan(client)
    assert result["items"] == len(VIDEOS) + 1 and result["changed"] == len(VIDEOS) + 1
    items = _items(client)
    assert set(items) == {*VIDEOS, HANDOUT}  # each source_id gives back the exact bytes
    assert items[LATIN]["title"] == "Aula é 1"
    assert items[LITERAL]["title"] == "Aula \ufffdE9 1"
    assert items[LATIN]["source_id"] != items[LITERAL]["source_id"]
    assert items[SECTION]["title"] == "Lição 2"
    assert items[HANDOUT]["title"] == "Apostila é.pdf"
    assert items[b"back\\slash.mp4"]["title"] == "back\\slash"
    assert items[b"Pasta. /Aula 9 .mp4"]["folder_id"] == "Pasta. "
    detail = client.get(f"/api/catalog/items/{items[LATIN]['id']}").get_json()
    assert detail["source_id"] == items[LATIN]["source_id"]
    assert [(s["language"], s["source"]) for s in detail["subtitles"]] == [("und", "sidecar")]
    track = client.get(detail["subtitles"][0]["url"])
    assert track.status_code == 200 and "photosynthesis" in track.get_data(as_text=True)
    again = _rescan(client)  # the text form is stable: nothing changed, no id moved
    assert again["changed"] == 0 and again["removed"] == 0
    assert {raw: item["id"] for raw, item in _items(client).items()} == {
        raw: item["id"] for raw, item in items.items()
    }


def test_names_stream_byte_for_byte_with_ranges(client, library, worker) -> None:
    _rescan(client)
    for raw, item in _items(client).items():
        data = _path(library, raw).read_bytes()
        whole = client.get(item["stream_url"])
        assert whole.status_code == 200, (raw, whole.get_data()[:300])
        assert whole.data == data
        part = client.get(item["stream_url"], headers={"Range": "bytes=10-99"})
        assert part.status_code == 206 and part.data == data[10:100]
        assert client.head(item["stream_url"]).status_code == 200
        if raw in VIDEOS:
            thumbnail = client.get(item["thumbnail_url"])
            assert thumbnail.status_code == 200 and thumbnail.data[:3] == b"\xff\xd8\xff"
    handout = _items(client)[HANDOUT]
    saved = client.get(handout["stream_url"]).headers["Content-Disposition"]
    assert (
        saved == "attachment; filename=\"Apostila _.pdf\"; filename*=UTF-8''Apostila%20%C3%A9.pdf"
    )


def test_search_and_courses_read_the_names(client, library, worker) -> None:
    _rescan(client)
    items = _items(client)
    hits = client.get("/api/search", query_string={"q": "Lição"}).get_json()["items"]
    assert [hit["item_id"] for hit in hits] == [items[SECTION]["id"]]
    found = client.get("/api/catalog/items", query_string={"q": "Aula é"}).get_json()["items"]
    assert items[LATIN]["id"] in {item["id"] for item in found}
    courses = {c["title"]: c for c in client.get("/api/courses?limit=200").get_json()["items"]}
    assert {"Módulo é", "Pasta. ", "C:\\Cap [1] 50%_*?"} <= set(courses)
    for title, lesson in (("Pasta. ", "Aula 9 "), ("C:\\Cap [1] 50%_*?", "Aula 10")):
        (only,) = client.get(f"/api/courses/{courses[title]['id']}").get_json()["sections"]
        assert [each["title"] for each in only["lessons"]] == [lesson]
    page = client.get(f"/api/courses/{courses['Módulo é']['id']}")
    assert page.status_code == 200, page.get_data()[:300]
    (section,) = page.get_json()["sections"]
    assert section["title"] == "Seção 1"
    assert [lesson["title"] for lesson in section["lessons"]] == ["Lição 2"]
    folder = os.path.join(os.fsencode(library), b"M\xf3dulo \xe9")
    text = str(library) + "/" + items[SECTION]["source_id"].split("/")[0]
    assert os.fsencode(os_name(text)) == folder
    added = client.post("/api/courses", json={"source": "local", "path": text})
    assert added.status_code == 200 and added.get_json()["id"] == courses["Módulo é"]["id"]


def test_a_name_that_is_not_utf8_converts_and_plays(client, library, worker) -> None:
    _rescan(client)
    item = _items(client)[LATIN]
    assert item["media"]["playable"] == "transcode"
    task_id = client.post(f"/api/catalog/items/{item['id']}/convert").get_json()["task_id"]

    def done() -> dict | None:
        body = client.get(f"/api/tasks/{task_id}").get_json()
        return body if body["state"] in ("SUCCESS", "FAILURE") else None

    assert wait_for(done, 120, what="the conversion")["state"] == "SUCCESS"
    played = client.get(item["playback_url"], headers={"Range": "bytes=0-7"})
    assert played.status_code == 206 and played.data[4:8] == b"ftyp"
