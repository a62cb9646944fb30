"""Thumbnails cost a bounded amount: links pass the address guard, broken files are not decoded
again and again, and huge frames are not decoded at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from core.base.db import session_scope
from core.base.errors import NotFound
from core.base.models import CatalogItem
from core.base.settings import Settings
from core.catalog import thumbnails
from core.catalog.indexing import rebuild_drive
from core.media.probing import MAX_THUMBNAIL_SOURCE_PIXELS, thumbnail_jpeg
from tests.fakes.media import MediaServer
from tests.media import make_video
from tests.services import drive_client, services_of


@pytest.fixture
def media() -> Iterator[MediaServer]:
    with MediaServer("127.0.0.1") as server:
        yield server


def _with(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def test_only_google_hosts_and_guarded_addresses_are_fetched(settings: Settings) -> None:
    drive_host = settings.drive_api_url
    loopback = drive_host.replace("127.0.0.1", "localhost")  # the same server, another name
    opened = _with(settings, download_allow_private_hosts=True)

    assert thumbnails.image_url_allowed(settings, f"{drive_host}/thumbnails/x")
    assert not thumbnails.image_url_allowed(settings, f"{loopback}/thumbnails/x")
    assert thumbnails.image_url_allowed(opened, f"{loopback}/thumbnails/x")
    for metadata in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"):
        assert not thumbnails.image_url_allowed(opened, metadata)


def test_a_drive_thumbnail_link_elsewhere_is_not_fetched(settings: Settings, drive: Any) -> None:
    file_id = drive.add_file("aula.mp4", content=b"\0" * 1024)
    rebuild_drive(services_of(settings), drive_client(settings))
    link = drive.file(file_id)["thumbnailLink"].replace("127.0.0.1", "localhost")
    with session_scope(settings.database_url) as session:
        item = session.query(CatalogItem).filter_by(source_id=file_id).one()
        item.thumbnail_link = link
        session.expunge(item)
    drive.clear_log()

    with pytest.raises(NotFound):
        thumbnails.item_thumbnail(services_of(settings), item)
    assert not [r for r in drive.requests if r.path.startswith("/thumbnails/")]
    opened = _with(settings, download_allow_private_hosts=True)
    assert thumbnails.item_thumbnail(services_of(opened), item).read_bytes()[:2] == b"\x89P"


def test_a_redirect_to_a_forbidden_address_is_not_followed(
    settings: Settings, media: MediaServer
) -> None:
    opened = _with(settings, download_allow_private_hosts=True)
    asked: list[str] = []

    def allowed(url: str) -> bool:
        asked.append(url)
        return thumbnails.image_url_allowed(opened, url)

    start = f"{media.base_url}/redirect?to=http://169.254.169.254/latest/meta-data/"
    assert thumbnails.fetch_image(requests.Session(), start, allowed) is None
    assert asked == [start, "http://169.254.169.254/latest/meta-data/"]


def test_a_file_without_a_thumbnail_is_decoded_once(settings: Settings) -> None:
    broken = settings.media_roots[0] / "quebrado.mp4"
    broken.write_bytes(b"<html>not a video</html>")
    item = CatalogItem(source="local", source_id=broken.name, title="x", extra={"mtime_ns": 1})

    before = set(thumbnails.cache_dir(settings).glob("*.none"))
    with pytest.raises(NotFound):
        thumbnails.item_thumbnail(services_of(settings), item)
    assert len(set(thumbnails.cache_dir(settings).glob("*.none")) - before) == 1
    broken.unlink()  # were it decoded again, the missing file would raise something else
    with pytest.raises(NotFound):
        thumbnails.item_thumbnail(services_of(settings), item)


def test_frames_beyond_8k_are_not_decoded(tmp_path: Path) -> None:
    width, height = 8000, 4320  # a little wider than 8K UHD (7680 x 4320)
    assert width * height > MAX_THUMBNAIL_SOURCE_PIXELS
    huge = make_video(tmp_path / "huge.mp4", seconds=0.1, fps=10, size=(width, height))
    small = make_video(tmp_path / "small.mp4", seconds=0.1, fps=10)

    assert thumbnail_jpeg(huge) is None
    assert thumbnail_jpeg(small) is not None
