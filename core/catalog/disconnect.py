"""Disconnecting Google (CONTRACT 8.1): a connection's token revoked and its secrets erased, and
what only it reached gone from the catalog; the same whether the person deletes the connection
or the credential of PUT /api/credentials/google that made it."""

from __future__ import annotations

import json

from core.base.db import Database
from core.base.errors import NotFound
from core.base.http import make_session
from core.base.settings import Settings
from core.base.vault import Vault
from core.catalog import drive_tracks, reach
from core.catalog import store as catalog
from core.google import connections, manual


def delete_connection(db: Database, vault: Vault, settings: Settings, connection_id: int) -> None:
    """Delete one connection: its Drive and Classroom items and courses go unless another
    connection reaches them, its token is revoked at Google and its secrets erased (with the
    credential of PUT /api/credentials/google that gave that token). Files downloaded stay."""
    connections.get(db, connection_id)  # NotFound before anything changes
    _remove(db, vault, settings, connection_id)
    _forget_google_if_unreachable(db, vault)


def delete_credential(db: Database, vault: Vault, settings: Settings) -> list[int]:
    """DELETE /api/credentials/google: the stored credential goes, and with it every connection
    whose tokens PUT /api/credentials/google gave, deleted as `delete_connection` does. A
    connection made otherwise (the Connect button, a service account) stays. NotFound when
    there is neither. The ids of the connections deleted."""
    made = manual.connection_ids(db, vault)
    stored = _has_credential(vault)
    if not made and not stored:
        raise NotFound("No google credential is configured.")
    for connection_id in made:
        _remove(db, vault, settings, connection_id)
    if _has_credential(vault):  # one whose token no connection held (stored before any)
        vault.delete("google")
    _forget_google_if_unreachable(db, vault)
    return list(made)


def _remove(db: Database, vault: Vault, settings: Settings, connection_id: int) -> None:
    token = connections.secret_of(db, vault, connection_id).get("refresh_token")
    with db.session() as session:
        reach.forget_connection(session, connection_id)
        drive_tracks.drop_orphan_tracks(session)
    with make_session(settings, methods=("POST",)) as http:
        connections.delete(db, vault, connection_id, settings.google_revoke_url, http)
    if token and _has_credential(vault) and _credential_token(vault) == token:
        vault.delete("google")  # the credential that made it holds the token just revoked


def _credential_token(vault: Vault) -> str | None:
    try:
        stored = json.loads(vault.get("google"))
    except ValueError:
        return None
    return stored.get("refresh_token") if isinstance(stored, dict) else None


def _has_credential(vault: Vault) -> bool:
    return any(info.kind == "google" and info.configured for info in vault.list())


def _forget_google_if_unreachable(db: Database, vault: Vault) -> None:
    # The last way to Google went: its Drive and Classroom items go too (files stay).
    if not connections.any_connection(db) and not _has_credential(vault):
        with db.session() as session:
            catalog.forget_google(session)
