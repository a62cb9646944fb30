"""Several Google connections at once (CONTRACT 8.1): each indexes its own folders and courses
with its own credentials, a file two accounts reach is one item, deleting one removes only what
no other reaches; completions racing for one account make one connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api.extensions import SERVICES
from core.base.models import CatalogItem, Course, GoogleConnection, SourceState
from core.base.sources import Source
from core.base.vault import Vault
from core.catalog import accounts
from core.catalog.indexing import rebuild_drive, sync_drive
from core.catalog.sources.sync import sync_classroom
from core.google import connections
from core.google.drive import DriveClient
from tests.api.test_google_connections import _callback, _connect, _consent
from tests.core.races import just_before
from tests.fakes.google import FakeGoogle, drive_file

A, B = "student@example.com", "me@personal.example"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
def app(make_app: Any, google: FakeGoogle) -> Any:
    env = {**google.env(), "PUBLIC_URL": "http://localhost:8000"}
    return make_app(**{key.lower(): value for key, value in env.items()})


@pytest.fixture
def client(app: Any) -> FlaskClient:
    return app.test_client()


def _two_accounts(client: FlaskClient, google: FakeGoogle) -> tuple[int, int]:
    _connect(client, google)
    for email in (A, B):
        google.account_email = email
        assert _callback(client, _consent(client)[1]).status_code == 303
    first, second = client.get("/api/google/connections").get_json()["items"]
    return first["id"], second["id"]


def _sync_all(app: Any) -> dict[str, Any]:
    services = app.extensions[SERVICES]
    settings, db = services.settings, services.db
    drive = accounts.each(
        accounts.drive_clients(settings, db), lambda c: rebuild_drive(services, c)
    )
    classroom = accounts.each(
        accounts.classroom_clients(settings, db),
        lambda c: sync_classroom(db, c, DriveClient(settings, c.auth, c.session)),
    )
    return {"drive": drive, "classroom": classroom}


def _items(app: Any) -> dict[str, int | None]:
    with app.extensions[SERVICES].db.session() as session:
        return {i.title: i.connection_id for i in session.scalars(select(CatalogItem))}


def _courses(app: Any) -> dict[str, int | None]:
    with app.extensions[SERVICES].db.session() as session:
        return {c.name: c.connection_id for c in session.scalars(select(Course))}


def _world(google: FakeGoogle) -> dict[str, str]:
    physics, maths, shared = (google.add_folder(n) for n in ("Physics", "Maths", "Shared"))
    google.add_file("waves.mp4", physics, size=1000, seed=1)
    google.add_file("algebra.mp4", maths, size=1000, seed=2)
    google.add_file("common.mp4", shared, size=1000, seed=3)
    school = google.add_course("School course", members=(A,))
    home = google.add_course("Home course", members=(B,))
    for course, name in ((school, "s.mp4"), (home, "h.mp4")):
        file_id = google.add_file(name, size=9, seed=9)
        google.add_course_material(course, "Week 1", [drive_file(file_id, name)])
    return {"physics": physics, "maths": maths, "shared": shared}


def test_each_connection_indexes_its_own_folders_and_courses_and_delete_takes_only_its_own(
    app, client, google
):
    folders = _world(google)
    first, second = _two_accounts(client, google)
    for cid, mine in ((first, ["physics", "shared"]), (second, ["maths", "shared"])):
        body = {"drive_folder_ids": [folders[name] for name in mine]}
        assert client.patch(f"/api/google/connections/{cid}", json=body).status_code == 200
    result = _sync_all(app)
    assert set(result["drive"]["connections"]) == {str(first), str(second)}
    items = _items(app)
    # One item for the file both reach; each account's files and courses through itself.
    assert [t for t in items if t == "common.mp4"] == ["common.mp4"]
    assert items["waves.mp4"] == first and items["algebra.mp4"] == second
    assert items["s.mp4"] == first and items["h.mp4"] == second
    assert _courses(app) == {"School course": first, "Home course": second}
    shown = client.get("/api/catalog/items?source=drive").get_json()["items"]
    assert {i["title"] for i in shown} == {"waves.mp4", "algebra.mp4", "common.mp4"}

    owner = items["common.mp4"]
    other = second if owner == first else first
    assert client.delete(f"/api/google/connections/{owner}").status_code == 204
    after = _items(app)
    assert after["common.mp4"] == other  # the other account still reaches it: it streams it
    gone = {"waves.mp4", "s.mp4"} if owner == first else {"algebra.mp4", "h.mp4"}
    assert not gone & set(after)
    assert set(_courses(app).values()) == {other}
    with app.extensions[SERVICES].db.session() as session:
        keys = {s.source for s in session.scalars(select(SourceState))}
    assert f"drive:{other}" in keys and f"drive:{owner}" not in keys


def test_a_withdrawn_account_stops_alone_and_each_follows_its_own_changes(app, client, google):
    folders = _world(google)
    first, second = _two_accounts(client, google)
    client.patch(
        f"/api/google/connections/{first}", json={"drive_folder_ids": [folders["physics"]]}
    )
    client.patch(f"/api/google/connections/{second}", json={"drive_folder_ids": [folders["maths"]]})
    _sync_all(app)
    google.add_file("limits.mp4", folders["maths"], size=1000, seed=4)
    google.kill_refresh_tokens(A)
    google.expire_all_tokens()
    services = app.extensions[SERVICES]
    result = accounts.each(
        [DriveClient.from_settings(services.settings, services.db, c) for c in (first, second)],
        lambda c: sync_drive(services, c),
    )
    assert result["connections"][str(first)]["error"] == "google_reconnect_required"
    assert result["updated"] >= 1
    assert _items(app)["limits.mp4"] == second
    assert client.get(f"/api/google/connections/{first}").get_json()["status"] == "needs_reconnect"
    # The next sync goes through the account that is ok only.
    assert [c.auth.creds.connection_id for c in accounts.drive_clients(
        services.settings, services.db)] == [second]  # fmt: skip


def test_drive_endpoints_default_to_the_first_ok_connection(app, client, google):
    folders = _world(google)
    first, second = _two_accounts(client, google)
    google.kill_refresh_tokens(A)
    google.expire_all_tokens()
    services = app.extensions[SERVICES]
    connections.mark_needs_reconnect(services.db, first, "invalid_grant")
    listed = client.get(f"/api/drive/files?folder_id={folders['physics']}")
    assert listed.status_code == 200, listed.get_json()
    assert client.get(f"/api/drive/files?connection_id={first}").status_code == 502
    assert client.get(f"/api/drive/files?connection_id={second}").status_code == 200


def test_two_completions_for_one_account_at_once_make_one_connection(app, client, google):
    _connect(client, google)
    db = app.extensions[SERVICES].db
    vault = Vault(db, app.extensions[SERVICES].settings.fernet_keys)
    redirect = _consent(client)[1]

    def competitor() -> None:  # the other completion, between our lookup and our insert
        connections.save(db, vault, kind="oauth", email=A, scopes=["openid"],
                         secret={"refresh_token": "other"}, folders=["root"])  # fmt: skip

    with just_before(db, "INSERT INTO google_connections", competitor) as fired:
        response = _callback(client, redirect)
    assert fired, "the interleaving did not happen"
    assert response.status_code == 303, response.get_data(as_text=True)
    with db.session() as session:
        rows = list(session.scalars(select(GoogleConnection)))
    assert [row.email for row in rows] == [A]
    secret = connections.secret_of(db, vault, rows[0].id)
    assert secret["refresh_token"] in google.live_refresh_tokens()  # the last completion's


def test_a_refused_reconnect_revokes_the_grant_it_got(client, google):
    _connect(client, google)
    _callback(client, _consent(client)[1])
    (connection,) = client.get("/api/google/connections").get_json()["items"]
    google.account_email = "someone.else@example.com"
    before = set(google.live_refresh_tokens())
    redirect = _consent(client, f"/api/google/connections/{connection['id']}/reconnect")[1]
    assert _callback(client, redirect).status_code == 400
    stray = set(google.revoked_tokens)
    assert len(stray) == 1 and not stray & before  # the new grant, not the connection's own
    assert set(google.live_refresh_tokens()) == before


def test_the_service_account_answer_is_documented(client):
    spec = client.get("/api/openapi.json").get_json()
    created = spec["paths"]["/api/google/connections"]["post"]["responses"]["201"]
    text = str(created)
    assert "GoogleConnection" in text or "Connection" in text
    assert "Started" in text


def test_items_keep_their_source(app, client, google):
    # A Drive file also posted in a course is an item of each source, both through the account.
    folder = google.add_folder("Both")
    file_id = google.add_file("both.mp4", folder, size=1000, seed=5)
    course = google.add_course("Course", members=(A,))
    google.add_course_material(course, "Week", [drive_file(file_id, "both.mp4")])
    _connect(client, google)
    google.account_email = A
    _callback(client, _consent(client)[1])
    (only,) = client.get("/api/google/connections").get_json()["items"]
    client.patch(f"/api/google/connections/{only['id']}", json={"drive_folder_ids": [folder]})
    _sync_all(app)
    with app.extensions[SERVICES].db.session() as session:
        rows = [(i.source, i.connection_id) for i in session.scalars(select(CatalogItem))]
    assert sorted(rows) == [(Source.CLASSROOM, only["id"]), (Source.DRIVE, only["id"])]


def test_items_from_before_connections_are_adopted_or_removed_by_the_first_rebuild(
    app, client, google
):
    kept = google.add_file("kept.mp4", size=1000, seed=6)
    services = app.extensions[SERVICES]
    with services.db.session() as session:  # catalogued by the by-hand credential, long ago
        session.add(CatalogItem(source="drive", source_id=kept, title="kept.mp4"))
        session.add(CatalogItem(source="drive", source_id="gone-id", title="gone.mp4"))
        session.add(CatalogItem(source="local", source_id="a/b.mp4", title="b.mp4"))
    _connect(client, google)
    _callback(client, _consent(client)[1])
    (only,) = client.get("/api/google/connections").get_json()["items"]
    rebuild_drive(services, DriveClient.from_settings(services.settings, services.db))
    assert _items(app) == {"kept.mp4": only["id"], "b.mp4": None}


def test_an_item_plays_through_another_account_while_its_own_needs_reconnecting(
    app, client, google
):
    shared = google.add_folder("Shared")
    google.add_file("common.mp4", shared, size=5000, seed=7)
    first, second = _two_accounts(client, google)
    for cid in (first, second):
        client.patch(f"/api/google/connections/{cid}", json={"drive_folder_ids": [shared]})
    _sync_all(app)
    (item,) = client.get("/api/catalog/items?source=drive").get_json()["items"]
    assert item["connection_id"] == first
    assert client.get(f"/api/catalog/items/{item['id']}/stream").status_code == 200
    google.kill_refresh_tokens(A)
    google.expire_all_tokens()
    services = app.extensions[SERVICES]
    connections.mark_needs_reconnect(services.db, first, "invalid_grant")
    played = client.get(f"/api/catalog/items/{item['id']}/stream", headers={"Range": "bytes=0-9"})
    assert played.status_code == 206 and played.data == google.content_of(item["source_id"], 0, 10)
    file_path = f"/api/drive/files/{item['source_id']}"
    assert client.get(f"{file_path}/stream?connection_id={second}").status_code == 200
    assert client.get(f"{file_path}/stream?connection_id=999").status_code == 404
    assert client.get(f"{file_path}/thumbnail?connection_id=abc").status_code == 422


def test_a_course_only_the_second_account_sees_can_be_subscribed_before_a_sync(app, client, google):
    course = google.add_course("Home only", members=(B,))
    _two_accounts(client, google)
    body = {"source": "classroom", "course_id": course}
    response = client.post("/api/subscriptions", json=body)
    assert response.status_code == 201, response.get_json()
    hidden = google.add_course("Nobody's", members=("third@example.com",))
    refused = client.post("/api/subscriptions", json={"source": "classroom", "course_id": hidden})
    assert refused.status_code == 404


def test_a_change_one_account_no_longer_sees_leaves_the_item_to_the_other(app, client, google):
    physics, shared = google.add_folder("Physics"), google.add_folder("Shared")
    common = google.add_file("common.mp4", shared, size=1000, seed=10)
    first, second = _two_accounts(client, google)
    client.patch(f"/api/google/connections/{first}", json={"drive_folder_ids": [shared]})
    body = {"drive_folder_ids": [shared, physics]}
    client.patch(f"/api/google/connections/{second}", json=body)
    _sync_all(app)
    assert _items(app) == {"common.mp4": first}
    services = app.extensions[SERVICES]

    def sync(cid: int) -> dict[str, int]:
        return sync_drive(services, DriveClient.from_settings(services.settings, services.db, cid))

    google.move(common, physics)  # out of the first account's folders, still in the second's
    assert sync(first)["removed"] == 1
    assert _items(app) == {"common.mp4": second}  # the second still reaches it: it stays
    assert sync(second)["updated"] == 1
    google.trash(common)
    sync(second)
    assert _items(app) == {}
