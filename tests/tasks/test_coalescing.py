"""Single-instance tasks on a real worker: a request made while one runs gets one follow-up that
runs after it and sees the change (CONTRACT 8.6); later requests share that follow-up."""

from __future__ import annotations

from typing import Any

from tests.helpers import wait_for


def _task(client: Any, task_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/tasks/{task_id}").get_json()
    return body


def _finish(client: Any, task_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = _task(client, task_id)
        return body if body["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None

    result: dict[str, Any] = wait_for(done, 90, what=f"task {task_id} to end")
    return result


def _sync(client: Any) -> str:
    response = client.post("/api/catalog/sync", json={"source": "drive"})
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["task_id"])


def test_a_sync_asked_while_one_runs_gets_one_follow_up_that_sees_the_change(
    client: Any, drive: Any, worker: Any
) -> None:
    drive.add_file("aula 1.mp4")
    held = drive.hold("/drive/v3/files")  # the running sync stops at its first Drive listing
    running = _sync(client)
    assert held.arrived.wait(60), "the first sync never reached Drive"
    try:
        assert _task(client, running)["state"] in ("STARTED", "PROGRESS")
        added = drive.add_file("aula 2.mp4")  # the person's change, made while it runs

        follow_up = _sync(client)
        assert follow_up != running, "answered with the running task, which may miss the change"
        assert _task(client, follow_up)["state"] == "PENDING"
        assert _sync(client) == follow_up, "a third request shares the one follow-up"
    finally:
        held.release()

    first = _finish(client, running)
    second = _finish(client, follow_up)
    assert (first["state"], second["state"]) == ("SUCCESS", "SUCCESS"), (first, second)
    assert second["started_at"] >= first["finished_at"], "the follow-up ran after the first"
    items = client.get("/api/catalog/items?source=drive").get_json()["items"]
    assert added in {item["source_id"] for item in items}


def test_a_local_rebuild_waits_for_a_running_drive_rebuild(
    client: Any, settings: Any, drive: Any, worker: Any
) -> None:
    # Issue 23 item 6: "local" and "all"/"drive" rebuilds never overlap (the older one would put
    # back files the newer one removed): one catalog lock, which the local rebuild waits for.
    drive.add_file("aula 1.mp4")
    held = drive.hold("/drive/v3/files")
    drive_task = client.post("/api/catalog/rebuild", json={"source": "drive"}).get_json()
    assert held.arrived.wait(60), "the Drive rebuild never reached Drive"
    try:
        local_task = client.post("/api/catalog/rebuild", json={"source": "local"}).get_json()
        local_id = local_task["task_id"]
        waiting = wait_for(
            lambda: (_task(client, local_id).get("progress") or {}).get("message"),
            60,
            what="the local rebuild to say it waits for the catalog lock",
        )
        assert waiting.startswith("waiting for the running catalog rebuild or sync")
        assert _task(client, local_id)["state"] == "PROGRESS", "it has not ended meanwhile"
    finally:
        held.release()
    first = _finish(client, drive_task["task_id"])
    second = _finish(client, local_id)
    assert (first["state"], second["state"]) == ("SUCCESS", "SUCCESS"), (first, second)
    assert second["finished_at"] >= first["finished_at"], (
        "the local rebuild ran inside the Drive one"
    )
