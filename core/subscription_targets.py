"""What can be subscribed: a course Classroom knows, a folder of the indexed Drive trees."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select

from core import catalog, classroom
from core.db import session_scope
from core.errors import CredentialsMissing, NotFound, ValidationFailed
from core.google import FOLDER_MIME, DriveClient
from core.models import CatalogFolder
from core.settings import Settings


def _drive_roots(db_url: str, settings: Settings) -> set[str]:
    aliases = (catalog.get_state(db_url, "drive").extra or {}).get("aliases") or {}
    return set(settings.drive_folder_ids) | set(aliases.values())


def _canonical_folder(db_url: str, folder_id: str) -> str:
    aliases = (catalog.get_state(db_url, "drive").extra or {}).get("aliases") or {}
    return str(aliases.get(folder_id, folder_id))


def folder_tree(db_url: str, settings: Settings, folder_id: str) -> set[str]:
    """The folder and every indexed folder below it."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(CatalogFolder.source_id, CatalogFolder.parent_id).where(
                CatalogFolder.source == "drive"
            )
        )
        children: dict[str, list[str]] = {}
        for child, parent in rows:
            children.setdefault(parent or "", []).append(child)
    tree, todo = set(), [_canonical_folder(db_url, folder_id)]
    while todo:
        current = todo.pop()
        if current not in tree:
            tree.add(current)
            todo.extend(children.get(current, []))
    return tree


def check_folder(settings: Settings, folder_id: str) -> None:
    """Nothing for an indexed Drive folder; ValidationFailed for a file or a folder outside the
    indexed ones; NotFound for an id Drive does not know."""
    db = settings.database_url
    if folder_id in _drive_roots(db, settings):
        return
    if catalog.find_item(db, "drive", folder_id) is not None:
        raise ValidationFailed(
            "This Drive id is a file, not a folder.", {"folder_id": ["Not a folder."]}
        )
    with session_scope(db) as session:
        indexed = session.scalar(
            select(CatalogFolder.id).where(
                CatalogFolder.source == "drive", CatalogFolder.source_id == folder_id
            )
        )
    if indexed is not None:
        return
    try:
        entry = DriveClient.from_settings(settings).get_file(folder_id)
    except CredentialsMissing:
        raise NotFound(f"No indexed Drive folder with id {folder_id!r}.") from None
    outside = "is outside the indexed folders (DRIVE_FOLDER_IDS)"
    what = "folder" if entry.get("mimeType") == FOLDER_MIME else "file, not a folder, and"
    raise ValidationFailed(
        f"This Drive {what} {outside}; only indexed folders can be subscribed.",
        {"folder_id": [f"Not an indexed folder: it {outside}."]},
    )


def check_course(settings: Settings, course_id: str) -> bool:
    """True for a synced course; False for one Classroom knows but no sync catalogued yet;
    NotFound for any other."""
    try:
        classroom.get_course(settings.database_url, course_id)
        return True
    except NotFound:
        pass
    try:
        client = classroom.ClassroomClient.from_settings(settings)
        client.request(f"courses/{quote(course_id, safe='')}", None).close()
    except (CredentialsMissing, ValidationFailed):
        raise NotFound(f"No Classroom course with id {course_id!r}.") from None
    return False
