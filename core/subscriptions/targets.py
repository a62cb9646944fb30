"""What can be subscribed: a course Classroom knows, a folder of the indexed Drive trees."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from core.base.db import Database
from core.base.errors import CredentialsMissing, NotFound, ValidationFailed
from core.base.models import CatalogFolder
from core.base.services import Services
from core.base.settings import Settings
from core.base.sources import Source
from core.catalog import accounts
from core.catalog import store as catalog
from core.catalog.sources.courses import get_course
from core.google import connections
from core.google.drive import FOLDER_MIME, DriveClient

MAX_DEPTH = 64  # folders deeper than this below a root are not looked for
NOT_A_FOLDER = "This Drive id is a file, not a folder: subscribe to its folder."


def _drive_roots(db: Database, settings: Settings) -> set[str]:
    aliases = (catalog.get_state(db, Source.DRIVE).extra or {}).get("aliases") or {}
    # Every connection's folders too: each indexes its own (CONTRACT 8.1).
    return set(settings.drive_folder_ids) | set(aliases.values()) | connections.all_folders(db)


def _canonical_folder(db: Database, folder_id: str) -> str:
    aliases = (catalog.get_state(db, Source.DRIVE).extra or {}).get("aliases") or {}
    return str(aliases.get(folder_id, folder_id))


def folder_tree(db: Database, settings: Settings, folder_id: str) -> set[str]:
    """The folder and every indexed folder below it."""
    with db.session() as session:
        rows = session.execute(
            select(CatalogFolder.source_id, CatalogFolder.parent_id).where(
                CatalogFolder.source == Source.DRIVE
            )
        )
        children: dict[str, list[str]] = {}
        for child, parent in rows:
            children.setdefault(parent or "", []).append(child)
    tree, todo = set(), [_canonical_folder(db, folder_id)]
    while todo:
        current = todo.pop()
        if current not in tree:
            tree.add(current)
            todo.extend(children.get(current, []))
    return tree


def check_folder(services: Services, folder_id: str) -> bool:
    """True for a catalogued folder of the indexed trees; False for one Drive shows inside them
    that no sync catalogued yet; ValidationFailed for a file or a folder outside them; NotFound
    for an id Drive does not know."""
    db, settings = services.db, services.settings
    if folder_id in _drive_roots(db, settings):
        return True
    if catalog.find_item(db, Source.DRIVE, folder_id) is not None:
        raise ValidationFailed(NOT_A_FOLDER, {"folder_id": ["Not a folder."]})
    with db.session() as session:
        indexed = session.scalar(
            select(CatalogFolder.id).where(
                CatalogFolder.source == Source.DRIVE, CatalogFolder.source_id == folder_id
            )
        )
    if indexed is not None:
        return True
    try:
        client = DriveClient.from_settings(settings, db)
        entry = client.get_file(folder_id)
    except CredentialsMissing:
        raise NotFound(f"No indexed Drive folder with id {folder_id!r}.") from None
    if entry.get("mimeType") != FOLDER_MIME:
        raise ValidationFailed(NOT_A_FOLDER, {"folder_id": ["Not a folder."]})
    if _under(client, entry, _drive_roots(db, settings)):
        return False
    outside = "is outside the indexed folders (DRIVE_FOLDER_IDS)"
    raise ValidationFailed(
        f"This Drive folder {outside}; only indexed folders can be subscribed.",
        {"folder_id": [f"Not an indexed folder: it {outside}."]},
    )


def _under(client: DriveClient, entry: dict[str, Any], roots: set[str]) -> bool:
    """Whether a Drive entry lies in one of the indexed trees, asking Drive for its ancestors."""
    roots = set(roots)
    if "root" in roots:  # Drive names parents by the real id of "root"
        with contextlib.suppress(NotFound):
            roots.add(str(client.get_file("root").get("id")))
    if entry.get("id") in roots:
        return True
    seen: set[str] = set()
    parents = list(entry.get("parents") or [])
    for _ in range(MAX_DEPTH):
        if not parents or parents[0] in seen:
            return False
        if any(parent in roots for parent in parents):
            return True
        seen.add(parents[0])
        try:
            parents = list(client.get_file(parents[0]).get("parents") or [])
        except NotFound:
            return False
    return False


def check_course(services: Services, course_id: str) -> bool:
    """True for a synced course; False for one Classroom knows but no sync catalogued yet;
    NotFound for any other."""
    try:
        get_course(services.db, course_id)
        return True
    except NotFound:
        pass
    try:  # any account that sees the course: each syncs its own
        clients = accounts.classroom_clients(services.settings, services.db)
    except CredentialsMissing:
        raise NotFound(f"No Classroom course with id {course_id!r}.") from None
    for client in clients:
        try:
            client.request(f"courses/{quote(course_id, safe='')}", None).close()
            return False
        except (NotFound, ValidationFailed):
            continue
    raise NotFound(f"No Classroom course with id {course_id!r}.")
