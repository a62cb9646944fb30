"""What Drive last said of the folders a connection indexes: a name to show for each id, and
whether the account can still read it, kept so Settings never asks Drive to draw a table."""

from __future__ import annotations

import logging
from typing import Any

from core.base.db import Database
from core.base.errors import AulaError, NotFound, UpstreamRefused
from core.base.models import GoogleConnection
from core.base.settings import Settings
from core.google import connections
from core.google.auth import GoogleReconnectRequired
from core.google.connections import ConnectionView
from core.google.drive import FOLDER_MIME, DriveClient

log = logging.getLogger(__name__)
Names = dict[str, dict[str, Any]]  # folder id -> {"name": str, "readable": bool}
UNREADABLE: dict[str, Any] = {"readable": False}  # gone, trashed or unshared: the name stays


def described(entry: dict[str, Any]) -> dict[str, Any]:
    """What a Drive file resource says of a folder the connection indexes."""
    readable = entry.get("mimeType") == FOLDER_MIME and not entry.get("trashed")
    return {"name": str(entry.get("name") or ""), "readable": readable}


def remember(db: Database, connection_id: int, found: Names) -> None:
    """Store what Drive said of these folders, over what it said before (a folder that cannot
    be read keeps its last name); only for folders the connection still indexes."""
    with db.session() as session:
        row = session.get(GoogleConnection, connection_id)
        if row is None or not found:
            return
        names = dict(row.drive_folder_names or {})
        for fid, said in found.items():
            names[fid] = {**(names.get(fid) or {}), **said}
        row.drive_folder_names = {k: v for k, v in names.items() if k in row.drive_folder_ids}


def look_up(db: Database, client: DriveClient, connection_id: int, folder_ids: list[str]) -> None:
    """Ask Drive for these folders through the connection's client and remember the answers;
    an outage or a withdrawn grant says nothing about a folder, so it leaves it as it was."""
    found: Names = {}
    for fid in folder_ids:
        try:
            found[fid] = described(client.get_file(fid))
        except GoogleReconnectRequired:
            break  # the account's grant, not the folder
        except (NotFound, UpstreamRefused):
            found[fid] = UNREADABLE
        except AulaError as error:
            log.info("Drive folder %s not looked up: %s", fid, type(error).__name__)
    remember(db, connection_id, found)


def name_unknown(settings: Settings, db: Database, connection_id: int) -> ConnectionView:
    """Ask Drive for the folders of the connection it was never asked about (just picked), and
    answer the connection; without a way to Drive now, they stay unnamed until the next try."""
    view = connections.get(db, connection_id)
    unknown = [f["id"] for f in view.drive_folders if f["readable"] is None]
    if not unknown:
        return view
    try:
        client = DriveClient.from_settings(settings, db, connection_id)
    except AulaError as error:
        log.info("Drive folders of connection %s not looked up: %s", connection_id,
                 type(error).__name__)  # fmt: skip
        return view
    look_up(db, client, connection_id, unknown)
    return connections.get(db, connection_id)
