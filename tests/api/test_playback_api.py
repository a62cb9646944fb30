"""The media block and playback_url of Drive and downloaded items, before any worker runs."""

from __future__ import annotations

import shutil

from sqlalchemy import null, update

from core.base.models import CatalogItem
from core.catalog.indexing import rebuild_drive, rebuild_local
from core.downloads import catalog_link
from tests.media import make_garbage, make_video
from tests.services import drive_client, services_of


def test_drive_files_get_a_block_from_drive_metadata(client, settings, drive):
    mp4 = drive.add_file("aula.mp4", duration_ms=3000, width=1920, height=1080)
    mkv = drive.add_file("aula.mkv", mime_type="video/x-matroska", duration_ms=3000)
    rebuild_drive(services_of(settings), drive_client(settings))
    items = {
        i["source_id"]: i for i in client.get("/api/catalog/items?source=drive").get_json()["items"]
    }
    direct = items[mp4]
    assert direct["media"] == {
        "container": "mp4", "video_codec": None, "audio_codec": None, "width": 1920,
        "height": 1080, "bitrate": None, "playable": "direct", "error": None,
    }  # fmt: skip
    assert direct["playback_url"] == direct["stream_url"]
    other = items[mkv]
    assert other["media"]["playable"] == "transcode" and other["media"]["container"] == "mkv"
    assert other["playback_url"] == f"/api/catalog/items/{other['id']}/playback"
    answer = client.get(other["playback_url"])
    assert answer.status_code == 409
    assert answer.get_json()["error"]["details"]["reason"] == "needs_download"
    refused = client.post(f"/api/catalog/items/{other['id']}/convert")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["reason"] == "needs_download"


def test_a_downloaded_file_is_probed_into_its_block(tmp_path):
    found = catalog_link.facts_of(make_video(tmp_path / "x.mkv", codec="libx264"))
    assert found.mime_type == "video/x-matroska" and found.duration_s
    assert found.media is not None and found.media["playable"] == "remux"
    junk = catalog_link.facts_of(make_garbage(tmp_path / "junk.mkv"))
    assert junk.media is not None and junk.media["error"]


def test_unknown_items_are_404(client):
    assert client.get("/api/catalog/items/987654/playback").status_code == 404
    assert client.post("/api/catalog/items/987654/convert").status_code == 404


def test_items_indexed_before_media_blocks_get_one_on_the_next_rescan(client, settings, db):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "velha.mkv", codec="libx264")
    services = services_of(settings)
    rebuild_local(services)
    with db.session() as session:  # as an upgrade leaves it: the column added, no block yet
        session.execute(update(CatalogItem).values(media=null()))  # SQL NULL
    assert client.get("/api/catalog/items?source=local").get_json()["items"][0]["media"] is None
    assert rebuild_local(services)["changed"] == 1
    assert rebuild_local(services)["changed"] == 0
    item = client.get("/api/catalog/items?source=local").get_json()["items"][0]
    assert item["media"]["playable"] == "remux"
