"""Drive rebuild and sync through the API and a real worker, against the fake Google."""

from __future__ import annotations

from tests.helpers import wait_for


def _finish(client, task_id):
    def done():
        body = client.get(f"/api/tasks/{task_id}").get_json()
        return body if body["state"] in ("SUCCESS", "FAILURE") else None

    return wait_for(done, 60, what="the task")


def test_drive_rebuild_then_sync_on_the_worker(client, settings, drive, worker):
    lesson = drive.add_file("aula 1.mp4", drive.add_folder("Curso"))
    response = client.post("/api/catalog/rebuild", json={"source": "drive"})
    assert response.status_code == 202
    body = _finish(client, response.get_json()["task_id"])
    assert body["state"] == "SUCCESS", body
    assert body["result"]["drive"]["items"] == 1

    items = client.get("/api/catalog/items?source=drive").get_json()["items"]
    assert [item["source_id"] for item in items] == [lesson]

    drive.rename(lesson, "aula 1 (revisada).mp4")
    added = drive.add_file("aula 2.mp4")
    sync = client.post("/api/catalog/sync", json={"source": "drive"})
    body = _finish(client, sync.get_json()["task_id"])
    assert body["state"] == "SUCCESS", body
    assert body["result"]["updated"] >= 2
    titles = {
        i["source_id"]: i["title"]
        for i in client.get("/api/catalog/items?source=drive").get_json()["items"]
    }
    assert titles == {lesson: "aula 1 (revisada).mp4", added: "aula 2.mp4"}


def test_a_rebuild_of_all_without_google_credentials_skips_drive(client, settings, worker):
    response = client.post("/api/catalog/rebuild", json={"source": "all"})
    body = _finish(client, response.get_json()["task_id"])
    assert body["state"] == "SUCCESS"
    assert body["result"]["drive"] == {"skipped": "no Google credentials are configured"}
