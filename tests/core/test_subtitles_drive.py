"""Drive sidecars: subtitle files in the same Drive folder are tracks of the video, not items."""

from __future__ import annotations

from core.base.db import database
from core.catalog import search, tracks
from core.catalog import store as catalog
from core.catalog.indexing import rebuild_drive, sync_drive
from tests.services import drive_client, services_of
from tests.subtitle_media import LESSON_SRT

SRT = "application/x-subrip"


def _items(settings) -> dict[str, int]:
    page = catalog.list_items(database(settings.database_url), source="drive", limit=200)
    return {item.title: item.id for item in page.items}


def _tracks(settings, item_id: int) -> set[tuple[str, str]]:
    found = tracks.subtitles_for(database(settings.database_url), [item_id]).get(item_id, [])
    return {(s.language, s.source) for s in found}


def test_drive_sidecars_are_tracks_and_follow_the_changes_feed(settings, drive):
    folder = drive.add_folder("Aulas")
    drive.add_file("Lesson 1.mp4", folder, duration_ms=4000)
    drive.add_file("Lesson 1.srt", folder, mime_type=SRT, content=LESSON_SRT.encode())
    pt = drive.add_file("Lesson 1.pt-BR.srt", folder, mime_type=SRT, content=LESSON_SRT.encode())
    drive.add_file("Lesson 1.en.vtt", drive.add_folder("Outra"), mime_type="text/vtt",
                   content=b"WEBVTT\n\n00:01.000 --> 00:02.000\nother folder\n")  # fmt: skip
    scoped = settings.model_copy(update={"drive_folder_ids": [folder]})
    rebuild_drive(services_of(scoped), drive_client(scoped))
    items = _items(scoped)
    assert set(items) == {"Lesson 1.mp4"}  # subtitle files are not items
    lesson = items["Lesson 1.mp4"]
    assert _tracks(scoped, lesson) == {("und", "sidecar"), ("pt-BR", "sidecar")}
    db = database(scoped.database_url)
    assert {h.start_s for h in search.search(db, "photosynthesis").items} == {3.0}

    # A rebuild reads no unchanged sidecar again.
    before = len([r for r in drive.requests if r.query.get("alt") == "media"])
    assert before == 2  # the two sidecars of the indexed folder, once each
    rebuild_drive(services_of(scoped), drive_client(scoped))
    assert len([r for r in drive.requests if r.query.get("alt") == "media"]) == before

    # The changes feed: a new sidecar becomes a track, a trashed one's track goes.
    drive.add_file("Lesson 1.es.srt", folder, mime_type=SRT, content=LESSON_SRT.encode())
    drive.trash(pt)
    sync_drive(services_of(scoped), drive_client(scoped))
    assert _tracks(scoped, lesson) == {("und", "sidecar"), ("es", "sidecar")}
    assert set(_items(scoped)) == {"Lesson 1.mp4"}
