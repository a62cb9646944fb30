"""Drive content outside the indexed folders (and Classroom materials) is the admin's: the token
when ADMIN_TOKEN is set (401 otherwise), this machine only when it is unset (403 otherwise)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from core.base.db import session_scope
from core.base.models import CatalogItem
from core.base.settings import Settings
from core.catalog.indexing import rebuild_drive
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.test_auth import OUTSIDER, TOKEN
from tests.services import drive_client, services_of

AUTH = {"X-Admin-Token": TOKEN}


def urls(file_id: str) -> list[str]:
    base = f"/api/drive/files/{file_id}"
    return [base, f"{base}/thumbnail", f"{base}/stream"]


@pytest.fixture
def tree(drive: Any) -> dict[str, str]:
    """An indexed course folder with a nested video, and a private folder beside it."""
    course = drive.add_folder("Curso")
    unit = drive.add_folder("Unidade 1", course)
    private = drive.add_folder("Pessoal")
    return {
        "course": course,
        "unit": unit,
        "lesson": drive.add_file("aula.mp4", unit, content=b"\0" * 4096),
        "private": private,
        "diary": drive.add_file("diario.mp4", private, content=b"\1" * 4096),
        "material": drive.add_file("material.mp4", private, content=b"\2" * 4096),
    }


def _build(make_app: MakeApp, tree: dict[str, str], **settings: Any) -> Flask:
    return make_app(drive_folder_ids=tree["course"], **settings)


def test_with_a_token_outside_content_needs_it(make_app: MakeApp, tree: dict[str, str]) -> None:
    client = _build(make_app, tree, admin_token=TOKEN).test_client()

    outside = [f"/api/drive/files?folder_id={tree['private']}", "/api/drive/files?folder_id=root"]
    outside += urls(tree["diary"]) + urls("no-such-file-id")
    for url in outside:
        for environ in (OUTSIDER, {}):
            response = client.get(url, environ_base=environ)
            details = assert_envelope(response, 401, "unauthorized")
            assert details == {"reason": "outside_indexed_folders"}, url
    for url in outside[:-3]:
        assert client.get(url, headers=AUTH, environ_base=OUTSIDER).status_code == 200, url
    assert client.get(urls("no-such-file-id")[0], headers=AUTH).status_code == 404


def test_inside_content_is_open_live_and_from_the_catalog(
    make_app: MakeApp, settings: Settings, tree: dict[str, str]
) -> None:
    app = _build(make_app, tree, admin_token=TOKEN)
    client = app.test_client()
    inside = [f"/api/drive/files?folder_id={tree[name]}" for name in ("course", "unit")]
    inside += urls(tree["lesson"]) + urls(tree["unit"])[:1]

    for url in inside:  # live: the lesson's parents lead to the indexed folder
        assert client.get(url, environ_base=OUTSIDER).status_code == 200, url
    rebuild_drive(
        services_of(app.extensions["aula.settings"]),
        drive_client(settings),
    )
    for url in inside:
        assert client.get(url, environ_base=OUTSIDER).status_code == 200, url
    assert client.get(urls(tree["diary"])[2], environ_base=OUTSIDER).status_code == 401


def test_a_classroom_material_is_inside(
    make_app: MakeApp, settings: Settings, tree: dict[str, str]
) -> None:
    client = _build(make_app, tree, admin_token=TOKEN).test_client()
    assert client.get(urls(tree["material"])[2], environ_base=OUTSIDER).status_code == 401
    with session_scope(settings.database_url) as session:  # as a Classroom sync records it
        session.add(
            CatalogItem(
                source="classroom", source_id=tree["material"], title="material", is_video=True,
                course_id="600000000001", extra={"drive_file_id": tree["material"]},
            )
        )  # fmt: skip

    for url in urls(tree["material"]):
        assert client.get(url, environ_base=OUTSIDER).status_code == 200, url
    assert client.get(urls(tree["diary"])[0], environ_base=OUTSIDER).status_code == 401


def test_without_a_token_outside_content_is_for_this_machine_only(
    make_app: MakeApp, tree: dict[str, str]
) -> None:
    client = _build(make_app, tree).test_client()
    outside = [f"/api/drive/files?folder_id={tree['private']}", *urls(tree["diary"])]

    for url in outside:
        details = assert_envelope(client.get(url, environ_base=OUTSIDER), 403, "forbidden")
        assert details == {"reason": "outside_indexed_folders"}
        # DNS rebinding: a loopback peer that asked for another site's name.
        rebound = client.get(url, headers={"Host": "rebind.evil.example:8000"})
        assert_envelope(rebound, 403, "forbidden")
        assert client.get(url).status_code == 200, url  # this machine: the UI, curl
    for url in urls(tree["lesson"]):
        assert client.get(url, environ_base=OUTSIDER).status_code == 200, url


def test_the_admin_gets_signed_media_urls_that_play_without_headers(
    make_app: MakeApp, tree: dict[str, str]
) -> None:
    client = _build(make_app, tree, admin_token=TOKEN).test_client()
    listing = f"/api/drive/files?folder_id={tree['private']}"

    files = client.get(listing, headers=AUTH).get_json()["files"]
    entry = next(f for f in files if f["id"] == tree["diary"])
    assert "sig=" in entry["stream_url"] and "sig=" in entry["thumbnail_url"]
    # What a <video> element sends: the URL alone, no header.
    played = client.get(entry["stream_url"], environ_base=OUTSIDER)
    assert played.status_code == 200 and played.data == b"\1" * 4096
    assert client.get(entry["thumbnail_url"], environ_base=OUTSIDER).status_code == 200
    tampered = entry["stream_url"].replace(tree["diary"], tree["material"])
    assert client.get(tampered, environ_base=OUTSIDER).status_code == 401


def test_with_people_outside_content_is_for_admins(make_app: MakeApp, tree: dict[str, str]) -> None:
    from tests.api.people_support import with_viewer

    admin, viewer = with_viewer(_build(make_app, tree))
    outside = f"/api/drive/files?folder_id={tree['private']}"
    details = assert_envelope(viewer.client.get(outside), 403, "forbidden")
    assert details == {"reason": "outside_indexed_folders"}
    assert admin.client.get(outside).status_code == 200
    assert viewer.client.get(f"/api/drive/files?folder_id={tree['course']}").status_code == 200
