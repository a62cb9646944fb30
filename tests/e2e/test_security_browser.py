"""In Chromium, against gunicorn with REQUIRE_AUTH_FOR_READS: signed media play without headers
under our CSP, and the Swagger UI works under its policy with no violation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from core.catalog.indexing import rebuild_local
from tests.e2e.browser import PLAY_AND_SEEK, chromium
from tests.e2e.web_process import start_web
from tests.helpers import stop_process_group
from tests.media import make_video
from tests.services import services_of

TOKEN = "e2e-admin-token-for-signed-media-0123"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SHOW_IMAGE = """
async (src) => {
  const img = document.createElement('img');
  const done = new Promise((ok) => { img.onload = () => ok(true); img.onerror = () => ok(false); });
  img.src = src;
  document.body.appendChild(img);
  return await done && img.naturalWidth > 0;
}
"""


@pytest.fixture(scope="module")
def guarded_web(
    base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """gunicorn (the Procfile's web) with ADMIN_TOKEN and REQUIRE_AUTH_FOR_READS; its base URL."""
    log_path = tmp_path_factory.mktemp("logs") / "web.log"
    env = {**base_env, "ADMIN_TOKEN": TOKEN, "REQUIRE_AUTH_FOR_READS": "true"}
    web = start_web(env, log_path)
    try:
        yield web.base
    finally:
        stop_process_group(web.process)
        print(log_path.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as browser:
        yield browser


def test_a_signed_stream_plays_in_a_video_element_without_headers(
    guarded_web: str, settings, browser
) -> None:
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "aula assinada.webm", seconds=4, codec="libvpx")
    rebuild_local(services_of(settings))
    assert requests.get(f"{guarded_web}/api/catalog/items", timeout=10).status_code == 401
    item = requests.get(f"{guarded_web}/api/catalog/items", headers=BEARER, timeout=10).json()
    item = item["items"][0]
    stream = urlsplit(item["stream_url"])
    assert stream.query.startswith("exp=") and "&sig=" in stream.query
    assert requests.get(f"{guarded_web}{stream.path}", timeout=10).status_code == 401
    head = requests.head(f"{guarded_web}{item['stream_url']}", timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) > 0

    page = browser.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Security Policy" in m.text else None)
    try:
        # From a page of our origin, under its CSP (media-src 'self'), by the URL the API gave.
        page.goto(f"{guarded_web}/api/health")
        result = page.evaluate(PLAY_AND_SEEK, [item["stream_url"], 2.0])
        shown = page.evaluate(SHOW_IMAGE, item["thumbnail_url"])
        refused = page.evaluate(SHOW_IMAGE, urlsplit(item["thumbnail_url"]).path)
    finally:
        page.close()
    assert result["error"] is None
    assert 3.5 < result["duration"] < 4.5
    assert result["played"] > 0 and abs(result["after"] - 2.0) < 0.2
    assert shown is True and refused is False
    assert violations == []


def test_the_swagger_ui_works_under_its_policy(guarded_web: str, browser) -> None:
    page = browser.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Security Policy" in m.text else None)
    try:
        response = page.goto(f"{guarded_web}/api/docs/")
        assert response is not None and response.ok
        policy = response.headers["content-security-policy"]
        page.wait_for_selector(".opblock", timeout=15000)
        operations = page.locator(".opblock").count()
    finally:
        page.close()
    assert "unsafe" not in policy and "'sha256-" in policy
    assert operations > 10
    assert violations == [], violations
