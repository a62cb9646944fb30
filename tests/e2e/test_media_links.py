"""Signed media links through deploy/nginx: Flask authorises a stream once, nginx serves the seeks.

The real web process (gunicorn, gunicorn.conf.py) behind the real aula.conf on the host's nginx.
Counted on web's own /metrics (every request web answers, summed over its workers): the seeks a
player sends to the link Flask issued never reach gunicorn.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import requests

from api.extensions import make_celery_client
from api.media_links import link_token
from core.base.services import Services
from core.base.settings import Settings
from core.catalog.local_scan import rebuild_local
from tests.e2e.web_process import start_web
from tests.helpers import stop_process_group
from tests.media import make_video
from tests.nginx_front import nginx_front, nginx_path

SECRET = "a9f3c1d27e604b58b1c0f4e2d6a8b3c5"


@pytest.fixture(autouse=True)
def _nginx() -> None:
    if nginx_path() is None:  # `make test` installs it (Makefile, deploytools)
        pytest.fail("nginx is missing: apt-get install -y nginx")


def served(base: str) -> float:
    """Requests web has answered so far (its /metrics, summed over workers and labels)."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    lines = [line for line in text.splitlines() if line.startswith("flask_http_request_total{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


@pytest.fixture
def video(base_env: dict[str, str], settings: Settings) -> tuple[Path, str]:
    """A local video, indexed; (its path, its stream URL as the API lists it)."""
    name = f"links-{uuid.uuid4().hex}.mp4"
    path = make_video(Path(base_env["MEDIA_ROOTS"]) / "links" / name, seconds=3)
    rebuild_local(Services.build(settings, broker=make_celery_client(settings)))
    return path, name


def _stream_url(base: str, name: str) -> str:
    items = requests.get(f"{base}/api/catalog/items?source=local&limit=200", timeout=10).json()
    return next(item["stream_url"] for item in items["items"] if item["title"] in name)


def test_a_seek_through_nginx_never_reaches_gunicorn(base_env, video, tmp_path):
    path, name = video
    data = path.read_bytes()
    env = {**base_env, "ACCEL_REDIRECT_PREFIX": "/_accel", "MEDIA_LINK_SECRET": SECRET}
    web = start_web(env, tmp_path / "web.log")
    try:
        port = int(urlsplit(web.base).port or 0)
        downloads = Path(base_env["DOWNLOAD_DIR"])
        with nginx_front(port, path.parent.parent, downloads, tmp_path / "nginx", SECRET) as front:
            stream = _stream_url(front.base, name)
            first = requests.get(f"{front.base}{stream}", allow_redirects=False, timeout=10)
            assert first.status_code == 302
            link = first.headers["Location"]
            assert unquote(urlsplit(link).path) == "/_direct" + str(path.resolve())
            assert "no-store" in first.headers["Cache-Control"]

            before = served(web.base)
            for start in range(0, len(data) - 100, max(1, len(data) // 12)):  # a player seeking
                seek = requests.get(
                    f"{front.base}{link}",
                    headers={"Range": f"bytes={start}-{start + 99}"},
                    timeout=10,
                )
                assert seek.status_code == 206
                assert seek.content == data[start : start + 100]
                assert seek.headers["X-Content-Type-Options"] == "nosniff"
            # Only the scrape that read `before` was answered by web since.
            assert served(web.base) - before == 1

            # Without web, the bytes also come whole and with the right length.
            whole = requests.get(f"{front.base}{link}", timeout=10)
            assert whole.status_code == 200 and whole.content == data
    finally:
        stop_process_group(web.process)


def test_nginx_refuses_links_it_did_not_see_issued(base_env, video, tmp_path):
    path, _ = video
    downloads = Path(base_env["DOWNLOAD_DIR"])
    uri = "/_direct" + str(path.resolve())
    # No web behind: a wrong, missing or expired link is nginx's answer alone.
    with nginx_front(1, path.parent.parent, downloads, tmp_path / "nginx", SECRET) as front:
        future = int(time.time()) + 3600
        good = link_token(SECRET, uri, future)
        assert requests.get(f"{front.base}{uri}?md5={good}&expires={future}", timeout=10).ok
        other = link_token("another secret of some length", uri, future)
        cases = {
            f"{uri}?md5={other}&expires={future}": 403,  # signed with another secret
            f"{uri}?md5={good}&expires={future + 1}": 403,  # expiry moved
            f"{uri}": 403,  # unsigned
            f"{uri}x?md5={good}&expires={future}": 403,  # another file
        }
        past = int(time.time()) - 10
        cases[f"{uri}?md5={link_token(SECRET, uri, past)}&expires={past}"] = 410
        for target, status in cases.items():
            assert requests.get(f"{front.base}{target}", timeout=10).status_code == status, target

    # A front without MEDIA_LINK_SECRET serves no direct link at all, even a well-formed one.
    with nginx_front(1, path.parent.parent, downloads, tmp_path / "plain", None) as front:
        future = int(time.time()) + 3600
        blank = link_token("", uri, future)
        answer = requests.get(f"{front.base}{uri}?md5={blank}&expires={future}", timeout=10)
        assert answer.status_code == 404


def test_without_nginx_web_still_sends_the_ranges(base_env, video, tmp_path):
    path, name = video
    data = path.read_bytes()
    env = {**base_env, "ACCEL_REDIRECT_PREFIX": "/_accel", "MEDIA_LINK_SECRET": SECRET}
    web = start_web(env, tmp_path / "web.log", workers=1)
    try:
        stream = _stream_url(web.base, name)
        answer = requests.get(f"{web.base}{stream}", headers={"Range": "bytes=10-59"}, timeout=10)
        assert answer.status_code == 206 and answer.content == data[10:60]
        assert "Location" not in answer.headers and "X-Accel-Redirect" not in answer.headers
    finally:
        stop_process_group(web.process)


def test_a_name_that_is_not_utf8_goes_to_nginx_as_its_bytes(base_env, settings, tmp_path):
    # No signed link for it (nginx's secure_link and ours would hash other bytes): the
    # X-Accel-Redirect URI percent-encodes the name's very bytes, and nginx serves that file.
    folder = Path(base_env["MEDIA_ROOTS"]) / "links"
    path = make_video(folder / os.fsdecode(f"latin-{uuid.uuid4().hex} \xe9.mp4".encode("latin-1")))
    rebuild_local(Services.build(settings, broker=make_celery_client(settings)))
    env = {**base_env, "ACCEL_REDIRECT_PREFIX": "/_accel", "MEDIA_LINK_SECRET": SECRET}
    web = start_web(env, tmp_path / "web.log", workers=1)
    try:
        port = int(urlsplit(web.base).port or 0)
        downloads = Path(base_env["DOWNLOAD_DIR"])
        with nginx_front(port, folder.parent, downloads, tmp_path / "nginx", SECRET) as front:
            items = requests.get(f"{front.base}/api/catalog/items?limit=200", timeout=10).json()
            (item,) = [i for i in items["items"] if i["source_id"].startswith("links/latin-")]
            assert item["title"].endswith(" é")
            answer = requests.get(f"{front.base}{item['stream_url']}", timeout=10)
            assert answer.status_code == 200 and answer.content == path.read_bytes()
            seek = requests.get(
                f"{front.base}{item['stream_url']}", headers={"Range": "bytes=5-25"}, timeout=10
            )
            assert seek.status_code == 206 and seek.content == path.read_bytes()[5:26]
    finally:
        stop_process_group(web.process)
        path.unlink()
