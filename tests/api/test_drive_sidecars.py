"""Drive sidecars (CONTRACT 8.4 with section 4): a subtitle file beside a Drive video is a track of
that video, not an item, yet GET /api/drive/files lists it from the catalog as Drive does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.extensions import SERVICES
from core.catalog import accounts
from core.catalog.indexing import rebuild_drive, sync_drive
from tests.api.test_drive_api import _shape, _walk
from tests.api.test_google_multi import _two_accounts
from tests.fakes.google import FakeGoogle
from tests.services import drive_client, services_of
from tests.subtitle_media import LESSON_SRT

SRT, VTT = "application/x-subrip", "text/vtt"
PT_VTT = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBem-vindos\n"


def _lesson_folder(fake: Any) -> str:
    folder = fake.add_folder("Biologia")
    fake.add_file("Lesson 1.mp4", folder, size=100, duration_ms=4000)
    fake.add_file("Lesson 1.srt", folder, mime_type=SRT, content=LESSON_SRT.encode())
    fake.add_file("Lesson 1.pt-BR.vtt", folder, mime_type=VTT, content=PT_VTT)
    fake.add_file("Orphan.en.srt", folder, mime_type=SRT, content=LESSON_SRT.encode())
    return folder


def _subtitles(client: FlaskClient, title: str) -> dict[str, str]:
    items = client.get("/api/catalog/items", query_string={"source": "drive"}).get_json()["items"]
    item = next(i for i in items if i["title"] == title)
    assert [i["title"] for i in items].count(title) == 1
    assert not [i for i in items if i["title"].endswith((".srt", ".vtt"))], "sidecars are items"
    return {s["language"]: s["url"] for s in item["subtitles"] if s["source"] == "sidecar"}


def test_the_catalog_lists_a_folders_subtitle_files_like_drive(client, settings, drive):
    folder = _lesson_folder(drive)
    live = _shape(_walk(client, folder, 2))
    assert len(live) == 4
    rebuild_drive(services_of(settings), drive_client(settings))
    drive.clear_log()
    for size in (1, 2, 50):
        assert _shape(_walk(client, folder, size)) == live
    assert not [r for r in drive.requests if r.path.endswith("/files")], "catalog mode asked Drive"
    tracks = _subtitles(client, "Lesson 1.mp4")
    assert set(tracks) == {"und", "pt-BR"}
    answer = client.get(tracks["pt-BR"])
    assert answer.status_code == 200 and answer.mimetype == "text/vtt"
    assert "Bem-vindos" in answer.get_data(as_text=True)

    # The changes feed keeps the listing as Drive has it: a new sidecar, a trashed one.
    es = drive.add_file("Lesson 1.es.srt", folder, mime_type=SRT, content=LESSON_SRT.encode())
    drive.trash(next(f for f in live if live[f][0] == "Lesson 1.pt-BR.vtt"))
    sync_drive(services_of(settings), drive_client(settings))
    listed = _shape(_walk(client, folder, 50))
    assert es in listed and not [v for v in listed.values() if v[0] == "Lesson 1.pt-BR.vtt"]
    assert set(_subtitles(client, "Lesson 1.mp4")) == {"und", "es"}


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    """A fake Google of this test's own, for two accounts."""
    with FakeGoogle() as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors


def _folders(client: FlaskClient, cid: int, folders: list[str]) -> None:
    body = {"drive_folder_ids": folders}
    assert client.patch(f"/api/google/connections/{cid}", json=body).status_code == 200


def _rebuild_all(app: Any) -> None:
    services = app.extensions[SERVICES]
    accounts.each(
        accounts.drive_clients(services.settings, services.db),
        lambda c: rebuild_drive(services, c),
    )


def test_sidecars_stay_while_any_connection_reaches_them(make_app, google):
    app = make_app(**{key.lower(): value for key, value in google.env().items()})
    client = app.test_client()
    folder, other = _lesson_folder(google), google.add_folder("Outra")
    first, second = _two_accounts(client, google)
    _folders(client, first, [folder])
    _folders(client, second, [other])
    for _ in range(2):  # each account's full rebuild in turn: the second sees no sidecar
        _rebuild_all(app)
        assert set(_subtitles(client, "Lesson 1.mp4")) == {"und", "pt-BR"}
    assert len(_walk(client, folder, 50)) == 4
    _folders(client, second, [folder, other])
    _rebuild_all(app)
    assert client.delete(f"/api/google/connections/{first}").status_code == 204
    assert set(_subtitles(client, "Lesson 1.mp4")) == {"und", "pt-BR"}
    assert len(_walk(client, folder, 50)) == 4
    assert client.delete(f"/api/google/connections/{second}").status_code == 204
    assert client.get("/api/catalog/items?source=drive").get_json()["items"] == []
