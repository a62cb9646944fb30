"""Drive names holding lone surrogates (JSON's `\\udXXX` escapes, which Python decodes as they
are): listed, catalogued and searched with U+FFFD in their place, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from core.catalog.indexing import rebuild_drive
from tests.services import drive_client, services_of

LONE = "aula \ud800 1.mp4"  # a lone high surrogate: no UTF-8 encoding exists for it
SHOWN = "aula \ufffd 1.mp4"


def test_a_lone_surrogate_in_a_drive_name_becomes_a_replacement_character(
    client, settings, drive
) -> None:
    course = drive.add_folder("Curso \udfff")
    video = drive.add_file(LONE, course, size=100)
    drive.add_file("aula 2.mp4", course, size=100)

    live = client.get(f"/api/drive/files?folder_id={course}")
    assert live.status_code == 200, live.get_json()
    assert {entry["name"] for entry in live.get_json()["files"]} == {SHOWN, "aula 2.mp4"}

    rebuild_drive(services_of(settings), drive_client(settings))  # raised on PostgreSQL before
    listed = client.get(f"/api/drive/files?folder_id={course}")
    assert {entry["name"] for entry in listed.get_json()["files"]} == {SHOWN, "aula 2.mp4"}
    items = client.get("/api/catalog/items?source=drive").get_json()["items"]
    titles = {item["source_id"]: item["title"] for item in items}
    assert video in titles and "\ufffd" in titles[video]
    assert client.get(f"/api/drive/files/{video}").get_json()["name"] == SHOWN
