"""GET /api/drive/files: the same complete, duplicate-free listing live and from the catalog."""

from __future__ import annotations

from core.catalog.indexing import rebuild_drive
from tests.services import drive_client, services_of


def _walk(client, folder_id: str, page_size: int) -> list[dict]:
    entries, token, pages = [], None, 0
    while True:
        query = f"/api/drive/files?folder_id={folder_id}&page_size={page_size}"
        response = client.get(query + (f"&page_token={token}" if token else ""))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["files"]) <= page_size
        entries += body["files"]
        pages += 1
        if not (token := body["next_page_token"]):
            return entries
        assert pages < 100


def _shape(entries: list[dict]) -> dict[str, tuple]:
    ids = [entry["id"] for entry in entries]
    assert len(ids) == len(set(ids)), "a child was listed twice"
    return {
        e["id"]: (
            e["name"],
            e["is_folder"],
            e["mime_type"],
            e["size_bytes"],
            bool(e["thumbnail_url"]),
        )
        for e in entries
    }


def test_listing_is_the_same_live_and_from_the_catalog(client, settings, drive):
    course = drive.add_folder("Curso")
    expected = {drive.add_folder(f"Unidade {i}", course) for i in range(5)}
    expected |= {drive.add_file(f"aula {i}.mp4", course, size=100 + i) for i in range(7)}
    expected.add(drive.add_doc("Plano de ensino", course))
    drive.trash(drive.add_file("lixo.mp4", course))

    live = _shape(_walk(client, course, 3))
    assert set(live) == expected
    assert any(r.path.endswith("/files") for r in drive.requests), "live mode asked Drive"

    rebuild_drive(services_of(settings), drive_client(settings))
    drive.clear_log()
    indexed = _shape(_walk(client, course, 3))
    assert indexed == live
    assert not [r for r in drive.requests if r.path.endswith("/files")], "catalog mode asked Drive"
    folders_first = [entry["is_folder"] for entry in _walk(client, course, 50)]
    assert folders_first == sorted(folders_first, reverse=True)


def test_root_alias_and_file_details(client, settings, drive):
    video = drive.add_file("abertura.mp4", duration_ms=5000)
    rebuild_drive(services_of(settings), drive_client(settings))
    root = _shape(_walk(client, "root", 10))
    assert video in root
    detail = client.get(f"/api/drive/files/{video}").get_json()
    assert detail["name"] == "abertura.mp4" and detail["is_folder"] is False
    thumb = client.get(f"/api/drive/files/{video}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/png"
    assert thumb.data.startswith(b"\x89PNG")


def test_bad_requests_answer_in_the_envelope(client, settings, drive):
    missing = client.get("/api/drive/files?folder_id=no-such-folder")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/drive/files/no-such-file").status_code == 404
    token = client.get("/api/drive/files?folder_id=root&page_token=%%%bad")
    assert token.status_code == 400 and token.get_json()["error"]["code"] == "validation_error"
    size = client.get("/api/drive/files?page_size=0")
    assert size.status_code == 422


def test_upstream_outage_is_a_502_never_a_500(client, settings, drive):
    drive.fail_next(100, "503")
    response = client.get("/api/drive/files?folder_id=root")
    drive.clear_faults()
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "upstream_error"


def test_without_credentials_drive_answers_409(client, settings, drive):
    client.delete("/api/credentials/google")
    response = client.get("/api/drive/files")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert "Google is not connected" in error["message"] and "/api/" not in error["message"]
    assert error["details"]["page"] == "/#/settings"


def test_a_connection_id_no_database_holds_is_a_422_not_a_500(client, drive):
    # Found by the stateful fuzz run: SQLite cannot bind an integer past 64 bits (a 500).
    video = drive.add_file("aula.mp4", size=100)
    for value in ("-803620530251688181760", str(2**63), "0", "-1"):
        for path in ("/api/drive/files", f"/api/drive/files/{video}"):
            answer = client.get(f"{path}?connection_id={value}")
            assert answer.status_code == 422, (path, value, answer.get_json())
            assert answer.get_json()["error"]["code"] == "validation_error"
