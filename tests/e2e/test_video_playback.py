"""A browser's <video> element plays and seeks local and Drive items through our streams."""

from __future__ import annotations

import shutil

import pytest
import requests

from core.catalog.indexing import rebuild_local
from tests.e2e.browser import PLAY_AND_SEEK, chromium
from tests.media import make_video
from tests.services import services_of


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def _play(browser, url: str) -> dict:
    page = browser.new_page()
    try:
        return page.evaluate(PLAY_AND_SEEK, [url, 2.0])
    finally:
        page.close()


def test_a_local_item_plays_and_seeks(web, settings, browser, tmp_path):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "aula no navegador.webm", seconds=4, codec="libvpx")
    rebuild_local(services_of(settings))
    items = requests.get(f"{web}/api/catalog/items?source=local", timeout=10).json()["items"]
    result = _play(browser, f"{web}{items[0]['stream_url']}")
    assert result["error"] is None
    assert 3.5 < result["duration"] < 4.5
    assert result["played"] > 0 and abs(result["after"] - 2.0) < 0.2


def test_a_drive_file_plays_and_seeks(web, settings, drive, browser, tmp_path):
    video = make_video(tmp_path / "drive.webm", seconds=4, codec="libvpx").read_bytes()
    file_id = drive.add_file("no drive.webm", mime_type="video/webm", content=video)
    result = _play(browser, f"{web}/api/drive/files/{file_id}/stream")
    assert result["error"] is None
    assert result["played"] > 0 and abs(result["after"] - 2.0) < 0.2
