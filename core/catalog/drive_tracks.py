"""Subtitles of Drive items: sidecar files in the same Drive folder as the video (not items)."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select

from core.base.db import Database
from core.base.errors import AulaError
from core.base.models import CatalogItem
from core.base.sources import Source
from core.catalog import tracks
from core.catalog.local_tracks import is_subtitle
from core.catalog.models import Subtitle
from core.google.drive import DriveClient
from core.media.subtitles import MAX_SUBTITLE_BYTES, parse, sidecar_language

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


def sync_drive_sidecars(db: Database, client: DriveClient, found: Found, full: bool) -> int:
    """Index the sidecars `found` as tracks of the videos of their stem in the same folder
    (reading only new or changed ones); after a `full` listing, drop the tracks of sidecars
    that are gone. Returns how many tracks were written."""
    videos = _videos(db, {folder for folder, _ in found})
    stored = _stored(db)
    seen: set[str] = set()
    written = 0
    for folder, entry in found:
        stems = videos.get(folder) or {}
        match = sidecar_language(str(entry.get("name")), set(stems))
        if match is None:
            continue
        origin, item_id = PREFIX + str(entry["id"]), stems[match[0]]
        seen.add(origin)
        if stored.get(origin) == (item_id, _fingerprint(entry)):
            continue
        try:
            data = _fetch(client, str(entry["id"]))
        except AulaError as error:
            log.info("Drive sidecar %s not read: %s", entry["id"], type(error).__name__)
            continue
        cues = parse(data, PurePosixPath(str(entry["name"])).suffix)
        if not cues:
            seen.discard(origin)  # too large, unreadable or empty: no track
            continue
        track = tracks.Track(
            tracks.TrackSource.SIDECAR, origin, _fingerprint(entry), match[1], cues
        )
        with db.session() as session:
            if origin in stored and stored[origin][0] != item_id:
                tracks.drop_tracks(session, stored[origin][0], [origin])
            tracks.put_track(session, item_id, track)
        written += 1
    if full:
        drop_drive_sidecars(db, [o for o in stored if o not in seen])
    return written


def drop_drive_sidecars(db: Database, origins: list[str]) -> None:
    """Remove the tracks of these Drive sidecars (by origin), whichever item holds them."""
    if not origins:
        return
    stored = _stored(db)
    with db.session() as session:
        for origin in origins:
            if origin in stored:
                tracks.drop_tracks(session, stored[origin][0], [origin])
