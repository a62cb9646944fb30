"""Thumbnails: local ones grabbed with PyAV, Drive ones from thumbnailLink; cached on disk."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from core.base.errors import NotFound, ValidationFailed
from core.base.http import make_session
from core.base.models import CatalogItem
from core.base.netguard import check_url
from core.base.services import Services
from core.base.settings import Settings
from core.base.sources import Source
from core.catalog import store as catalog
from core.catalog.indexing import resolve_local
from core.media import probing as media

MAX_THUMBNAIL_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 3
# Local thumbnails decode video in the request thread: at most this many at once per process
# (the rest wait), and a file that gives none is remembered, not decoded again on every request.
MAKING_AT_ONCE = 2
_making = threading.BoundedSemaphore(MAKING_AT_ONCE)
log = logging.getLogger(__name__)


def cache_dir(settings: Settings) -> Path:
    """Where thumbnails are cached."""
    return settings.data_dir / "thumbnails"


def _cache_path(settings: Settings, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return cache_dir(settings) / f"{digest}.thumb"


def _store(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return path


def _cached(
    settings: Settings, key: str, make: Callable[[], bytes | None], *, remember_none: bool = False
) -> Path:
    path = _cache_path(settings, key)
    if path.is_file():
        os.utime(path)  # recently used thumbnails survive the cache cap longest
        return path
    none = path.with_suffix(".none")
    if none.is_file():
        raise NotFound("No thumbnail can be made for this item.")
    data = make()
    if not data:
        if remember_none:  # a local file that gives no frame gives none next time either
            _store(none, b"")
        raise NotFound("No thumbnail can be made for this item.")
    return _store(path, data)


def _decoded(path: Path) -> bytes | None:
    with _making:
        return media.thumbnail_jpeg(path)


def image_url_allowed(settings: Settings, url: str) -> bool:
    """Whether a thumbnail may be fetched from `url`: the configured Google hosts, or any host
    the download address guard lets through (DOWNLOAD_ALLOW_PRIVATE_HOSTS as for downloads)."""
    trusted = {urlsplit(settings.drive_api_url).netloc, urlsplit(settings.classroom_api_url).netloc}
    if urlsplit(url).netloc in trusted:
        return True
    try:
        check_url(url, allow_private=settings.download_allow_private_hosts)
    except ValidationFailed as refused:
        log.info("thumbnail not fetched: %s", refused.message)
        return False
    return True


def fetch_image(
    session: requests.Session, url: str, allowed: Callable[[str], bool] = lambda _url: True
) -> bytes | None:
    """Download an image (bounded size), checking every address on the way with `allowed`
    (redirects followed by hand, at most MAX_REDIRECTS); None unless it is one."""
    try:
        for _ in range(MAX_REDIRECTS + 1):
            if not allowed(url):
                return None
            with session.get(url, stream=True, allow_redirects=False) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["Location"])
                    continue
                kind = response.headers.get("Content-Type", "")
                if response.status_code != 200 or not kind.startswith("image/"):
                    return None
                data = response.raw.read(MAX_THUMBNAIL_BYTES + 1, decode_content=True)
                return data if 0 < len(data) <= MAX_THUMBNAIL_BYTES else None
    except requests.RequestException:
        return None
    return None


def _fetch(settings: Settings, link: str) -> bytes | None:
    return fetch_image(make_session(settings), link, lambda url: image_url_allowed(settings, url))


def item_thumbnail(
    services: Services, item: CatalogItem, downloaded: tuple[str, Path] | None = None
) -> Path:
    """The cached thumbnail of a catalog item, made on first request; NotFound if impossible.

    `downloaded` is the cache key and path of the finished download the item plays, if any: the
    caller finds it, since downloads stand above the catalog.
    """
    settings = services.settings
    if item.source == Source.LOCAL:
        path = resolve_local(settings, item.source_id)
        key = f"local:{item.source_id}:{(item.extra or {}).get('mtime_ns')}"
        result = _cached(settings, key, lambda: _decoded(path), remember_none=True)
    elif item.thumbnail_link:
        link = item.thumbnail_link
        result = _cached(settings, f"link:{link}", lambda: _fetch(settings, link))
    elif downloaded is not None:  # a URL download, a YouTube material: a frame of the file
        key, file = downloaded
        result = _cached(settings, key, lambda: _decoded(file), remember_none=True)
    else:
        raise NotFound("This item has no thumbnail.")
    catalog.set_thumbnail_state(services.db, item.id, "ready")
    return result


def link_thumbnail(settings: Settings, link: str) -> Path:
    """The cached image behind a Drive thumbnailLink, fetched on first request."""
    return _cached(settings, f"link:{link}", lambda: _fetch(settings, link))


def image_type(path: Path) -> str:
    """The MIME type of a cached thumbnail, from its first bytes (Drive sends PNG or JPEG)."""
    with path.open("rb") as handle:
        head = handle.read(12)
    if head.startswith(b"\x89PNG"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"GIF8"):
        return "image/gif"
    return "image/jpeg"


def enforce_cap(settings: Settings) -> tuple[int, int]:
    """Remove least recently used thumbnails until the cache fits THUMBNAIL_CACHE_MB."""
    folder = cache_dir(settings)
    if not folder.is_dir():
        return 0, 0
    files = sorted((p.stat().st_mtime, p.stat().st_size, p) for p in folder.glob("*.thumb"))
    total = sum(size for _, size, _ in files)
    cap = settings.thumbnail_cache_mb * 1024 * 1024
    removed = freed = 0
    for _, size, path in files:
        if total <= cap:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
        freed += size
    return removed, freed
