"""Relative DATA_DIR and MEDIA_ROOTS (the defaults' kind): web serves real thumbnails, not 500s."""

from __future__ import annotations

from pathlib import Path

import pytest

from api import create_app
from core.base.settings import Settings, load_settings
from core.catalog.indexing import rebuild_local
from tests.media import make_video
from tests.services import services_of

RELATIVE = {"DATA_DIR": "data", "DOWNLOAD_DIR": "data/downloads", "MEDIA_ROOTS": "lessons"}


def test_a_thumbnail_under_a_relative_data_dir_is_served(
    base_env: dict[str, str],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The relative paths come from a `.env` in the working folder, as on a fresh clone; Flask's
    # send_file would take a relative thumbnail path from api/, the app's folder.
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in RELATIVE.items()))
    monkeypatch.chdir(tmp_path)
    for name in RELATIVE:
        monkeypatch.delenv(name, raising=False)
    shared = {k.lower(): v for k, v in base_env.items() if k not in RELATIVE}
    relative = load_settings(**shared)
    assert relative.data_dir == tmp_path / "data"
    make_video(tmp_path / "lessons" / "Biology" / "Lesson 1.mp4", seconds=1)
    rebuild_local(services_of(relative))
    client = create_app(shared).test_client()
    [item] = client.get("/api/catalog/items").get_json()["items"]

    thumbnail = client.get(item["thumbnail_url"])
    video = client.get(item["stream_url"], headers={"Range": "bytes=0-99"})

    assert thumbnail.status_code == 200, thumbnail.get_data(as_text=True)
    assert thumbnail.mimetype.startswith("image/") and thumbnail.data
    assert list((tmp_path / "data" / "thumbnails").iterdir())
    assert video.status_code == 206 and len(video.data) == 100
