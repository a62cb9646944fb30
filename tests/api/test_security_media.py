"""Media responses never run on Aula's origin: only audio, video and images inline, everything
else an opaque attachment, and every stream, thumbnail and file sandboxed and nosniff."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from api.headers import MEDIA_CSP
from api.streaming import is_inline_type, served_as
from core.base.db import session_scope
from core.base.models import CatalogItem, Download
from core.base.settings import Settings
from core.catalog.indexing import rebuild_local
from tests.api.test_auth import TOKEN
from tests.helpers import empty_dir
from tests.media import make_video
from tests.services import services_of

PAGE = b"<!doctype html><html><body><script>fetch('/api/credentials')</script></body></html>"
SCRIPT = b"fetch('/api/credentials', {method: 'DELETE'})"


def assert_sandboxed(response: TestResponse) -> None:
    assert response.headers["Content-Security-Policy"] == MEDIA_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def assert_attachment(response: TestResponse) -> None:
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert_sandboxed(response)


@pytest.mark.parametrize(
    ("content_type", "inline"),
    [
        ("video/mp4", True),
        ("audio/mpeg", True),
        ("image/png", True),
        ("Video/WebM; codecs=vp9", True),
        ("image/svg+xml", False),
        ("text/html", False),
        ("text/html; charset=utf-8", False),
        ("application/javascript", False),
        ("application/pdf", False),
        ("", False),
        (None, False),
    ],
)
def test_only_audio_video_and_raster_images_are_inline(
    content_type: str | None, inline: bool
) -> None:
    assert is_inline_type(content_type) is inline
    served, disposition = served_as(content_type, "name.bin")
    if inline:
        assert served == content_type and disposition is not None
        assert disposition.startswith("inline")
    else:
        assert served == "application/octet-stream"
        assert disposition == 'attachment; filename="name.bin"'


def test_an_html_file_in_drive_streams_as_an_attachment(app: Flask, drive) -> None:
    page = drive.add_file("convite.html", mime_type="text/html", content=PAGE)
    script = drive.add_file("app.js", mime_type="application/javascript", content=SCRIPT)
    client = app.test_client()

    for file_id, body in ((page, PAGE), (script, SCRIPT)):
        response = client.get(f"/api/drive/files/{file_id}/stream")
        assert response.status_code == 200 and response.data == body
        assert_attachment(response)
        head = client.head(f"/api/drive/files/{file_id}/stream")
        assert_attachment(head)
        ranged = client.get(f"/api/drive/files/{file_id}/stream", headers={"Range": "bytes=0-4"})
        assert ranged.status_code == 206
        assert_attachment(ranged)


def test_a_drive_video_still_plays_inline_but_sandboxed(app: Flask, drive) -> None:
    file_id = drive.add_file("aula.mp4", content=b"\0" * 2048)
    client = app.test_client()

    response = client.get(f"/api/drive/files/{file_id}/stream", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.headers["Content-Type"] == "video/mp4"
    assert "Content-Disposition" not in response.headers
    assert_sandboxed(response)
    thumbnail = client.get(f"/api/drive/files/{file_id}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.mimetype.startswith("image/")
    assert_sandboxed(thumbnail)


def _local_row(settings: Settings, name: str, mime_type: str) -> int:
    # A catalog may hold other files than videos (contract, Catalog): one recorded as a rebuild
    # of such a catalog would.
    root = settings.media_roots[0]
    with session_scope(settings.database_url) as session:
        row = CatalogItem(
            source="local", source_id=name, title=name, mime_type=mime_type, is_video=False,
            size_bytes=(root / name).stat().st_size, extra={"root": str(root)},
        )  # fmt: skip
        session.add(row)
        session.flush()
        return int(row.id)


def test_an_html_file_in_a_media_root_streams_as_an_attachment(
    app: Flask, settings: Settings
) -> None:
    root = settings.media_roots[0]
    empty_dir(root)
    (root / "page.html").write_bytes(PAGE)
    # HTML disguised as a video is served as the video it claims to be: nosniff keeps it one.
    (root / "trap.mp4").write_bytes(PAGE)
    make_video(root / "aula.mp4", seconds=1)
    rebuild_local(services_of(settings))
    page_id = _local_row(settings, "page.html", "text/html")
    client = app.test_client()
    items = {i["source_id"]: i for i in client.get("/api/catalog/items").get_json()["items"]}

    page = client.get(f"/api/catalog/items/{page_id}/stream")
    assert page.status_code == 200 and page.data == PAGE
    assert_attachment(page)
    assert 'filename="page.html"' in page.headers["Content-Disposition"]
    trap = client.get(items["trap.mp4"]["stream_url"])
    assert trap.headers["Content-Type"] == "video/mp4"
    assert_sandboxed(trap)
    video = client.get(items["aula.mp4"]["stream_url"], headers={"Range": "bytes=0-9"})
    assert video.status_code == 206 and video.headers["Content-Type"] == "video/mp4"
    assert "Content-Disposition" not in video.headers
    assert_sandboxed(video)
    thumbnail = client.get(items["aula.mp4"]["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert_sandboxed(thumbnail)
    assert "public" in thumbnail.headers["Cache-Control"]
    with_token = client.get(items["aula.mp4"]["thumbnail_url"], headers={"X-Admin-Token": TOKEN})
    cache = {part.strip() for part in with_token.headers["Cache-Control"].split(",")}
    assert cache == {"private", "max-age=3600"}


def test_a_downloaded_html_file_is_an_attachment(app: Flask, settings: Settings) -> None:
    target = settings.download_dir / "done" / "page.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(PAGE)
    with session_scope(settings.database_url) as session:
        row = Download(
            url="https://videos.example/page.html", kind="ytdlp", state="succeeded",
            file_path="done/page.html", file_size=len(PAGE), sha256="0" * 64, attempts=1,
        )  # fmt: skip
        session.add(row)
        session.flush()
        download_id = int(row.id)
    client = app.test_client()

    response = client.get(f"/api/downloads/{download_id}/file")
    assert response.status_code == 200 and response.data == PAGE
    assert_attachment(response)
    assert response.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    missing = client.get("/api/downloads/999999/file")
    assert missing.status_code == 404
    assert_sandboxed(missing)
