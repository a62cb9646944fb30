"""Subtitles of Drive items: sidecar files in the same Drive folder as the video. They are no
items (CONTRACT 8.4), but catalogued as sidecars so that folder listings show them (section 4);
a track lives as long as its sidecar row, which goes when no connection reaches the file."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.errors import AulaError
from core.base.models import CatalogItem
from core.base.sources import Source
from core.catalog import tracks
from core.catalog.local_tracks import is_subtitle
from core.catalog.models import CatalogSidecar, Subtitle
from core.google.drive import DriveClient
from core.google.timestamps import parse_timestamp
from core.media.subtitles import MAX_SUBTITLE_BYTES, Cue, parse, sidecar_language

log = logging.getLogger(__name__)
PREFIX = "drive:"  # a Drive sidecar track's origin: "drive:<file id>"
Found = list[tuple[str, dict[str, Any]]]  # (folder id, Drive file entry)


def sidecar_entries(folder_id: str, files: list[dict[str, Any]]) -> Found:
    """The subtitle files of one listing page (kept out of the catalog's items)."""
    return [
        (folder_id, entry)
        for entry in files
        if not entry.get("trashed") and is_subtitle(str(entry.get("name") or ""))
    ]


def sidecar_rows(found: Found, seen: datetime) -> list[dict[str, Any]]:
    """Catalog rows (catalog_sidecars) for the subtitle files `found`."""
    return [
        {
            "source": Source.DRIVE, "source_id": str(entry["id"]), "folder_id": folder,
            "name": str(entry.get("name") or ""), "mime_type": entry.get("mimeType"),
            "size_bytes": int(entry["size"]) if entry.get("size") else None,
            "modified_at": parse_timestamp(entry.get("modifiedTime")),
            "thumbnail_link": entry.get("thumbnailLink"), "seen_at": seen,
        }
        for folder, entry in found
    ]  # fmt: skip


def _fingerprint(entry: dict[str, Any]) -> str:
    return f"{entry.get('md5Checksum') or ''}:{entry.get('size') or ''}:{entry.get('modifiedTime')}"


def _videos(db: Database, folders: set[str]) -> dict[str, dict[str, int]]:
    """folder id -> {video stem: item id} of the Drive videos in these folders."""
    found: dict[str, dict[str, int]] = {}
    with db.session() as session:
        rows = session.execute(
            select(CatalogItem.folder_id, CatalogItem.title, CatalogItem.id).where(
                CatalogItem.source == Source.DRIVE,
                CatalogItem.folder_id.in_(sorted(folders)),
                CatalogItem.is_video.is_(True),
            )
        )
        for folder, title, item_id in rows:
            found.setdefault(str(folder), {})[PurePosixPath(title).stem] = item_id
    return found


def _stored(db: Database) -> dict[str, tuple[int, str]]:
    with db.session() as session:
        rows = session.execute(
            select(Subtitle.origin, Subtitle.item_id, Subtitle.fingerprint).where(
                Subtitle.origin.startswith(PREFIX)
            )
        )
        return {origin: (item_id, fingerprint) for origin, item_id, fingerprint in rows}


def _fetch(client: DriveClient, file_id: str) -> bytes:
    response = client.media(file_id)
    try:
        data = bytearray()
        for chunk in response.iter_content(64 * 1024):
            data += chunk
            if len(data) > MAX_SUBTITLE_BYTES:
                return bytes(data)  # parse refuses it as too large
        return bytes(data)
    finally:
        response.close()


def sync_drive_sidecars(db: Database, client: DriveClient, found: Found) -> int:
    """Index the sidecars `found` as tracks of the videos of their stem in the same folder,
    reading only new or changed ones; one that matches no video (or holds no cue) has no track.
    Returns how many tracks were written."""
    videos = _videos(db, {folder for folder, _ in found})
    stored = _stored(db)
    written = 0
    for folder, entry in found:
        origin = PREFIX + str(entry["id"])
        stems = videos.get(folder) or {}
        match = sidecar_language(str(entry.get("name")), set(stems))
        item_id = stems[match[0]] if match is not None else None
        if stored.get(origin, (None, ""))[0] == item_id and (
            item_id is None or stored[origin][1] == _fingerprint(entry)
        ):
            continue  # unchanged, or no track before nor now
        cues = _cues(client, entry) if match is not None else []
        if cues is None:
            continue  # not read this time: the track it had stays
        with db.session() as session:
            if origin in stored:
                tracks.drop_tracks(session, stored[origin][0], [origin])
            if match is not None and item_id is not None and cues:
                fingerprint = _fingerprint(entry)
                track = tracks.Track(
                    tracks.TrackSource.SIDECAR, origin, fingerprint, match[1], cues
                )
                tracks.put_track(session, item_id, track)
                written += 1
    return written


def _cues(client: DriveClient, entry: dict[str, Any]) -> list[Cue] | None:
    """The sidecar's cues (none when too large or holding none); None when Drive did not give
    its bytes this time."""
    try:
        data = _fetch(client, str(entry["id"]))
    except AulaError as error:
        log.info("Drive sidecar %s not read: %s", entry["id"], type(error).__name__)
        return None
    return parse(data, PurePosixPath(str(entry["name"])).suffix)


def drop_orphan_tracks(session: Session) -> None:
    """Remove the tracks of Drive sidecars the catalog no longer holds (trashed, moved out, or
    reached by no connection any more)."""
    catalogued = exists(
        select(CatalogSidecar.id).where(
            CatalogSidecar.source == Source.DRIVE,
            # The file id out of the origin, so the (source, source_id) index answers.
            CatalogSidecar.source_id == func.substr(Subtitle.origin, len(PREFIX) + 1),
        )
    )
    session.execute(
        delete(Subtitle)
        .where(Subtitle.origin.startswith(PREFIX), ~catalogued)
        .execution_options(synchronize_session=False)
    )
