"""api/media_links: which stream answers get a link nginx checks, and what the link signs."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask import Flask, Response

from api.extensions import SERVICES, make_celery_client
from api.media_links import link_token
from api.streaming import local_file_response
from core.base.errors import ConfigurationError
from core.base.services import Services
from core.base.settings import load_settings

SECRET = "5be1c0a7f2d94e6b8a3c1d0e9f7a6b5c"
NGINX = {"X-Aula-Accel": "1"}


def _app(folder: Path, name: str, **settings: object) -> Flask:
    app = Flask(__name__)
    config = load_settings(accel_redirect_prefix="/_accel", **settings)
    app.extensions[SERVICES] = Services.build(config, broker=make_celery_client(config))
    (folder / name).write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)

    @app.get("/stream")
    def stream() -> Response:
        return local_file_response(folder / name)

    @app.get("/download")
    def download() -> Response:
        return local_file_response(folder / name, download_name="lesson.mp4")

    return app


def test_a_stream_through_nginx_is_redirected_to_a_link_nginx_can_check(tmp_path: Path) -> None:
    client = _app(tmp_path, "leçon 1.mp4", media_link_secret=SECRET).test_client()

    answer = client.get("/stream", headers={**NGINX, "Range": "bytes=0-9"})

    assert answer.status_code == 302 and answer.data == b""
    assert answer.headers["Cache-Control"] == "private, no-store"
    link = urlsplit(answer.headers["Location"])
    uri = unquote(link.path)
    assert uri == "/_direct" + str((tmp_path / "leçon 1.mp4").resolve())
    query = {key: value[0] for key, value in parse_qs(link.query).items()}
    # What nginx computes: secure_link_md5 "$secure_link_expires$uri <secret>", base64url.
    digest = hashlib.md5(f"{query['expires']}{uri} {SECRET}".encode()).digest()
    assert query["md5"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["md5"] == link_token(SECRET, uri, int(query["expires"]))


@pytest.mark.parametrize(
    ("settings", "path", "headers"),
    [
        ({}, "/stream", NGINX),  # no secret: X-Accel-Redirect per request, as before
        ({"media_link_secret": SECRET}, "/download", NGINX),  # a download keeps its name
        ({"media_link_secret": SECRET}, "/stream", {"X-Aula-Accel": "yes"}),  # not nginx's mark
    ],
    ids=["no-secret", "download", "odd-mark"],
)
def test_otherwise_no_link(tmp_path: Path, settings: dict, path: str, headers: dict) -> None:
    client = _app(tmp_path, "a.mp4", **settings).test_client()

    answer = client.get(path, headers=headers)

    assert "Location" not in answer.headers
    assert answer.status_code == 200


def test_without_nginx_flask_sends_the_range(tmp_path: Path) -> None:
    client = _app(tmp_path, "a.mp4", media_link_secret=SECRET).test_client()

    answer = client.get("/stream", headers={"Range": "bytes=0-9"})

    assert answer.status_code == 206 and answer.data == (tmp_path / "a.mp4").read_bytes()[:10]


def test_the_secret_is_long_enough_and_never_shown() -> None:
    with pytest.raises(ConfigurationError, match="MEDIA_LINK_SECRET"):
        load_settings(media_link_secret="short")
    assert SECRET not in repr(load_settings(media_link_secret=SECRET))
