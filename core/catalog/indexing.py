"""Catalog rebuilds and syncs: local media roots, Google Drive listing and its changes feed."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.base.db import Database
from core.base.errors import NotFound, ValidationFailed
from core.base.models import CatalogFolder, CatalogItem, utcnow
from core.base.services import Services
from core.base.settings import Settings
from core.catalog import store as catalog
from core.google import connections
from core.google.drive import FOLDER_MIME, DriveClient
from core.media import probing as media

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None, str], object]
MAX_LISTING_RESTARTS = 3


def _quiet(_current: int, _total: int | None, _message: str) -> None:
    return None


def parse_timestamp(value: str | None) -> datetime | None:
    """An RFC 3339 time from Google as an aware UTC datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


# ---------------------------------------------------------------- local media roots


def safe_files(root: Path) -> Iterator[Path]:
    """Regular files under `root`, not following symlinks that lead out of it."""
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath, name)
            try:
                if path.is_symlink() and not path.resolve().is_relative_to(root):
                    continue
                if path.is_file():
                    yield path
            except OSError:
                continue


def _known_local(db: Database) -> dict[str, tuple[int | None, int | None, float | None]]:
    with db.session() as session:
        rows = session.query(
            CatalogItem.source_id, CatalogItem.size_bytes, CatalogItem.extra, CatalogItem.duration_s
        ).filter(CatalogItem.source == "local")
        return {sid: (size, (extra or {}).get("mtime_ns"), dur) for sid, size, extra, dur in rows}


def _local_row(
    root: Path, path: Path, known: dict[str, Any], seen: datetime
) -> dict[str, Any] | None:
    mime = media.video_type(path)
    if mime is None:
        return None
    stat = path.stat()
    rel = path.relative_to(root.resolve()).as_posix()
    previous = known.get(rel)
    if previous and previous[0] == stat.st_size and previous[1] == stat.st_mtime_ns:
        duration = previous[2]  # unchanged: no need to probe again
    else:
        duration = media.probe(path).duration_s
    folder = Path(rel).parent.as_posix()
    return {
        "source": "local", "source_id": rel, "title": path.stem, "mime_type": mime,
        "is_video": True, "size_bytes": stat.st_size, "duration_s": duration,
        "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC),
        "folder_id": "" if folder == "." else folder,
        "extra": {"root": str(root), "mtime_ns": stat.st_mtime_ns}, "seen_at": seen,
    }  # fmt: skip


def rebuild_local(services: Services, on_progress: Progress = _quiet) -> dict[str, int]:
    """Index every video under MEDIA_ROOTS; re-probe only changed files; drop what vanished."""
    started = utcnow()
    settings = services.settings
    known = _known_local(services.db)
    files = [
        (root, path) for root in settings.media_roots if root.is_dir() for path in safe_files(root)
    ]
    rows: dict[str, dict[str, Any]] = {}
    for index, (root, path) in enumerate(files, 1):
        row = _local_row(root, path, known, started)
        if row is not None:
            rows.setdefault(row["source_id"], row)  # the first root wins a name clash
        on_progress(index, len(files), f"indexed {index} of {len(files)} files")
    folders = {row["folder_id"] for row in rows.values() if row["folder_id"]}
    with services.db.session() as session:
        catalog.upsert_items(session, list(rows.values()))
        catalog.upsert_folders(
            session,
            [
                {
                    "source": "local",
                    "source_id": f,
                    "name": Path(f).name,
                    "parent_id": Path(f).parent.as_posix().replace(".", "", 1) if "/" in f else "",
                    "seen_at": started,
                }
                for f in sorted(folders)
            ],
        )
        removed, _ = catalog.remove_unseen(session, "local", started)
        catalog.save_state(session, "local", last_rebuild_at=utcnow(), last_error=None)
    changed = sum(
        1
        for sid, row in rows.items()
        if known.get(sid, (None, None))[:2] != (row["size_bytes"], row["extra"]["mtime_ns"])
    )
    return {"items": len(rows), "changed": changed, "removed": removed}


def resolve_local(settings: Settings, source_id: str) -> Path:
    """The file of a local item, refusing anything that escapes its media root (NotFound)."""
    for root in settings.media_roots:
        base = root.resolve()
        candidate = (base / source_id).resolve()
        if (
            candidate.is_relative_to(base)
            and candidate.is_file()
            and not Path(source_id).is_absolute()
        ):
            return candidate
    raise NotFound("No such file in the media roots.")


# ---------------------------------------------------------------- Google Drive


Rows = list[dict[str, Any]]


def drive_rows(files: Rows, folder_id: str, seen: datetime) -> tuple[Rows, Rows]:
    """Catalog rows (items, folders) for one page of a Drive folder listing."""
    items: Rows = []
    folders: Rows = []
    for entry in files:
        if entry.get("trashed"):
            continue
        modified = parse_timestamp(entry.get("modifiedTime"))
        if entry.get("mimeType") == FOLDER_MIME:
            folders.append(
                {
                    "source": "drive",
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
            "source": "drive", "source_id": entry["id"], "title": entry.get("name", ""),
            "mime_type": entry.get("mimeType"),
            "size_bytes": int(entry["size"]) if entry.get("size") else None,
            "duration_s": int(millis) / 1000 if millis else None, "modified_at": modified,
            "folder_id": folder_id, "checksum": entry.get("md5Checksum"),
            "thumbnail_link": entry.get("thumbnailLink"), "seen_at": seen,
        })  # fmt: skip
    return items, folders


def _resolve_roots(client: DriveClient, folder_ids: list[str]) -> list[str]:
    # "root" is an alias: Drive names a file's parent by the real id, so index under that.
    resolved = []
    for folder in folder_ids:
        try:
            resolved.append(str(client.get_file(folder).get("id") or folder))
        except NotFound:
            resolved.append(folder)
    return resolved


def _folder_ids(services: Services, client: DriveClient) -> list[str]:
    # The folders of the connection the client goes through; DRIVE_FOLDER_IDS without one.
    connection_id = client.auth.creds.connection_id
    return connections.folders_of(services.db, connection_id, services.settings.drive_folder_ids)


def rebuild_drive(
    services: Services, client: DriveClient, on_progress: Progress = _quiet
) -> dict[str, int]:
    """List every indexed folder; remove what vanished only after the last page arrived."""
    started = utcnow()
    start_token = client.start_page_token()  # changes made during the listing are caught later
    folder_ids = _folder_ids(services, client)
    roots = _resolve_roots(client, folder_ids)
    for attempt in range(MAX_LISTING_RESTARTS + 1):
        try:
            seen = _list_drive(services.db, client, roots, started, on_progress)
            break
        except ValidationFailed:
            if attempt == MAX_LISTING_RESTARTS:
                raise
            log.warning("Drive rejected a page token; restarting the listing")
    with services.db.session() as session:
        removed, _ = catalog.remove_unseen(session, "drive", started)
        aliases = dict(zip(folder_ids, roots, strict=True))
        catalog.save_state(
            session,
            "drive",
            page_token=start_token,
            last_rebuild_at=utcnow(),
            last_sync_at=utcnow(),
            last_error=None,
            extra={"aliases": aliases},
        )
    return {"items": seen, "removed": removed}


def _list_drive(
    db: Database,
    client: DriveClient,
    roots: list[str],
    started: datetime,
    on_progress: Progress,
) -> int:
    seen = 0
    for folder, files in client.walk(roots):
        items, folders = drive_rows(files, folder, started)
        with db.session() as session:
            catalog.upsert_items(session, items)
            catalog.upsert_folders(session, folders)
        seen += len(items)
        on_progress(seen, None, f"listed {seen} Drive files")
    return seen


def _indexed_folders(session: Any, roots: list[str]) -> set[str]:
    known = session.query(CatalogFolder.source_id).filter(CatalogFolder.source == "drive")
    return set(roots) | {row[0] for row in known}


def _apply_change(session: Any, change: dict[str, Any], indexed: set[str], seen: datetime) -> str:
    file_id, entry = str(change.get("fileId")), change.get("file") or {}
    if change.get("removed") or entry.get("trashed"):
        catalog.remove_ids(session, "drive", [file_id])
        return "removed"
    parent = next((p for p in entry.get("parents") or [] if p in indexed), None)
    if parent is None:  # moved out of the indexed folders
        catalog.remove_ids(session, "drive", [file_id])
        return "removed"
    items, folders = drive_rows([entry], parent, seen)
    catalog.upsert_items(session, items)
    catalog.upsert_folders(session, folders)
    if folders:
        indexed.add(entry["id"])
    return "updated"


def sync_drive(
    services: Services, client: DriveClient, on_progress: Progress = _quiet
) -> dict[str, int]:
    """Apply Drive's changes feed since the stored token; a full rebuild if there is none."""
    state = catalog.get_state(services.db, "drive")
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
            indexed = _indexed_folders(session, roots)
            for change in changes:
                counts[_apply_change(session, change, indexed, utcnow())] += 1
            if new_start:
                catalog.save_state(
                    session, "drive", page_token=new_start, last_sync_at=utcnow(), last_error=None
                )
        on_progress(counts["updated"] + counts["removed"], None, "applying Drive changes")
        token = next_token
    return counts
