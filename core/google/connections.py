"""Google connections: one row per account, its secrets encrypted, never shown back."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.base.db import Database
from core.base.errors import SETTINGS_PAGE, NotFound, ValidationFailed
from core.base.models import GoogleConnection, utcnow
from core.base.pagination import Page, keyset_page
from core.base.settings import Settings
from core.base.vault import Vault
from core.google.auth import GoogleCredentials, GoogleReconnectRequired
from core.google.client_config import require_client

log = logging.getLogger(__name__)
STATUSES = ("ok", "needs_reconnect", "revoked")
KINDS = ("oauth", "service_account")
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
CLASSROOM = "https://www.googleapis.com/auth/classroom."
# What Aula asks for (CONTRACT 8.1): Drive read-only and Classroom's read-only scopes.
SCOPES = (
    "openid",
    "email",
    "https://www.googleapis.com/auth/drive.readonly",
    CLASSROOM + "courses.readonly",
    CLASSROOM + "coursework.me.readonly",
    CLASSROOM + "coursework.students.readonly",
    CLASSROOM + "courseworkmaterials.readonly",
    CLASSROOM + "topics.readonly",
)


@dataclass(frozen=True)
class ConnectionView:
    """A connection as the API shows it: never a token."""

    id: int
    kind: str
    email: str
    scopes: list[str]
    missing_scopes: list[str]
    status: str
    status_reason: str | None
    drive_folder_ids: list[str]
    created_at: datetime
    last_used_at: datetime | None
    # Each folder and what Drive last said of it: {"id", "name", "readable"} (folder_names).
    drive_folders: list[dict[str, Any]]


def missing_scopes(granted: list[str]) -> list[str]:
    """The scopes Aula asked for that the account did not grant (granular consent)."""
    # Google answers "email" with its long name.
    have = {"email" if scope == EMAIL_SCOPE else scope for scope in granted}
    return [scope for scope in SCOPES if scope not in have]


def view(row: GoogleConnection) -> ConnectionView:
    """The public shape of a row."""
    names = row.drive_folder_names or {}
    folders = [
        {"id": fid, "name": (names.get(fid) or {}).get("name"),
         "readable": (names.get(fid) or {}).get("readable")}
        for fid in row.drive_folder_ids
    ]  # fmt: skip
    return ConnectionView(
        row.id, row.kind, row.email, list(row.scopes), missing_scopes(list(row.scopes)),
        row.status, row.status_reason, list(row.drive_folder_ids), row.created_at,
        row.last_used_at, folders,
    )  # fmt: skip


class WrongAccount(ValidationFailed):
    """A reconnect completed by another Google account: refused, nothing stored."""


def save(
    db: Database,
    vault: Vault,
    *,
    kind: str,
    email: str,
    scopes: list[str],
    secret: dict[str, Any],
    folders: list[str],
    replace_id: int | None = None,
) -> tuple[ConnectionView, bool]:
    """Store a connection, or replace the tokens of the one for the same account (or `replace_id`),
    keeping its id, folders and items; True when it is new. Two completions for one account at
    once make one connection: the one that loses the insert replaces the winner's tokens."""
    sealed = vault.seal(json.dumps(secret, sort_keys=True).encode())
    try:
        return _save(db, kind, email, scopes, sealed, folders, replace_id)
    except IntegrityError:  # the same account was inserted meanwhile (unique email)
        view_, _created = _save(db, kind, email, scopes, sealed, folders, replace_id)
        return view_, False


def _save(
    db: Database,
    kind: str,
    email: str,
    scopes: list[str],
    sealed: bytes,
    folders: list[str],
    replace_id: int | None,
) -> tuple[ConnectionView, bool]:
    with db.session() as session:
        row = session.get(GoogleConnection, replace_id) if replace_id is not None else None
        if row is not None and row.email != email:
            raise WrongAccount(
                f"You signed in to Google as {email}, but this connection is {row.email}: press"
                f" Reconnect again and choose {row.email}, or Connect to add {email}.",
                {"reason": "wrong_account"},
            )
        if row is None:
            row = session.scalars(
                select(GoogleConnection).where(GoogleConnection.email == email)
            ).first()
        created = row is None
        if row is None:
            row = GoogleConnection(kind=kind, email=email, drive_folder_ids=list(folders))
            session.add(row)
        row.kind, row.email, row.scopes, row.secret = kind, email, list(scopes), sealed
        row.status, row.status_reason, row.last_used_at = "ok", None, utcnow()
        session.flush()
        return view(row), created


def list_connections(db: Database, *, limit: int = 50, cursor: str | None = None) -> Page[Any]:
    """Connections, oldest first (the first ok one is the default)."""
    with db.session() as session:
        page = keyset_page(
            session, select(GoogleConnection), (GoogleConnection.id,), limit=limit,
            cursor=cursor, descending=False,
        )  # fmt: skip
        return Page([view(row) for row in page.items], page.next_cursor)


def get(db: Database, connection_id: int) -> ConnectionView:
    """One connection; NotFound when there is none."""
    with db.session() as session:
        return view(_row(session, connection_id))


def _row(session: Any, connection_id: int) -> GoogleConnection:
    row: GoogleConnection | None = session.get(GoogleConnection, connection_id)
    if row is None:
        raise NotFound(f"There is no Google connection {connection_id}.")
    return row


def set_folders(db: Database, connection_id: int, folders: list[str]) -> ConnectionView:
    """Which Drive folders this connection indexes (the next rebuild follows)."""
    with db.session() as session:
        row = _row(session, connection_id)
        row.drive_folder_ids = list(dict.fromkeys(folders))
        names = row.drive_folder_names or {}
        row.drive_folder_names = {k: v for k, v in names.items() if k in row.drive_folder_ids}
        session.flush()
        return view(row)


def secret_of(db: Database, vault: Vault, connection_id: int) -> dict[str, Any]:
    """The decrypted secrets of a connection (for making tokens only)."""
    with db.session() as session:
        sealed = _row(session, connection_id).secret
    if sealed is None:
        return {}
    value: dict[str, Any] = json.loads(vault.open(sealed, "Google connection"))
    return value


def delete(
    db: Database, vault: Vault, connection_id: int, revoke_url: str, session: requests.Session
) -> None:
    """Revoke the connection's token at Google, then forget the connection and its secrets."""
    secret = secret_of(db, vault, connection_id)
    token = secret.get("refresh_token")
    if token:
        revoke(revoke_url, token, session)
    with db.session() as db_session:
        db_session.delete(_row(db_session, connection_id))


def revoke(revoke_url: str, token: str, session: requests.Session) -> bool:
    """Ask Google to withdraw `token`; True when it did (or already had: 400 invalid_token)."""
    try:
        response = session.post(revoke_url, data={"token": token})
    except requests.RequestException as error:
        # Deleting goes on: the person asked Aula to forget the account, and Google's
        # permissions page can still withdraw it (docs/google.md).
        log.warning("Google's revoke endpoint failed (%s); forgetting the connection anyway",
                    type(error).__name__)  # fmt: skip
        return False
    if response.status_code not in (200, 400):
        log.warning("Google's revoke endpoint answered %s; forgetting the connection anyway",
                    response.status_code)  # fmt: skip
        return False
    return True


def credentials_for(
    db: Database, vault: Vault, settings: Settings, connection_id: int | None = None
) -> GoogleCredentials:
    """The credentials of `connection_id`, else of the first connection that is ok, else of
    PUT /api/credentials/google; a connection that needs reconnecting fails at once."""
    with db.session() as session:
        if connection_id is not None:
            row: GoogleConnection | None = _row(session, connection_id)
        else:
            rows = list(session.scalars(select(GoogleConnection).order_by(GoogleConnection.id)))
            row = next((r for r in rows if r.status == "ok"), rows[0] if rows else None)
        if row is None:
            return GoogleCredentials.from_vault(vault)
        chosen, status, email = row.id, row.status, row.email
    if status != "ok":
        raise GoogleReconnectRequired(
            f"Google withdrew Aula's access to {email}: reconnect it on the Settings page"
            " (/#/settings).",
            {"reason": "invalid_grant", "page": SETTINGS_PAGE, "connection_id": str(chosen)},
        )
    secret = secret_of(db, vault, chosen)
    if secret.get("service_account") is not None:
        return GoogleCredentials(
            "", "", "", chosen, secret["service_account"], secret.get("subject")
        )
    token = str(secret.get("refresh_token") or "")
    if secret.get("client_id"):  # PUT /api/credentials/google: a client of its own
        return GoogleCredentials(secret["client_id"], secret["client_secret"], token, chosen)
    client = require_client(vault, settings)
    return GoogleCredentials(client.client_id, client.client_secret, token, chosen)


# Who hears that a connection needs reconnecting, per database URL: set by each process's
# composition root (the webhook of core.notify), which core.google must not import.
_listeners: dict[str, Callable[[ConnectionView], None]] = {}


def on_needs_reconnect(database_url: str, listener: Callable[[ConnectionView], None]) -> None:
    """Call `listener` once each time a connection of that database needs reconnecting."""
    _listeners[database_url] = listener


def mark_needs_reconnect(db: Database, connection_id: int, reason: str) -> bool:
    """Put an ok connection in needs_reconnect; True only for the call that changed it (so its
    listener hears it once however many tasks meet the refusal)."""
    with db.session() as session:
        changed = session.execute(
            update(GoogleConnection)
            .where(GoogleConnection.id == connection_id, GoogleConnection.status == "ok")
            .values(status="needs_reconnect", status_reason=reason[:500], updated_at=utcnow())
        )
        if getattr(changed, "rowcount", 0) != 1:
            return False
    listener = _listeners.get(db.url)
    if listener is not None:
        try:
            listener(get(db, connection_id))
        except Exception as error:  # the status change stands; the event is a courtesy
            log.warning("needs_reconnect listener failed: %s", type(error).__name__)
    return True


def has_email(db: Database, email: str) -> bool:
    """Whether an account is connected already."""
    with db.session() as session:
        stmt = select(GoogleConnection.id).where(GoogleConnection.email == email)
        return session.scalars(stmt).first() is not None


def any_connection(db: Database) -> bool:
    """Whether any Google account is connected (in whatever status)."""
    with db.session() as session:
        return session.scalars(select(GoogleConnection.id).limit(1)).first() is not None


def counts_by_status(db: Database) -> dict[str, int]:
    """How many connections are in each status (every status listed, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    with db.session() as session:
        for status in session.scalars(select(GoogleConnection.status)):
            counts[status] = counts.get(status, 0) + 1
    return counts


def readiness(db: Database) -> str:
    """The readiness check `google`: "ok", or which accounts need the person (never fatal)."""
    with db.session() as session:
        rows = list(session.execute(select(GoogleConnection.email, GoogleConnection.status)))
    if not rows:
        return "ok: no Google account connected"
    waiting = sorted(email for email, status in rows if status != "ok")
    if not waiting:
        return "ok"
    return f"{len(waiting)} of {len(rows)} Google accounts need reconnecting: {', '.join(waiting)}"


def folders_of(db: Database, connection_id: int | None, default: list[str]) -> list[str]:
    """The Drive folders a connection indexes (PATCH drive_folder_ids); `default` without one."""
    if connection_id is None:
        return list(default)
    with db.session() as session:
        row = session.get(GoogleConnection, connection_id)
        return list(row.drive_folder_ids) if row is not None else list(default)


def all_folders(db: Database) -> set[str]:
    """Every Drive folder some connection indexes."""
    with db.session() as session:
        return {
            str(folder)
            for folders in session.scalars(select(GoogleConnection.drive_folder_ids))
            for folder in folders
        }


def mark_used(db: Database, connection_id: int) -> None:
    """Note that the connection just got a token (its last_used_at)."""
    with db.session() as session:
        session.execute(
            update(GoogleConnection)
            .where(GoogleConnection.id == connection_id)
            .values(last_used_at=utcnow())
        )


def usable_ids(db: Database) -> list[int]:
    """The connections that are ok, oldest first: each syncs its own folders and courses."""
    with db.session() as session:
        stmt = select(GoogleConnection.id).where(GoogleConnection.status == "ok")
        return list(session.scalars(stmt.order_by(GoogleConnection.id)))
