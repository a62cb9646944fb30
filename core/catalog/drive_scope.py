"""Which Drive ids lie inside what Aula indexes: the DRIVE_FOLDER_IDS trees, Classroom files."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from core.base.db import Database
from core.base.errors import NotFound
from core.base.models import CatalogFolder, CatalogItem
from core.base.services import Services
from core.base.settings import Settings
from core.base.sources import Source
from core.catalog import store as catalog
from core.google.drive import DriveClient

# Folders nest deeper than this only in pathological trees; past it the id counts as outside.
MAX_DEPTH = 32


def _roots(db: Database, settings: Settings) -> set[str]:
    state = catalog.get_state(db, Source.DRIVE)
    aliases = (state.extra or {}).get("aliases") or {}
    return set(settings.drive_folder_ids) | {str(value) for value in aliases.values()}


def in_catalog(db: Database, file_id: str) -> bool:
    """Whether the catalog holds `file_id` as a Drive item or folder, or a Classroom material."""
    with db.session() as session:
        item = session.scalar(
            select(CatalogItem.id)
            .where(CatalogItem.source.in_((Source.DRIVE, Source.CLASSROOM)))
            .where(CatalogItem.source_id == file_id)
            .limit(1)
        )
    return item is not None or is_indexed_folder(db, file_id)


def is_indexed_folder(db: Database, folder_id: str) -> bool:
    """Whether the catalog holds `folder_id` as a folder of an indexed tree."""
    with db.session() as session:
        folder = session.scalar(
            select(CatalogFolder.id)
            .where(CatalogFolder.source == Source.DRIVE, CatalogFolder.source_id == folder_id)
            .limit(1)
        )
    return folder is not None


def is_indexed(services: Services, client_factory: Callable[[], DriveClient], file_id: str) -> bool:
    """Whether `file_id` is inside an indexed tree or a Classroom material.

    The catalog answers for what it holds; a file it does not hold yet (added since the last
    sync, or before the first rebuild) is judged by walking its parents up live, at most
    MAX_DEPTH levels. An id Drive does not know is outside.
    """
    db = services.db
    roots = _roots(db, services.settings)
    if file_id in roots or in_catalog(db, file_id):
        return True
    client = client_factory()
    if "root" in roots:
        roots.add(str(client.get_file("root")["id"]))
    level, seen = [file_id], {file_id}
    for _ in range(MAX_DEPTH):
        parents: list[str] = []
        for current in level:
            try:
                parents += [str(p) for p in client.get_file(current).get("parents") or []]
            except NotFound:
                continue
        if any(p in roots or is_indexed_folder(db, p) for p in parents):
            return True
        level = [p for p in parents if p not in seen]
        seen.update(level)
        if not level:
            return False
    return False
