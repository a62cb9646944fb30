"""ACCEL_REDIRECT_PREFIX: local files handed to nginx by X-Accel-Redirect, only when nginx asks."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from flask import Flask, Response

from api.extensions import SERVICES, make_celery_client
from api.streaming import local_file_response
from core.base.errors import ConfigurationError
from core.base.services import Services
from core.base.settings import load_settings

NAME = "leçon 1 – vidéo.mp4"


def _app(tmp_path: Path, prefix: str) -> Flask:
    app = Flask(__name__)
    settings = load_settings(accel_redirect_prefix=prefix)
    app.extensions[SERVICES] = Services.build(settings, broker=make_celery_client(settings))
    (tmp_path / NAME).write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)

    @app.get("/file")
    def file() -> Response:
        return local_file_response(tmp_path / NAME, download_name="a b.mp4")

    return app


def test_a_request_nginx_marks_gets_the_redirect_and_no_body(tmp_path: Path) -> None:
    client = _app(tmp_path, "/_accel").test_client()

    answer = client.get("/file", headers={"X-Aula-Accel": "1", "Range": "bytes=0-9"})

    uri = answer.headers["X-Accel-Redirect"]
    assert uri.endswith("/le%C3%A7on%201%20%E2%80%93%20vid%C3%A9o.mp4")  # a URI: ASCII, no spaces
    assert unquote(uri) == "/_accel" + str((tmp_path / NAME).resolve())
    assert answer.status_code == 200 and answer.data == b""
    assert answer.headers["Content-Type"] == "video/mp4"
    assert answer.headers["Content-Disposition"].startswith("inline")
    assert "Content-Range" not in answer.headers  # ranges are nginx's then


@pytest.mark.parametrize(
    ("prefix", "headers"),
    [("/_accel", {}), ("/_accel", {"X-Aula-Accel": "yes"}), ("", {"X-Aula-Accel": "1"})],
    ids=["not-from-nginx", "odd-mark", "off"],
)
def test_otherwise_flask_sends_the_bytes(tmp_path: Path, prefix: str, headers: dict[str, str]):
    client = _app(tmp_path, prefix).test_client()

    answer = client.get("/file", headers={**headers, "Range": "bytes=0-9"})

    assert "X-Accel-Redirect" not in answer.headers
    assert answer.status_code == 206
    assert answer.data == (tmp_path / NAME).read_bytes()[:10]


def test_the_prefix_must_be_a_plain_path() -> None:
    for bad in ("_accel", "/_accel/", "/a b", "http://x/"):
        with pytest.raises(ConfigurationError, match="ACCEL_REDIRECT_PREFIX"):
            load_settings(accel_redirect_prefix=bad)
