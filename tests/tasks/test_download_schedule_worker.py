"""The download schedule with real workers (CONTRACT 8.5): a window holds downloads and
releases them when it opens (an injected clock), pause stops running downloads keeping their
partial files and resume continues them by Range, and the concurrency is a cluster-wide cap."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from core.downloads import dispatch, partial_dir
from tests.helpers import wait_for, wait_for_bytes, wait_for_download
from tests.services import services_of

MIB = 1024 * 1024
URL = "/api/settings/downloads"


def _window_away_from(now: datetime) -> tuple[str, datetime]:
    """A one-hour window starting two hours after `now` (local time), and a moment inside it."""
    start = now.astimezone() + timedelta(hours=2)
    end = start + timedelta(hours=1)
    return f"{start:%H:%M}-{end:%H:%M}", start + timedelta(minutes=1)


def _drive_url(file_id: str) -> str:
    return f"https://drive.google.com/file/d/{file_id}/view"


def test_a_window_that_excludes_now_holds_downloads_and_releases_them_when_it_opens(
    client, settings, drive, worker
):
    now = datetime.now().astimezone()
    window, inside = _window_away_from(now)
    assert client.patch(URL, json={"windows": [window]}).status_code == 200
    file_id = drive.add_file("noite.mp4", size=MIB + 3, seed=21)
    created = client.post("/api/downloads", json={"url": _drive_url(file_id)})
    assert created.status_code == 202
    download = created.get_json()["download"]
    assert download["state"] == "queued" and download["waiting_reason"] == "outside_window"
    assert created.get_json()["task_id"] is None, "nothing is sent outside the windows"
    services = services_of(settings)
    assert dispatch.dispatch(services, now=now) == 0, "still outside the window: held"
    assert dispatch.dispatch(services, now=inside - timedelta(minutes=2)) == 0
    assert not drive.media_requests(file_id)
    assert dispatch.dispatch(services, now=inside) == 1, "the window opened: released"
    assert dispatch.dispatch(services, now=inside) == 0, "sent once"
    done = wait_for_download(client, download["id"], timeout=60)
    assert done["state"] == "succeeded" and done["waiting_reason"] is None
    assert done["file"]["sha256"] == hashlib.sha256(drive.content_of(file_id)).hexdigest()


def test_pause_stops_a_running_download_keeping_its_part_and_resume_continues_it(
    client, settings, drive, worker
):
    file_id = drive.add_file("pausa.mp4", size=12 * MIB, seed=22)
    drive.media_bytes_per_s = 2 * MIB
    try:
        created = client.post("/api/downloads", json={"url": _drive_url(file_id)})
        download_id = created.get_json()["download"]["id"]
        wait_for_bytes(client, download_id, MIB)
        assert client.patch(URL, json={"paused": True}).get_json()["paused"] is True

        def held():
            body = client.get(f"/api/downloads/{download_id}").get_json()
            return body if body["waiting_reason"] == "paused" else None

        body = wait_for(held, 30, what="the running download put back to queued")
        assert body["state"] == "queued"
        part = partial_dir(settings, download_id) / "data.part"
        kept = part.stat().st_size
        assert kept >= MIB, "the partial file stays for the resume"
        drive.wait_idle(10)
        before = len(drive.media_requests(file_id))
        assert client.patch(URL, json={"paused": False}).status_code == 200
        done = wait_for_download(client, download_id, timeout=60)
    finally:
        drive.media_bytes_per_s = None
    assert done["state"] == "succeeded", done
    assert done["file"]["sha256"] == hashlib.sha256(drive.content_of(file_id)).hexdigest()
    resumed = drive.media_requests(file_id)[before:]
    assert resumed and resumed[0].range and resumed[0].range != "bytes=0-", resumed[0].range
    assert int(resumed[0].range.removeprefix("bytes=").split("-")[0]) >= kept


def test_a_download_created_while_paused_waits_and_starts_on_resume(client, drive, worker):
    client.patch(URL, json={"paused": True})
    file_id = drive.add_file("depois.mp4", size=MIB, seed=23)
    created = client.post("/api/downloads", json={"url": _drive_url(file_id)}).get_json()
    assert created["download"]["waiting_reason"] == "paused" and created["task_id"] is None
    client.patch(URL, json={"paused": False})
    assert wait_for_download(client, created["download"]["id"], timeout=60)["state"] == "succeeded"


def test_the_concurrency_caps_running_downloads_across_the_cluster(client, drive, worker):
    assert client.patch(URL, json={"concurrency": 1}).status_code == 200
    drive.media_bytes_per_s = 4 * MIB
    ids = []
    try:
        for seed in (24, 25):
            file_id = drive.add_file(f"fila{seed}.mp4", size=4 * MIB, seed=seed)
            created = client.post("/api/downloads", json={"url": _drive_url(file_id)})
            ids.append(created.get_json()["download"]["id"])
        seen_waiting = set()

        def both_done():
            bodies = [client.get(f"/api/downloads/{i}").get_json() for i in ids]
            running = [b for b in bodies if b["state"] == "running"]
            assert len(running) <= 1, "two downloads ran at once with concurrency 1"
            seen_waiting.update(b["waiting_reason"] for b in bodies if b["waiting_reason"])
            return all(b["state"] == "succeeded" for b in bodies)

        wait_for(both_done, 60, interval=0.05, what="both downloads, one after the other")
    finally:
        drive.media_bytes_per_s = None
    assert seen_waiting == {"concurrency"}
