"""Users: first-run setup, sign-in checks, admin management, own password changes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.base.db import Database
from core.base.errors import Conflict, NotFound, ValidationFailed
from core.base.models import utcnow
from core.base.pagination import Page, keyset_page
from core.base.prepared import PreparedRead
from core.people import passwords
from core.people.models import ApiToken, User, UserSession

ROLES = ("admin", "viewer")
# "A user exists" is remembered per process and database for this long, so a request costs no
# query. Only that answer is kept: a stale "yes" (the last user deleted by another process)
# fails closed for a moment, while a remembered "no" would leave reads open after setup.
USER_EXISTS_TTL_S = 2.0
_user_seen: dict[Database, float] = {}
# Asked on every request of a single-person install: one prepared select on a pooled DBAPI
# connection, no ORM session nor Connection (the session made this a third of a task poll, and the
# Connection still most of the rest: issue 29).
_ANY_USER = PreparedRead(select(User.id).limit(1))


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


def view(user: User) -> UserView:
    """The user as the API shows it (never the hash)."""
    return UserView(user.id, user.username, user.role, user.disabled, user.created_at,
                    user.last_login_at)  # fmt: skip


def any_user(db: Database) -> bool:
    """Whether a user exists (from then on, every /api request needs a session or token)."""
    seen = _user_seen.get(db)
    if seen is not None and time.monotonic() - seen < USER_EXISTS_TTL_S:
        return True
    found = _ANY_USER.first(db.engine) is not None
    if found:
        _user_seen[db] = time.monotonic()
    return found


def user_seen(db: Database) -> bool:
    """Whether `any_user` saw a user within USER_EXISTS_TTL_S (no query; False: ask)."""
    seen = _user_seen.get(db)
    return seen is not None and time.monotonic() - seen < USER_EXISTS_TTL_S


def forget_users(db: Database) -> None:
    """Ask the database next time (users were deleted, here or by whoever calls this)."""
    _user_seen.pop(db, None)


def _insert(db: Database, user: User) -> UserView:
    try:
        with db.session() as session:
            session.add(user)
            session.flush()
            return view(user)
    except IntegrityError:
        raise Conflict(f"The username {user.username!r} is taken.") from None


def set_up(db: Database, username: str, password: str) -> UserView:
    """The first admin; Conflict once any user exists (two at once: one wins, by setup_slot)."""
    if any_user(db):
        raise Conflict("Setup is done: an account exists. Sign in instead.")
    user = User(username=passwords.check_username(username), role="admin",
                password_hash=passwords.hash_password(password), setup_slot="first")  # fmt: skip
    try:
        return _insert(db, user)
    except Conflict:
        raise Conflict("Setup is done: an account exists. Sign in instead.") from None


def create(db: Database, username: str, password: str, role: str) -> UserView:
    """A new user (admins only, checked by the caller)."""
    user = User(username=passwords.check_username(username), role=_role(role),
                password_hash=passwords.hash_password(password))  # fmt: skip
    return _insert(db, user)


def _role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed("role is admin or viewer.", {"role": ["Must be admin or viewer."]})
    return role


def authenticate(db: Database, username: str, password: str) -> UserView | None:
    """The user whose username and password these are, if enabled; one argon2 run whether the
    user exists or not, so the answer's timing tells nothing."""
    with db.session() as session:
        # Too long to be anyone: not cut to 64 (it could then name someone), still hashed once.
        known = len(username) <= passwords.MAX_USERNAME
        user = session.scalar(select(User).where(User.username == username)) if known else None
        ok = passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            return None
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        user.last_login_at = utcnow()
        session.flush()
        return view(user)


def get(db: Database, user_id: int) -> UserView:
    """One user; NotFound if there is none."""
    with db.session() as session:
        return view(_load(session, user_id))


def _load(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def list_users(db: Database, *, limit: int = 50, cursor: str | None = None) -> Page[UserView]:
    """Users, oldest first."""
    with db.session() as session:
        page = keyset_page(session, select(User), (User.id,), limit=limit, cursor=cursor,
                           descending=False)  # fmt: skip
        return Page([view(user) for user in page.items], page.next_cursor)


def end_credentials(session: Session, user_id: int, keep_session: int | None = None) -> None:
    """End every session (but `keep_session`) and every API token of a user, in `session`."""
    stmt = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_session is not None:
        stmt = stmt.where(UserSession.id != keep_session)
    session.execute(stmt)
    session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))


def update(db: Database, user_id: int, actor_id: int | None, changes: dict[str, Any]) -> UserView:
    """Change a user's role, disabled flag or password (admins). Disabling or a new password ends
    their sessions and tokens; an admin cannot demote or disable themselves (someone must stay)."""
    with db.session() as session:
        user = _load(session, user_id)
        if user_id == actor_id and (
            changes.get("role", "admin") != "admin" or changes.get("disabled")
        ):
            raise Conflict("You cannot demote or disable your own account.")
        if "role" in changes:
            user.role = _role(changes["role"])
        if "password" in changes:
            user.password_hash = passwords.hash_password(changes["password"])
        if changes.get("disabled") is not None:
            user.disabled = bool(changes["disabled"])
        if user.disabled or "password" in changes:
            end_credentials(session, user_id)
        session.flush()
        return view(user)


def remove(db: Database, user_id: int, actor_id: int | None) -> str:
    """Delete a user with their sessions and tokens; their username. Not yourself."""
    if user_id == actor_id:
        raise Conflict("You cannot delete your own account.")
    with db.session() as session:
        user = _load(session, user_id)
        end_credentials(session, user_id)
        session.delete(user)
        username = user.username
    forget_users(db)  # after the commit, so the next question sees the deletion
    return username


def change_password(
    db: Database, user_id: int, current: str, new: str, keep_session: int | None
) -> None:
    """A user's own password change: the current one must match; every other session and every
    token of theirs ends."""
    with db.session() as session:
        user = _load(session, user_id)
        if not passwords.verify(user.password_hash, current):
            raise ValidationFailed(
                "The current password is not right.", {"current_password": ["Wrong password."]}
            )
        user.password_hash = passwords.hash_password(passwords.check_password(new, "new_password"))
        end_credentials(session, user_id, keep_session)


def reset_password(db: Database, username: str, new: str) -> None:
    """Set a user's password from the server's command line (a lost admin password), enable
    them, and end their sessions and tokens."""
    with db.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        user.password_hash = passwords.hash_password(new)
        user.disabled = False
        end_credentials(session, user.id)
