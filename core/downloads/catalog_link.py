"""Finished downloads in the catalog: the item a download plays, made for a URL that had none."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.models import CatalogItem, Download, utcnow
from core.base.sources import Source
from core.catalog import store as catalog
from core.downloads.state import DownloadState
from core.media import facts
from core.media import probing as media


@dataclass(frozen=True)
class Facts:
    """What probing a finished file says: its media type, duration and media block."""

    mime_type: str | None
    duration_s: float | None
    media: dict[str, Any] | None = None


def facts_of(path: Path) -> Facts:
    """Probe a finished file (outside any transaction: PyAV opens it)."""
    mime = media.video_type(path) or mimetypes.guess_type(path.name)[0]
    if not mime:
        return Facts(None, None)
    if not mime.startswith("video/"):  # audio and the like: a duration, no playback block
        return Facts(mime, media.probe(path).duration_s)
    probed, block = facts.inspect(path, mime)
    return Facts(mime, probed.duration_s, block)


def link(session: Session, download: Download, facts: Facts) -> None:
    """Called as `download` succeeds, in its transaction: record the file's facts; a URL with no
    item gets one of source "download" (source_id its URL), so catalog searches find it."""
    download.mime_type, download.duration_s = facts.mime_type, facts.duration_s
    download.media = facts.media
    item = session.get(CatalogItem, download.item_id) if download.item_id else None
    item = item or _catalogued(session, download)
    if item is not None and item.source != Source.DOWNLOAD:
        download.item_id = item.id  # a Drive or Classroom item keeps its row and plays this file
        return
    path = Path(download.file_path or "")
    row = {
        "source": Source.DOWNLOAD, "source_id": download.url, "title": download.title or path.stem,
        "mime_type": facts.mime_type, "is_video": (facts.mime_type or "").startswith("video/"),
        "size_bytes": download.file_size, "duration_s": facts.duration_s,
        "modified_at": utcnow(), "url": download.url, "extra": {"download_id": download.id},
        "media": facts.media,
    }  # fmt: skip
    catalog.upsert_items(session, [row])
    download.item_id = session.scalars(
        select(CatalogItem.id).where(
            CatalogItem.source == Source.DOWNLOAD, CatalogItem.source_id == download.url
        )
    ).one()


def _catalogued(session: Session, download: Download) -> CatalogItem | None:
    """The Drive file or Classroom material a URL download fetched, when the catalog has it."""
    if download.drive_file_id:
        where = (
            CatalogItem.source == Source.DRIVE,
            CatalogItem.source_id == download.drive_file_id,
        )
    else:
        where = (CatalogItem.source == Source.CLASSROOM, CatalogItem.url == download.url)
    return session.scalars(select(CatalogItem).where(*where).order_by(CatalogItem.id)).first()


def unlink(session: Session, download: Download) -> None:
    """Called as `download` ends without a file (canceled, failed, pruned): its "download" item
    leaves the catalog unless another finished download of the same URL still plays it."""
    if download.item_id is None:
        return
    others = session.scalars(
        select(Download.id).where(
            Download.item_id == download.item_id,
            Download.id != download.id,
            Download.state == DownloadState.SUCCEEDED,
        )
    ).first()
    if others is None:
        session.execute(
            delete(CatalogItem).where(
                CatalogItem.id == download.item_id, CatalogItem.source == Source.DOWNLOAD
            )
        )


def playing(db: Database, item_ids: list[int]) -> dict[int, Download]:
    """The newest finished download of each of these items: the file the item plays."""
    if not item_ids:
        return {}
    with db.session() as session:
        rows = session.scalars(
            select(Download)
            .where(Download.item_id.in_(item_ids), Download.state == DownloadState.SUCCEEDED)
            .order_by(Download.id)
        )
        return {row.item_id: row for row in rows if row.item_id is not None and row.file_path}


class PlayedItem:
    """A catalog item as shown while it plays a finished download: the file's size, type and
    duration win over what its source said (a YouTube material knows none of them)."""

    def __init__(self, item: CatalogItem, played: Download) -> None:
        self._item = item
        self.played_download = played

    def __getattr__(self, name: str) -> Any:
        return getattr(self._item, name)

    @property
    def size_bytes(self) -> int | None:
        """The downloaded file's size: what the stream serves."""
        return self.played_download.file_size

    @property
    def mime_type(self) -> str | None:
        """The downloaded file's type, else the source's."""
        return self.played_download.mime_type or self._item.mime_type

    @property
    def media(self) -> dict[str, Any] | None:
        """The downloaded file's media block (CONTRACT 8.4: Drive's metadata until downloaded)."""
        return self.played_download.media or self._item.media

    @property
    def duration_s(self) -> float | None:
        """The downloaded file's duration, else the source's."""
        duration = self.played_download.duration_s
        return duration if duration is not None else self._item.duration_s


def item_of(session: Session, download: Download) -> CatalogItem | None:
    """The catalog item a download fetches: its own, or the Drive file or Classroom material
    its URL names (None for a URL the catalog does not hold)."""
    item = session.get(CatalogItem, download.item_id) if download.item_id else None
    return item or _catalogued(session, download)
