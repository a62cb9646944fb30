"""What an item plays and how (CONTRACT 8.4): its local file, its converted MP4, and asking for
one. Here because the file an item plays may be a finished download."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.base.errors import AulaError, Conflict
from core.base.models import CatalogItem, Download, TaskRecord
from core.base.services import Services
from core.base.sources import Source
from core.catalog import store as catalog
from core.catalog.indexing import resolve_local
from core.downloads import catalog_link
from core.downloads.files import file_of
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName
from core.media import convert
from core.media.facts import Playable
from core.media.ffmpeg import MediaError
from core.media.models import ConvertedFile

log = logging.getLogger(__name__)

CONVERT_KEY = "media.convert:{item_id}"  # one conversion of an item at a time
NEEDS_DOWNLOAD = "Download this item first: it converts from the downloaded file."


def played(services: Services, item: CatalogItem) -> Any:
    """The item as it plays: with its finished download's facts when it has one."""
    found = catalog_link.playing(services.db, [item.id]).get(item.id)
    return catalog_link.PlayedItem(item, found) if found is not None else item


def source_of(services: Services, item: Any) -> convert.Source | None:
    """The local file `item` (as `played` gives it) plays, or None (a Drive file or a link
    not downloaded yet); NotFound if its file is gone."""
    download: Download | None = getattr(item, "played_download", None)
    if download is not None:
        path = file_of(services.settings, download)
        return convert.Source(path, f"download:{download.id}:{download.sha256}", item.media)
    if item.source == Source.LOCAL:
        path = resolve_local(services.settings, item.source_id)
        key = f"local:{item.size_bytes}:{(item.extra or {}).get('mtime_ns')}"
        return convert.Source(path, key, item.media)
    return None


def needs_conversion(media: dict[str, Any] | None) -> bool:
    """Whether a file with this media block needs converting before a browser plays it."""
    return media is not None and media.get("playable") != Playable.DIRECT


def playback_file(services: Services, item: CatalogItem) -> Path:
    """The file /playback serves: the converted MP4, or the original of a direct item; 409
    needs_conversion until the conversion exists (needs_download for a file not local yet)."""
    shown = played(services, item)
    source = source_of(services, shown)
    if source is None:
        raise Conflict(NEEDS_DOWNLOAD, {"reason": "needs_download"})
    if not needs_conversion(source.media):
        return source.path
    found = convert.lookup(services.settings, services.db, item.id, source.key)
    if found is None:
        raise Conflict(
            "This video must be converted before a browser can play it: POST .../convert.",
            {"reason": "needs_conversion"},
        )
    return found


def request(services: Services, item: CatalogItem) -> TaskRecord:
    """Enqueue the item's conversion, or answer with the one already waiting or running."""
    shown = played(services, item)
    source = source_of(services, shown)
    if source is None:
        raise Conflict(NEEDS_DOWNLOAD, {"reason": "needs_download"})
    if not needs_conversion(source.media):
        raise Conflict("This video plays as it is.", {"reason": "plays_directly"})
    return jobs.enqueue(
        services.db,
        services.broker,
        TaskName.MEDIA_CONVERT,
        {"item_id": item.id},
        single=CONVERT_KEY.format(item_id=item.id),
        join_running=True,
    )


def run(
    services: Services,
    item_id: int,
    on_progress: convert.Progress,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """The media.convert task's work; a file ffmpeg cannot convert has `media.error` set and
    raises MediaError (permanent: never retried)."""
    shown = played(services, catalog.get_item(services.db, item_id))
    source = source_of(services, shown)
    if source is None:
        raise Conflict(NEEDS_DOWNLOAD, {"reason": "needs_download"})
    try:
        return convert.convert(
            services.settings, services.db, item_id, source, shown.duration_s, on_progress,
            should_stop,
        )  # fmt: skip
    except MediaError as error:
        _record_error(services, shown, error.message)
        raise


def _record_error(services: Services, item: Any, message: str) -> None:
    download: Download | None = getattr(item, "played_download", None)
    model: Any = Download if download is not None else CatalogItem
    row_id = download.id if download is not None else item.id
    with services.db.session() as session:
        row = session.get(model, row_id)
        if row is not None:
            row.media = {**(row.media or {}), "error": message}


def auto_convert(services: Services, item_ids: Iterable[int]) -> int:
    """With AUTO_CONVERT, enqueue the conversion of each of these items that needs one and has
    none cached; returns how many were asked for."""
    ids = list(item_ids)
    if not services.settings.auto_convert or not ids:
        return 0
    asked = 0
    with services.db.session() as session:
        items = list(session.scalars(select(CatalogItem).where(CatalogItem.id.in_(ids))))
        cached = set(session.scalars(select(ConvertedFile.item_id).where(
            ConvertedFile.item_id.in_(ids))))  # fmt: skip
    for item in items:
        shown = played(services, item)
        if item.id in cached or not needs_conversion(shown.media) or shown.media.get("error"):
            continue
        try:
            request(services, item)
            asked += 1
        except AulaError as error:  # not local yet, a file gone, no broker: never fails the caller
            log.info("no automatic conversion of item %s: %s", item.id, error.message)
    return asked


def auto_convert_since(services: Services, since: Any) -> int:
    """auto_convert for the local items written since `since` (a rebuild's new and changed)."""
    if not services.settings.auto_convert:
        return 0
    with services.db.session() as session:
        ids = list(session.scalars(select(CatalogItem.id).where(
            CatalogItem.source == Source.LOCAL, CatalogItem.updated_at >= since)))  # fmt: skip
    return auto_convert(services, ids)
