"""Sessions and personal API tokens: random secrets handed out once, kept as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.errors import NotFound
from core.base.models import utcnow
from core.base.pagination import Page, keyset_page
from core.people.models import ApiToken, User, UserSession

SESSION_LIFETIME = timedelta(days=14)
TOKEN_PREFIX = "aula_"  # noqa: S105  # nosec B105  # a prefix that says what a token is
# A token's last use is written at most this often (a script's every call would be a write).
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a user (by session or token), or the ADMIN_TOKEN / loopback admin
    (no user: `user_id` None)."""

    role: str
    via: str  # "session", "token", "admin_token", "loopback"
    user_id: int | None = None
    username: str | None = None
    session_id: int | None = None


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    user_id: int
    username: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


def digest(secret: str) -> str:
    """The stored form of a session id or token: high-entropy secrets need no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a session: derived from its secret, so it needs no storage."""
    return hmac.new(session_secret.encode(), b"aula-csrf", hashlib.sha256).hexdigest()


def open_session(db: Database, user_id: int) -> str:
    """A new session for a signed-in user (always a fresh id: no fixation); its secret."""
    secret = secrets.token_urlsafe(32)
    with db.session() as session:
        # This user's expired sessions go as a new one starts: the table stays as small as use.
        session.execute(delete(UserSession).where(UserSession.user_id == user_id,
                                                  UserSession.expires_at <= utcnow()))  # fmt: skip
        session.add(UserSession(id_hash=digest(secret), user_id=user_id,
                                expires_at=utcnow() + SESSION_LIFETIME))  # fmt: skip
    return secret


def _enabled_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return None if user is None or user.disabled else user


def session_principal(db: Database, secret: str) -> Principal | None:
    """Who holds the session `secret`, if it is live and its user enabled."""
    with db.session() as session:
        row = session.scalar(select(UserSession).where(UserSession.id_hash == digest(secret)))
        if row is None or row.expires_at <= utcnow():
            return None
        user = _enabled_user(session, row.user_id)
        if user is None:
            return None
        return Principal(user.role, "session", user.id, user.username, row.id)


def end_session(db: Database, secret: str) -> None:
    """Sign out: the session's row goes, so its cookie is worthless from now on."""
    with db.session() as session:
        session.execute(delete(UserSession).where(UserSession.id_hash == digest(secret)))


def create_token(
    db: Database, user_id: int, name: str, expires_in_days: int | None
) -> tuple[TokenView, str]:
    """A new API token for a user; the view and the secret (shown this once, never stored)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"No user with id {user_id}.")
        row = ApiToken(token_hash=digest(secret), user_id=user_id, name=name, expires_at=expires)
        session.add(row)
        session.flush()
        return _token_view(row, user.username), secret


def _token_view(row: ApiToken, username: str) -> TokenView:
    return TokenView(row.id, row.name, row.user_id, username, row.created_at, row.expires_at,
                     row.last_used_at)  # fmt: skip


def token_principal(db: Database, secret: str) -> Principal | None:
    """Who holds the API token `secret`, if it is unexpired and its user enabled."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    with db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        user = _enabled_user(session, row.user_id)
        if user is None:
            return None
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
            row.last_used_at = now
        return Principal(user.role, "token", user.id, user.username)


def list_tokens(
    db: Database, user_id: int | None, *, limit: int = 50, cursor: str | None = None
) -> Page[TokenView]:
    """Tokens of one user (or of everyone: `user_id` None), newest first."""
    stmt = select(ApiToken)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    with db.session() as session:
        page = keyset_page(session, stmt, (ApiToken.id,), limit=limit, cursor=cursor)
        owners = select(User.id, User.username).where(
            User.id.in_({row.user_id for row in page.items})
        )
        names: dict[int, str] = {user_id: name for user_id, name in session.execute(owners)}
        return Page([_token_view(row, names.get(row.user_id, "")) for row in page.items],
                    page.next_cursor)  # fmt: skip


def delete_token(db: Database, token_id: int, user_id: int | None) -> str:
    """Revoke a token of `user_id` (any token: None); its name. Another's token is NotFound."""
    with db.session() as session:
        row = session.get(ApiToken, token_id)
        if row is None or (user_id is not None and row.user_id != user_id):
            raise NotFound(f"No token with id {token_id}.")
        session.delete(row)
        return row.name
