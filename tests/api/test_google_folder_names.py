"""A connection's folders carry their names (CONTRACT 8.1, for Settings): learned from Drive when
picked and at each rebuild, shown without asking Drive, and kept once a folder cannot be read."""

from __future__ import annotations

from typing import Any

from api.extensions import SERVICES
from core.catalog.indexing import rebuild_drive
from core.google.drive import DriveClient
from tests.api.test_google_connections import _callback, _connect, _consent, client, google  # noqa: F401


def _folders(body: dict[str, Any]) -> dict[str, tuple[str | None, bool | None]]:
    assert [f["id"] for f in body["drive_folders"]] == body["drive_folder_ids"]
    return {f["id"]: (f["name"], f["readable"]) for f in body["drive_folders"]}


def test_folders_are_named_when_picked_and_keep_their_name_once_unreadable(client, google):  # noqa: F811
    _connect(client, google)
    _callback(client, _consent(client)[1])
    (made,) = client.get("/api/google/connections").get_json()["items"]
    assert _folders(made) == {"root": (None, None)}  # not asked yet
    physics, maths = google.add_folder("Physics lessons"), google.add_folder("Maths")
    body = {"drive_folder_ids": [physics, maths, "root", "no-such-folder"]}
    patched = client.patch(f"/api/google/connections/{made['id']}", json=body)
    assert patched.status_code == 200
    assert _folders(patched.get_json()) == {
        physics: ("Physics lessons", True), maths: ("Maths", True),
        "root": ("My Drive", True), "no-such-folder": (None, False),
    }  # fmt: skip
    google.clear_log()
    shown = client.get(f"/api/google/connections/{made['id']}").get_json()
    assert _folders(shown) == _folders(patched.get_json())
    assert google.requests == [], "showing a connection asked Drive"

    # Drive changes: one folder renamed, one deleted; the rebuild learns both.
    google.rename(maths, "Maths 2027")
    google.delete(physics)
    app = client.application
    services = app.extensions[SERVICES]
    rebuild_drive(services, DriveClient.from_settings(services.settings, services.db, made["id"]))
    after = _folders(client.get(f"/api/google/connections/{made['id']}").get_json())
    assert after[physics] == ("Physics lessons", False)
    assert after[maths] == ("Maths 2027", True)

    # Unpicking a folder forgets what was said of it.
    body = {"drive_folder_ids": [maths]}
    patched = client.patch(f"/api/google/connections/{made['id']}", json=body).get_json()
    assert _folders(patched) == {maths: ("Maths 2027", True)}
