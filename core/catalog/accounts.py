"""Every Google connection syncs on its own: one client per connection that is ok, and a
refusal of one (Google withdrew its grant) leaves the others to carry on (CONTRACT 8.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from core.base.db import Database
from core.base.models import CatalogItem, Course
from core.base.settings import Settings
from core.base.sources import Source
from core.google import connections
from core.google.auth import GoogleReconnectRequired
from core.google.classroom import ClassroomClient
from core.google.drive import DriveClient, GoogleApi

C = TypeVar("C", bound=GoogleApi)


def clients(settings: Settings, db: Database, kind: type[C]) -> list[C]:
    """A client per connection that is ok; without one, the default (the stored credential of
    PUT /api/credentials/google, or the refusal that says what to do)."""
    ids = connections.usable_ids(db)
    if not ids:
        return [kind.from_settings(settings, db)]
    return [kind.from_settings(settings, db, cid) for cid in ids]


def drive_clients(settings: Settings, db: Database) -> list[DriveClient]:
    """One Drive client per usable connection."""
    return clients(settings, db, DriveClient)


def classroom_clients(settings: Settings, db: Database) -> list[ClassroomClient]:
    """One Classroom client per usable connection."""
    return clients(settings, db, ClassroomClient)


def each(chosen: list[C], run: Callable[[C], dict[str, Any]]) -> dict[str, Any]:
    """Run `run` through every client; counts add up. A connection Google withdrew is noted
    and skipped; when every one was refused, the first refusal fails the task."""
    done: dict[str, dict[str, Any]] = {}
    refused: list[GoogleReconnectRequired] = []
    for client in chosen:
        key = str(client.auth.creds.connection_id or "default")
        try:
            done[key] = run(client)
        except GoogleReconnectRequired as error:
            refused.append(error)
            done[key] = {"error": "google_reconnect_required", "message": error.message}
    if refused and len(refused) == len(chosen):
        raise refused[0]
    total: dict[str, Any] = {}
    for result in done.values():
        for name, value in result.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[name] = total.get(name, 0) + value
    if len(done) > 1:
        total["connections"] = done
    return total


def connection_of_item(db: Database, source: str, source_id: str) -> int | None:
    """The connection that streams a Drive file or Classroom material, if catalogued by one."""
    with db.session() as session:
        for kind in (source, Source.DRIVE, Source.CLASSROOM):
            item = session.query(CatalogItem.connection_id).filter(
                CatalogItem.source == kind, CatalogItem.source_id == source_id
            )
            found = item.first()
            if found is not None and found[0] is not None:
                return int(found[0])
    return None


def connection_of_course(db: Database, course_id: str) -> int | None:
    """The connection that synced a Classroom course, if one did."""
    with db.session() as session:
        course = session.get(Course, course_id)
        return course.connection_id if course is not None else None


def drive_client_for(
    settings: Settings, db: Database, source: str, source_id: str, connection_id: int | None = None
) -> DriveClient:
    """The Drive client for an item's file: `connection_id` when named; else the connection
    that catalogued it, or another that reaches it, while ok; else the first ok connection."""
    if connection_id is None:
        connection_id = _reaching(db, source, source_id)
    return DriveClient.from_settings(settings, db, connection_id)


def _reaching(db: Database, source: str, source_id: str) -> int | None:
    from core.catalog.reach import CatalogReach

    usable = connections.usable_ids(db)
    owner = connection_of_item(db, source, source_id)
    if owner in usable:
        return owner
    with db.session() as session:
        reaching = set(
            session.scalars(
                select(CatalogReach.connection_id).where(CatalogReach.source_id == source_id)
            )
        )
    return next((cid for cid in usable if cid in reaching), None)
