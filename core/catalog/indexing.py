"""Catalog rebuilds and syncs: local media roots, Google Drive listing and its changes feed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from core.base.db import Database
from core.base.errors import NotFound, ValidationFailed
from core.base.local_names import os_name
from core.base.models import CatalogFolder, SourceState, utcnow
from core.base.services import Services
from core.base.settings import Settings
from core.base.sources import Source
from core.catalog import drive_tracks, reach
from core.catalog import store as catalog
from core.catalog.courses.discovery import discover_drive
from core.catalog.local_scan import rebuild_local
from core.catalog.local_tracks import is_subtitle
from core.google import connections, folder_names
from core.google.drive import FOLDER_MIME, DriveClient
from core.google.timestamps import parse_timestamp
from core.media import facts

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None, str], object]
MAX_LISTING_RESTARTS = 3


def _quiet(_current: int, _total: int | None, _message: str) -> None:
    return None


# ---------------------------------------------------------------- local media roots


__all__ = ["rebuild_local"]  # re-exported: where callers have always found it


def resolve_local(settings: Settings, source_id: str) -> Path:
    """The file of a local item (its source_id in the text form of core.base.local_names),
    refusing anything that escapes its media root (NotFound)."""
    rel = os_name(source_id)
    for root in settings.media_roots:
        base = root.resolve()
        candidate = (base / rel).resolve()
        if candidate.is_relative_to(base) and candidate.is_file() and not Path(rel).is_absolute():
            return candidate
    raise NotFound("No such file in the media roots.")


# ---------------------------------------------------------------- Google Drive


Rows = list[dict[str, Any]]


def drive_rows(files: Rows, folder_id: str, seen: datetime) -> tuple[Rows, Rows]:
    """Catalog rows (items, folders) for one page of a Drive folder listing."""
    items: Rows = []
    folders: Rows = []
    for entry in files:
        if entry.get("trashed") or is_subtitle(str(entry.get("name") or "")):
            continue  # subtitle files are tracks of the video beside them, not items
        modified = parse_timestamp(entry.get("modifiedTime"))
        if entry.get("mimeType") == FOLDER_MIME:
            folders.append(
                {
                    "source": Source.DRIVE,
                    "source_id": entry["id"],
                    "name": entry.get("name", ""),
                    "parent_id": folder_id,
                    "modified_at": modified,
                    "seen_at": seen,
                }
            )
            continue
        video = entry.get("videoMediaMetadata") or {}
        millis = video.get("durationMillis")
        items.append({
            "source": Source.DRIVE, "source_id": entry["id"], "title": entry.get("name", ""),
            "mime_type": entry.get("mimeType"),
            "size_bytes": int(entry["size"]) if entry.get("size") else None,
            "duration_s": int(millis) / 1000 if millis else None, "modified_at": modified,
            "folder_id": folder_id, "checksum": entry.get("md5Checksum"),
            "thumbnail_link": entry.get("thumbnailLink"), "seen_at": seen,
            "media": facts.from_drive(entry.get("mimeType"), video),
        })  # fmt: skip
    return items, folders


def _resolve_roots(
    db: Database, client: DriveClient, folder_ids: list[str]
) -> tuple[list[str], list[str], dict[str, str]]:
    # "root" is an alias: Drive names a file's parent by the real id, so index under that.
    # What Drive says of each also names it in Settings, or says it cannot be read any more:
    # such a folder is not listed (its items go), where it used to fail the whole rebuild.
    resolved, said = [], {}
    for folder in folder_ids:
        try:
            entry = client.get_file(folder)
        except NotFound:
            entry = {"id": folder}
        resolved.append(str(entry.get("id") or folder))
        said[folder] = folder_names.described(entry) if "name" in entry else folder_names.UNREADABLE
    if client.auth.creds.connection_id is not None:
        folder_names.remember(db, client.auth.creds.connection_id, said)
    pairs = list(zip(resolved, folder_ids, strict=True))
    readable = [root for root, fid in pairs if said[fid]["readable"]]
    # By real id, for the course of the videos loose in a root (discovery.discover_drive).
    names = {root: str(said[fid]["name"]) for root, fid in pairs if said[fid].get("name")}
    return resolved, readable, names


def _folder_ids(services: Services, client: DriveClient) -> list[str]:
    # The folders of the connection the client goes through; DRIVE_FOLDER_IDS without one.
    connection_id = client.auth.creds.connection_id
    return connections.folders_of(services.db, connection_id, services.settings.drive_folder_ids)


def _state_key(connection_id: int | None) -> str:
    # Each connection follows Drive's changes feed with a token of its own.
    return Source.DRIVE if connection_id is None else reach.state_key(Source.DRIVE, connection_id)


def rebuild_drive(
    services: Services, client: DriveClient, on_progress: Progress = _quiet
) -> dict[str, int]:
    """List every folder the client's connection indexes; remove what vanished (and no other
    connection reaches) only after the last page arrived."""
    started = utcnow()
    start_token = client.start_page_token()  # changes made during the listing are caught later
    folder_ids = _folder_ids(services, client)
    roots, readable, names = _resolve_roots(services.db, client, folder_ids)
    conn = client.auth.creds.connection_id
    for attempt in range(MAX_LISTING_RESTARTS + 1):
        try:
            seen, sidecars = _list_drive(services.db, client, readable, started, on_progress)
            break
        except ValidationFailed:
            if attempt == MAX_LISTING_RESTARTS:
                raise
            log.warning("Drive rejected a page token; restarting the listing")
    aliases = dict(zip(folder_ids, roots, strict=True))
    drive_tracks.sync_drive_sidecars(services.db, client, sidecars)
    with services.db.session() as session:
        if conn is None:
            removed, _ = catalog.remove_unseen(session, Source.DRIVE, started)
        else:
            removed = reach.release(session, conn, sources=(Source.DRIVE,), before=started)["items"]
            removed += reach.remove_unreached(session, Source.DRIVE, started)
            _share_aliases(session, aliases, names)
        drive_tracks.drop_orphan_tracks(session)
        catalog.save_state(
            session, _state_key(conn), page_token=start_token, last_rebuild_at=utcnow(),
            last_sync_at=utcnow(), last_error=None, extra={"aliases": aliases, "names": names},
        )  # fmt: skip
        discover_drive(session)
    return {"items": seen, "removed": removed}


def _share_aliases(session: Any, aliases: dict[str, str], names: dict[str, str]) -> None:
    # Browsing, subscriptions and courses read the shared Drive state: when some connection
    # last listed Drive, the real ids of every connection's roots and their names.
    shared = session.get(SourceState, Source.DRIVE)
    extra = (shared.extra if shared is not None else None) or {}
    catalog.save_state(
        session, Source.DRIVE, last_rebuild_at=utcnow(), last_sync_at=utcnow(),
        extra={"aliases": {**(extra.get("aliases") or {}), **aliases},
               "names": {**(extra.get("names") or {}), **names}},
    )  # fmt: skip


def _list_drive(
    db: Database,
    client: DriveClient,
    roots: list[str],
    started: datetime,
    on_progress: Progress,
) -> tuple[int, drive_tracks.Found]:
    seen = 0
    conn = client.auth.creds.connection_id
    sidecars: drive_tracks.Found = []
    for folder, files in client.walk(roots):
        items, folders = drive_rows(files, folder, started)
        found = drive_tracks.sidecar_entries(folder, files)
        sidecars += found
        with db.session() as session:
            _save_rows(
                session, (items, folders, drive_tracks.sidecar_rows(found, started)), conn, started
            )
        seen += len(items)
        on_progress(seen, None, f"listed {seen} Drive files")
    return seen, sidecars


def _save_rows(
    session: Any, rows: tuple[Rows, Rows, Rows], conn: int | None, seen: datetime
) -> None:
    """Store a page's items, folders and subtitle files, and what the connection reaches."""
    items, folders, sidecars = rows
    for row in items:
        row["connection_id"] = conn
    catalog.remove_sidecars(session, Source.DRIVE, [row["source_id"] for row in items + folders])
    catalog.upsert_items(session, items)
    catalog.upsert_folders(session, folders)
    catalog.upsert_sidecars(session, sidecars)
    if conn is not None:
        ids = [row["source_id"] for row in items + folders + sidecars]
        reach.mark(session, Source.DRIVE, ids, conn, seen)


def _indexed_folders(session: Any, roots: list[str], conn: int | None) -> set[str]:
    if conn is not None:  # what this connection reaches (item ids are never parents)
        return set(roots) | reach.reached(session, Source.DRIVE, conn)
    known = session.query(CatalogFolder.source_id).filter(CatalogFolder.source == Source.DRIVE)
    return set(roots) | {row[0] for row in known}


def _remove(session: Any, file_id: str, conn: int | None) -> str:
    if conn is None:
        catalog.remove_ids(session, Source.DRIVE, [file_id])
    else:  # gone for this connection; another may still reach it (until its own sync)
        reach.release(session, conn, sources=(Source.DRIVE,), source_ids=[file_id])
    return "removed"


def _apply_change(
    session: Any, change: dict[str, Any], indexed: set[str], seen: datetime, conn: int | None
) -> str:
    file_id, entry = str(change.get("fileId")), change.get("file") or {}
    if change.get("removed") or entry.get("trashed"):
        return _remove(session, file_id, conn)
    parent = next((p for p in entry.get("parents") or [] if p in indexed), None)
    if parent is None:  # moved out of the indexed folders
        return _remove(session, file_id, conn)
    items, folders = drive_rows([entry], parent, seen)
    found = drive_tracks.sidecar_rows(drive_tracks.sidecar_entries(parent, [entry]), seen)
    _save_rows(session, (items, folders, found), conn, seen)
    if folders:
        indexed.add(entry["id"])
    return "updated"


def _sync_sidecars(
    services: Services, client: DriveClient, changes: list[dict[str, Any]], indexed: set[str]
) -> None:
    """Subtitle files among a page of changes (applied already): (re)indexed, and the tracks
    of those that left the catalog dropped."""
    found: drive_tracks.Found = []
    for change in changes:
        entry = change.get("file") or {}
        parent = next((p for p in entry.get("parents") or [] if p in indexed), None)
        if parent and not change.get("removed"):
            found += drive_tracks.sidecar_entries(parent, [entry])
    with services.db.session() as session:
        drive_tracks.drop_orphan_tracks(session)
    drive_tracks.sync_drive_sidecars(services.db, client, found)


def sync_drive(
    services: Services, client: DriveClient, on_progress: Progress = _quiet
) -> dict[str, int]:
    """Apply Drive's changes feed since the stored token; a full rebuild if there is none."""
    conn = client.auth.creds.connection_id
    state = catalog.get_state(services.db, _state_key(conn))
    if not state.page_token:
        return {**rebuild_drive(services, client, on_progress), "full_rebuild": 1}
    aliases = (state.extra or {}).get("aliases") or {}
    roots = list(aliases.values()) or _folder_ids(services, client)
    token: str | None = state.page_token
    counts = {"updated": 0, "removed": 0, "full_rebuild": 0}
    while token:
        try:
            changes, next_token, new_start = client.changes(token)
        except (NotFound, ValidationFailed):
            log.warning("Drive rejected the changes token; rebuilding in full")
            return {**rebuild_drive(services, client, on_progress), "full_rebuild": 1}
        with services.db.session() as session:
            indexed = _indexed_folders(session, roots, conn)
            for change in changes:
                counts[_apply_change(session, change, indexed, utcnow(), conn)] += 1
            discover_drive(session)
        _sync_sidecars(services, client, changes, indexed)
        with services.db.session() as session:
            if new_start:
                catalog.save_state(
                    session,
                    _state_key(conn),
                    page_token=new_start,
                    last_sync_at=utcnow(),
                    last_error=None,
                )
        on_progress(counts["updated"] + counts["removed"], None, "applying Drive changes")
        token = next_token
    return counts
