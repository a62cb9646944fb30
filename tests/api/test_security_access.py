"""REQUIRE_AUTH_FOR_READS: every /api read needs the token, except probes, docs and signed media."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from api.access import media_key
from core.base import signing
from core.base.errors import ConfigurationError
from core.base.settings import Settings, load_settings
from core.catalog.indexing import rebuild_local
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.test_auth import OUTSIDER, TOKEN, sample_value
from tests.helpers import empty_dir
from tests.media import make_video
from tests.services import services_of

READS = ("GET", "HEAD")
BEARER = {"Authorization": f"Bearer {TOKEN}"}
# Open whatever the setting says (the contract's probes, the API description, the UI, metrics).
OPEN = {"/api/health", "/api/health/ready", "/api/openapi.json", "/metrics", "/", "/ui/app.js"}
# Open on purpose: its single-use state is the capability (CONTRACT 8.1); tests/api/
# test_google_connections.py proves a forged or used state gets nothing.
OPEN |= {"/api/google/oauth/callback"}


@pytest.fixture
def guarded(make_app: MakeApp) -> Flask:
    return make_app(admin_token=TOKEN, require_auth_for_reads=True)


@pytest.fixture
def video(settings: Settings) -> Path:
    """One local video in the catalog."""
    root = settings.media_roots[0]
    empty_dir(root)
    path = make_video(root / "aula um.mp4", seconds=1)
    rebuild_local(services_of(settings))
    return path


def read_paths(app: Flask) -> list[tuple[str, str]]:
    """(rule, concrete path) for every readable /api rule of the app."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and str(rule).startswith("/api/"):
            values = {arg: sample_value(rule, arg) for arg in rule.arguments}
            found.append((str(rule), adapter.build(rule.endpoint, values, method="GET")))
    return found


def items(client: FlaskClient) -> list[dict]:
    response = client.get("/api/catalog/items", headers=BEARER)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def signed_for(settings_: Settings, path: str, exp: int) -> str:
    key = media_key(settings_)
    assert key is not None
    return signing.sign_url(key, path, exp)


def test_every_api_read_needs_the_token(guarded: Flask) -> None:
    client = guarded.test_client()
    walked = read_paths(guarded)
    assert {"/api/credentials", "/api/tasks", "/api/catalog/items"} <= {r for r, _ in walked}

    for rule, path in walked:
        if path in OPEN or path.startswith("/api/docs"):
            continue
        for method in READS:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Admin-Token": TOKEN[:-1]}):
                response = client.open(path, method=method, headers=headers)
                assert response.status_code == 401, f"{method} {rule}: {response.status_code}"
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                if method == "GET":
                    assert_envelope(response, 401, "unauthorized")
    assert_envelope(client.get("/api/no-such-thing"), 401, "unauthorized")


def test_reads_pass_with_the_token_from_anywhere(guarded: Flask) -> None:
    client = guarded.test_client()

    for headers in (BEARER, {"X-Admin-Token": TOKEN}):
        for path in ("/api/credentials", "/api/tasks", "/api/catalog/items", "/api/downloads"):
            response = client.get(path, headers=headers, environ_base=OUTSIDER)
            assert response.status_code == 200, (path, response.get_json())


def test_probes_docs_ui_and_metrics_stay_open(guarded: Flask) -> None:
    client = guarded.test_client()

    assert client.get("/api/health", environ_base=OUTSIDER).status_code == 200
    assert client.get("/api/health/ready").status_code in (200, 503)
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/docs/swagger-ui.css").status_code == 200
    assert client.get("/metrics").status_code == 200
    # The web UI holds no data: whatever serves it (or not yet), it is never a 401.
    assert client.get("/").status_code != 401
    assert client.get("/ui/app.js").status_code != 401


def test_with_reads_open_nothing_is_asked_and_urls_are_plain(
    make_app: MakeApp, settings: Settings, video: Path
) -> None:
    client = make_app(admin_token=TOKEN).test_client()

    listed = client.get("/api/catalog/items", environ_base=OUTSIDER)
    assert listed.status_code == 200
    item = listed.get_json()["items"][0]
    assert item["stream_url"] == f"/api/catalog/items/{item['id']}/stream"
    assert item["thumbnail_url"] == f"/api/catalog/items/{item['id']}/thumbnail"
    assert client.get(item["stream_url"], environ_base=OUTSIDER).status_code == 200
    assert client.get("/api/credentials", environ_base=OUTSIDER).status_code == 200


def test_signed_urls_play_without_headers(guarded: Flask, video: Path) -> None:
    client = guarded.test_client()
    item = items(client)[0]
    path, query = split(item["stream_url"])

    assert path == f"/api/catalog/items/{item['id']}/stream"
    assert set(query) == {"exp", "sig"} and int(query["exp"]) > time.time() + 3000
    full = client.get(item["stream_url"], environ_base=OUTSIDER)
    assert full.status_code == 200 and full.data == video.read_bytes()
    head = client.head(item["stream_url"])
    assert head.status_code == 200 and not head.data
    assert int(head.headers["Content-Length"]) == video.stat().st_size
    part = client.get(item["stream_url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == video.read_bytes()[10:20]
    thumbnail = client.get(item["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.mimetype.startswith("image/")
    assert_envelope(client.get(path), 401, "unauthorized")


def _tampered(url: str, change: str) -> str:
    path, query = split(url)
    if change == "path":
        path = path.replace("/stream", "/thumbnail")
    elif change == "exp":
        query["exp"] = str(int(query["exp"]) + 86400)
    elif change == "sig":
        query["sig"] = ("A" if query["sig"][0] != "A" else "B") + query["sig"][1:]
    elif change == "no-sig":
        del query["sig"]
    elif change == "no-exp":
        del query["exp"]
    return path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


@pytest.mark.parametrize("change", ["path", "exp", "sig", "no-sig", "no-exp"])
def test_a_tampered_signed_url_is_forbidden(guarded: Flask, video: Path, change: str) -> None:
    client = guarded.test_client()
    url = items(client)[0]["stream_url"]

    details = assert_envelope(client.get(_tampered(url, change)), 403, "forbidden")
    assert details == {"reason": "bad_signature"}
    assert client.head(_tampered(url, change)).status_code == 403


def test_an_expired_signed_url_is_unauthorized(
    guarded: Flask, settings: Settings, video: Path
) -> None:
    client = guarded.test_client()
    item = items(client)[0]
    config = guarded.extensions["aula.settings"]
    path = f"/api/catalog/items/{item['id']}/stream"

    expired = signed_for(config, path, int(time.time()) - 5)
    details = assert_envelope(client.get(expired), 401, "unauthorized")
    assert details == {"reason": "expired"}
    assert client.get(signed_for(config, path, int(time.time()) + 60)).status_code == 200


def test_a_signature_opens_only_its_own_item(
    guarded: Flask, settings: Settings, video: Path
) -> None:
    make_video(settings.media_roots[0] / "aula dois.mp4", seconds=1)
    rebuild_local(services_of(settings))
    client = guarded.test_client()
    first, second = items(client)[:2]
    _, query = split(first["stream_url"])
    borrowed = f"/api/catalog/items/{second['id']}/stream?exp={query['exp']}&sig={query['sig']}"

    assert_envelope(client.get(borrowed), 403, "forbidden")
    assert client.get(second["stream_url"]).status_code == 200


def test_a_signature_never_opens_json(guarded: Flask, video: Path) -> None:
    client = guarded.test_client()
    config = guarded.extensions["aula.settings"]
    item_id = items(client)[0]["id"]

    for path in (f"/api/catalog/items/{item_id}", "/api/credentials", "/api/tasks"):
        signed = signed_for(config, path, int(time.time()) + 600)
        assert_envelope(client.get(signed), 401, "unauthorized")


def test_the_signing_key_comes_from_the_encryption_key_not_the_token(
    guarded: Flask, settings: Settings, video: Path
) -> None:
    client = guarded.test_client()
    item_id = items(client)[0]["id"]
    path = f"/api/catalog/items/{item_id}/stream"
    exp = int(time.time()) + 600
    current = guarded.extensions["aula.settings"].model_dump()
    new_token = load_settings(**{**current, "admin_token": TOKEN + "-rotated"})
    other_key = load_settings(**{**current, "encryption_key": Fernet.generate_key().decode()})

    # A leaked URL says nothing about ADMIN_TOKEN: a key derived from it does not verify ...
    from_token = signing.sign_url(signing.derive_key(TOKEN), path, exp)
    assert_envelope(client.get(from_token), 403, "forbidden")
    # ... changing the token keeps the key, and another ENCRYPTION_KEY makes another one.
    assert media_key(new_token) == media_key(guarded.extensions["aula.settings"])
    assert client.get(signed_for(new_token, path, exp)).status_code == 200
    assert_envelope(client.get(signed_for(other_key, path, exp)), 403, "forbidden")


def test_download_files_carry_a_signed_url(guarded: Flask, settings: Settings, video: Path) -> None:
    client = guarded.test_client()
    download = _finished_download(settings, video, items(client)[0]["id"])

    body = client.get(f"/api/downloads/{download}", headers=BEARER).get_json()
    assert body["file"]["url"] == body["file_url"]
    path, query = split(body["file"]["url"])
    assert path == f"/api/downloads/{download}/file" and set(query) == {"exp", "sig"}
    fetched = client.get(body["file"]["url"], headers={"Range": "bytes=0-99"})
    assert fetched.status_code == 206 and fetched.data == video.read_bytes()[:100]
    assert_envelope(client.get(path), 401, "unauthorized")
    listed = client.get("/api/catalog/items", headers=BEARER).get_json()["items"][0]
    assert split(listed["download"]["file_url"])[0] == path
    assert client.get(listed["download"]["file_url"]).status_code == 200


def _finished_download(settings: Settings, video: Path, item_id: int) -> int:
    """A succeeded download whose file is `video`'s bytes, recorded as a worker would."""
    from core.base.db import session_scope
    from core.base.models import Download

    target = settings.download_dir / "done" / "aula.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(video.read_bytes())
    with session_scope(settings.database_url) as session:
        row = Download(
            url="https://videos.example/aula.mp4", kind="ytdlp", state="succeeded",
            file_path="done/aula.mp4", file_size=target.stat().st_size, sha256="0" * 64,
            attempts=1, item_id=item_id,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return int(row.id)


def test_drive_listings_carry_signed_thumbnails_and_streams(guarded: Flask, drive) -> None:
    file_id = drive.add_file("aula.mp4", content=b"\0" * 2048)
    folder = drive.add_folder("Unidade")
    client = guarded.test_client()

    listed = client.get("/api/drive/files?folder_id=root", headers=BEARER).get_json()["files"]
    by_id = {entry["id"]: entry for entry in listed}
    assert by_id[folder]["stream_url"] is None
    thumbnail, stream = by_id[file_id]["thumbnail_url"], by_id[file_id]["stream_url"]
    assert split(thumbnail)[0] == f"/api/drive/files/{file_id}/thumbnail"
    assert split(stream)[0] == f"/api/drive/files/{file_id}/stream"
    assert client.get(thumbnail).status_code == 200
    ranged = client.get(stream, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.data == b"\0" * 10
    assert_envelope(client.get(split(stream)[0]), 401, "unauthorized")


def test_reads_need_admin_token_configured() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(require_auth_for_reads=True, admin_token=None)
    assert str(caught.value) == (
        "configuration error: REQUIRE_AUTH_FOR_READS: needs ADMIN_TOKEN to be set"
    )
