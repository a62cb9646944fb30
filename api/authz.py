"""Who may do what once people exist: one table of rules, checked by one pipeline stage.

Until the first user exists this stage does nothing (CONTRACT 8.2: nothing changes). From then
on every request names its principal (a session cookie, a personal API token, or ADMIN_TOKEN)
and the table below says which role each endpoint and method needs.
"""

from __future__ import annotations

import hmac
from enum import Enum

from flask import Response, g, request
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import RequestRedirect

from api import access as media_access
from api.errors import envelope
from api.extensions import db, settings
from api.security import (
    MUTATING,
    is_admin_token,
    presented_token,
    unauthorized,
)
from core.base.db import Database
from core.people import accounts
from core.people.credentials import Principal, csrf_token, session_principal, token_principal

SESSION_COOKIE = "aula_session"
CSRF_HEADER = "X-CSRF-Token"


class Access(Enum):
    """What a rule asks of the caller."""

    OPEN = "open"  # anyone, signed in or not
    SIGNED = "signed"  # a signed media URL, or any signed-in user
    USER = "user"  # any signed-in user, viewer or admin
    ADMIN = "admin"


OPEN, SIGNED, USER, ADMIN = Access.OPEN, Access.SIGNED, Access.USER, Access.ADMIN
Rule = dict[str, Access]
READ_USER: Rule = {"GET": USER}
READ_ADMIN: Rule = {"GET": ADMIN}
MEDIA: Rule = {"GET": SIGNED}

# endpoint -> method -> access. HEAD follows GET; OPTIONS (CORS preflight) is open.
RULES: dict[str, Rule] = {
    "api-docs.openapi_json": {"GET": OPEN},
    "swagger_ui.show": {"GET": OPEN},
    "health.Health": {"GET": OPEN},
    "health.Ready": {"GET": OPEN},
    "metrics": {"GET": OPEN},  # Prometheus; keep it off the public proxy (README, Security)
    "static": {"GET": OPEN},
    "ui.index": {"GET": OPEN},  # the UI holds no data; it asks /api/session who you are
    "ui.asset": {"GET": OPEN},
    # People.
    "people.Setup": {"POST": OPEN},  # its own rule: no user yet, admin token or loopback
    "people.SessionView": {"GET": USER, "POST": OPEN, "DELETE": USER},
    "people.OwnPassword": {"PUT": USER},
    "people.UserList": {"GET": ADMIN, "POST": ADMIN},
    "people.UserDetail": {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN},
    "tokens.TokenList": {"GET": USER, "POST": USER},  # own tokens; ?all=true checks the role
    "tokens.TokenDetail": {"DELETE": USER},  # own tokens only, unless an admin
    "tokens.Audit": READ_ADMIN,
    # The library: viewers read and play it.
    "catalog.Items": READ_USER,
    "catalog.Item": READ_USER,
    "catalog.Stream": MEDIA,
    "catalog.Thumbnail": MEDIA,
    "tracks.SubtitleFile": MEDIA,
    "tracks.Search": READ_USER,
    "catalog.Rebuild": {"POST": ADMIN},
    "playback.Playback": MEDIA,
    "playback.Convert": {"POST": USER},  # a viewer's "Convert to play" (CONTRACT 8.4)
    "catalog.Sync": {"POST": ADMIN},
    "classroom.Courses": READ_USER,
    "classroom.CourseDownloads": {"POST": ADMIN},
    "classroom.Sync": {"POST": ADMIN},
    "drive.DriveFiles": READ_USER,  # outside the indexed folders: admins only (api.access)
    "drive.DriveFile": READ_USER,
    "drive.DriveStream": MEDIA,
    "drive.DriveThumbnail": MEDIA,
    "downloads.DownloadList": {"GET": USER, "POST": ADMIN},
    "downloads.DownloadDetail": {"GET": USER, "DELETE": ADMIN, "PATCH": ADMIN},
    "downloads.DownloadFile": MEDIA,
    "downloads.DownloadRetry": {"POST": ADMIN},
    "tasks.TaskList": READ_USER,
    "tasks.TaskDetail": {"GET": USER, "DELETE": ADMIN},
    # Configuration and operations: admins only.
    "credentials.CredentialList": READ_ADMIN,
    "credentials.GoogleCredential": {"PUT": ADMIN},
    "credentials.CookiesCredential": {"PUT": ADMIN},
    "credentials.CredentialByKind": {"DELETE": ADMIN},
    "maintenance.Cleanup": {"POST": ADMIN},
    "notifications.DeliveryList": READ_ADMIN,
    "notifications.DeliveryDetail": READ_ADMIN,
    "subscriptions.SubscriptionList": {"GET": ADMIN, "POST": ADMIN},
    "subscriptions.SubscriptionDetail": {"GET": ADMIN, "DELETE": ADMIN, "PATCH": ADMIN},
    "download_settings.DownloadSettings": {"GET": USER, "PATCH": ADMIN},
    # Courses (8.3): viewers read them and keep their own progress; admins add and hide.
    "courses.CourseList": {"GET": USER, "POST": ADMIN},
    "courses.CourseDetail": {"GET": USER, "DELETE": ADMIN},
    "progress.ProgressList": READ_USER,
    "progress.ProgressDetail": {"PUT": USER},
}
# Routes named by path rather than endpoint (another branch adds them): the OAuth callback is
# reached by Google's redirect, its single-use state is the capability; the rest of Google's
# connection management is for admins.
PATH_RULES: tuple[tuple[str, Access], ...] = (
    ("/api/google/oauth/callback", OPEN),
    ("/api/google/", ADMIN),
)


def rule_for(endpoint: str | None, path: str, method: str) -> Access | None:
    """The access `method` on `endpoint` (at URL rule `path`) needs; None: no rule."""
    if method == "OPTIONS":
        return OPEN
    wanted = "GET" if method == "HEAD" else method
    found = RULES.get(endpoint or "", {}).get(wanted)
    if found is not None:
        return found
    for prefix, access in PATH_RULES:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return access
    return None


def people_exist() -> bool:
    """Whether a user exists (asked each request; a "yes" is remembered for a second or two
    per process, see accounts.USER_EXISTS_TTL_S)."""
    return accounts.any_user(db())


def identify() -> Principal | None:
    """The principal this request presents, if any valid one; a cookie only when no bearer."""
    return identify_from(
        db(), settings().admin_token, presented_token(), request.cookies.get(SESSION_COOKIE)
    )


def identify_from(
    database: Database, admin_token: SecretStr | None, presented: str | None, cookie: str | None
) -> Principal | None:
    """`identify` for a token and a session cookie as presented (either may be None)."""
    if presented:
        if is_admin_token(presented, admin_token):
            return Principal("admin", "admin_token")
        return token_principal(database, presented)
    return session_principal(database, cookie) if cookie else None


def allows(access: Access, principal: Principal | None) -> bool:
    """Whether `principal` (None: nobody signed in) meets `access`, signed URLs and CSRF apart."""
    if access is OPEN:
        return True
    if principal is None:
        return False
    return access is not ADMIN or principal.role == "admin"


def _csrf_ok() -> bool:
    return csrf_ok(request.cookies.get(SESSION_COOKIE, ""), request.headers.get(CSRF_HEADER, ""))


def csrf_ok(cookie: str, sent: str) -> bool:
    """Whether `sent` (the X-CSRF-Token header) is the CSRF token of session `cookie`."""
    return bool(sent) and hmac.compare_digest(sent.encode(), csrf_token(cookie).encode())


def _access() -> Access:
    if isinstance(request.routing_exception, RequestRedirect):
        return OPEN  # /api/docs -> /api/docs/: the redirect shows nothing; its target is checked
    path = request.url_rule.rule if request.url_rule is not None else request.path
    if not request.path.startswith("/api/") and request.url_rule is None:
        return OPEN  # unknown paths outside /api hold nothing: let routing say 404
    # Unknown /api paths and endpoints without a rule fail closed.
    return rule_for(request.endpoint, path, request.method) or ADMIN


def note_people() -> None:
    """Note whether people exist, for this request's later stages (the first of them)."""
    try:
        g.people = people_exist()
    except (SQLAlchemyError, OSError):
        g.people = True  # unknown: fail closed (open routes such as the health checks answer)


def authorise() -> Response | None:
    """Once people exist: 401 without a valid session or token, 403 for a role the table does
    not allow or a cookie mutation without its CSRF token (every method)."""
    if not g.get("people"):
        return None
    access = _access()
    if access is OPEN:
        return None
    principal = identify()
    g.principal = principal
    if principal is None:
        signed = "sig" in request.args or "exp" in request.args
        if access is SIGNED and signed and media_access.signing_configured():
            return media_access.check_signature()
        return unauthorized("Sign in, or send a valid API token, to use this.",
                            {"reason": "sign_in_required"})  # fmt: skip
    if principal.via == "session" and request.method in MUTATING and not _csrf_ok():
        return envelope(403, "forbidden", f"This change needs the {CSRF_HEADER} header.",
                        {"reason": "csrf"})  # fmt: skip
    if not allows(access, principal):
        return envelope(403, "forbidden", "Only an admin may do this.", {"reason": "role"})
    return None


def current() -> Principal | None:
    """The principal of this request (set by authorise once people exist)."""
    found: Principal | None = g.get("principal")
    return found


def people_active() -> bool:
    """Whether this request was checked against people (a user existed when it began)."""
    return bool(g.get("people"))


def cookie_secure() -> bool:
    """Session cookies carry Secure when PUBLIC_URL is https."""
    return settings().public_base.lower().startswith("https://")
