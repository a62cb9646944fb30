"""Browsing Drive: from the catalog when a folder is indexed, else live; same shape both ways."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.base.db import Database
from core.base.errors import NotFound, ValidationFailed
from core.base.models import CatalogFolder, CatalogItem
from core.base.pagination import keyset_page
from core.base.sources import Source
from core.catalog import store as catalog
from core.catalog.models import CatalogSidecar
from core.google.drive import FOLDER_MIME, DriveClient
from core.google.timestamps import parse_timestamp


@dataclass(frozen=True)
class DriveEntry:
    id: str
    name: str
    mime_type: str | None
    size_bytes: int | None
    modified_at: datetime | None
    is_folder: bool
    has_thumbnail: bool


def _pack(mode: str, value: Any) -> str:
    raw = json.dumps([mode, value], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unpack(token: str) -> tuple[str, Any]:
    try:
        mode, value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if mode not in ("catalog", "live"):
            raise ValueError(mode)
        return str(mode), value
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "The page_token is malformed.", {"page_token": ["Malformed."]}
        ) from None


def resolve_alias(db: Database, folder_id: str) -> str:
    """The real id of an indexed root given by alias (e.g. "root")."""
    aliases = (catalog.get_state(db, Source.DRIVE).extra or {}).get("aliases") or {}
    return str(aliases.get(folder_id, folder_id))


def is_indexed(db: Database, folder_id: str) -> bool:
    """True if the catalog holds the complete listing of this Drive folder."""
    state = catalog.get_state(db, Source.DRIVE)
    if state.last_rebuild_at is None:
        return False
    roots = set(((state.extra or {}).get("aliases") or {}).values())
    if folder_id in roots:
        return True
    with db.session() as session:
        return (
            session.scalar(
                select(CatalogFolder.id).where(
                    CatalogFolder.source == Source.DRIVE, CatalogFolder.source_id == folder_id
                )
            )
            is not None
        )


def _folder_entry(folder: CatalogFolder) -> DriveEntry:
    return DriveEntry(
        folder.source_id, folder.name, FOLDER_MIME, None, folder.modified_at, True, False
    )


def _item_entry(item: CatalogItem) -> DriveEntry:
    return DriveEntry(
        item.source_id,
        item.title,
        item.mime_type,
        item.size_bytes,
        item.modified_at,
        False,
        bool(item.thumbnail_link),
    )


def live_entry(entry: dict[str, Any]) -> DriveEntry:
    """A DriveEntry from a Drive API file resource."""
    size = entry.get("size")
    return DriveEntry(
        str(entry["id"]),
        str(entry.get("name", "")),
        entry.get("mimeType"),
        int(size) if size else None,
        parse_timestamp(entry.get("modifiedTime")),
        entry.get("mimeType") == FOLDER_MIME,
        bool(entry.get("thumbnailLink")),
    )


def _sidecar_entry(sidecar: CatalogSidecar) -> DriveEntry:
    return DriveEntry(
        sidecar.source_id, sidecar.name, sidecar.mime_type, sidecar.size_bytes,
        sidecar.modified_at, False, bool(sidecar.thumbnail_link),
    )  # fmt: skip


# A catalogued folder lists in three runs, each in name order: its folders, its items, and its
# subtitle files (no items, CONTRACT 8.4, but children Drive lists).
PHASES = ("folders", "items", "sidecars")


def _phase(name: str, folder_id: str) -> tuple[Any, tuple[Any, ...], Callable[[Any], DriveEntry]]:
    if name == "folders":
        where = (CatalogFolder.source == Source.DRIVE, CatalogFolder.parent_id == folder_id)
        return (
            select(CatalogFolder).where(*where),
            (CatalogFolder.name, CatalogFolder.id),
            _folder_entry,
        )
    if name == "items":
        where = (CatalogItem.source == Source.DRIVE, CatalogItem.folder_id == folder_id)
        return select(CatalogItem).where(*where), (CatalogItem.title, CatalogItem.id), _item_entry
    where = (CatalogSidecar.source == Source.DRIVE, CatalogSidecar.folder_id == folder_id)
    keys = (CatalogSidecar.name, CatalogSidecar.id)
    return select(CatalogSidecar).where(*where), keys, _sidecar_entry


def _catalog_page(
    db: Database, folder_id: str, size: int, state: Any
) -> tuple[list[DriveEntry], str | None]:
    phase, cursor = state or [PHASES[0], None]
    if phase not in PHASES:
        raise ValidationFailed("The page_token is malformed.", {"page_token": ["Malformed."]})
    entries: list[DriveEntry] = []
    with db.session() as session:
        for at in range(PHASES.index(phase), len(PHASES)):
            if len(entries) == size:  # full: the next page starts at this run
                return entries, _pack("catalog", [PHASES[at], None])
            stmt, keys, entry = _phase(PHASES[at], folder_id)
            page = keyset_page(
                session, stmt, keys, limit=size - len(entries), cursor=cursor, descending=False
            )
            entries += [entry(row) for row in page.items]
            if page.next_cursor:
                return entries, _pack("catalog", [PHASES[at], page.next_cursor])
            cursor = None
    return entries, None


def list_folder(
    db: Database,
    client_factory: Any,
    folder_id: str,
    page_size: int = 100,
    page_token: str | None = None,
) -> tuple[list[DriveEntry], str | None]:
    """One page of a folder's non-trashed children, folders first, complete and duplicate-free."""
    if not 1 <= page_size <= 1000:
        raise ValidationFailed("page_size must be between 1 and 1000.", {"page_size": ["Range."]})
    folder_id = resolve_alias(db, folder_id)
    mode, state = (
        _unpack(page_token)
        if page_token
        else ("catalog" if is_indexed(db, folder_id) else "live", None)
    )
    if mode == "catalog":
        return _catalog_page(db, folder_id, page_size, state)
    client: DriveClient = client_factory()
    if state is None:
        folder = client.get_file(folder_id)
        if folder.get("mimeType") != FOLDER_MIME:
            raise NotFound(f"{folder_id!r} is not a Drive folder.")
    files, next_token = client.list_children(folder_id, state, page_size)
    entries = sorted((live_entry(f) for f in files), key=lambda e: (not e.is_folder, e.name))
    return entries, _pack("live", next_token) if next_token else None


def get_entry(db: Database, client_factory: Any, file_id: str) -> tuple[DriveEntry, str | None]:
    """A file or folder and its thumbnail link: from the catalog if known, else live."""
    item = catalog.find_item(db, Source.DRIVE, file_id)
    if item is not None:
        return _item_entry(item), item.thumbnail_link
    with db.session() as session:
        folder = session.scalars(
            select(CatalogFolder).where(
                CatalogFolder.source == Source.DRIVE, CatalogFolder.source_id == file_id
            )
        ).first()
    if folder is not None:
        return _folder_entry(folder), None
    with db.session() as session:
        sidecar = session.scalars(
            select(CatalogSidecar).where(
                CatalogSidecar.source == Source.DRIVE, CatalogSidecar.source_id == file_id
            )
        ).first()
    if sidecar is not None:
        return _sidecar_entry(sidecar), sidecar.thumbnail_link
    entry = client_factory().get_file(file_id)
    return live_entry(entry), entry.get("thumbnailLink")
