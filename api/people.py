"""People over HTTP: first-run setup, sign-in and sign-out, own password, users (admins)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api import authz
from api import limits as rate_limits
from api.extensions import db
from api.schemas import PageArgsSchema, page_schema
from api.security import presented_token_is_valid, unauthorized
from core.base.errors import Conflict
from core.people import accounts, audit, credentials
from core.people.credentials import Principal
from core.people.passwords import MAX_PASSWORD

blp = Blueprint("people", __name__, url_prefix="/api", description="Accounts, sign-in and roles.")
# Bounds on what a sign-in form may send: nothing near a megabyte reaches the hasher.
# PostgreSQL cannot compare text holding NUL: refused here, as bad input.
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="NUL characters are not accepted.")
_USERNAME = fields.String(
    required=True, validate=validate.And(validate.Length(min=1, max=200), NO_NUL)
)
_PASSWORD = fields.String(required=True, validate=validate.Length(min=1, max=MAX_PASSWORD * 4))


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": list(accounts.ROLES)})
    disabled = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_login_at = fields.AwareDateTime(allow_none=True)


UserPageSchema = page_schema(UserSchema, "UserPage")


class CredentialsSchema(Schema):
    username = _USERNAME
    password = _PASSWORD


class NewUserSchema(CredentialsSchema):
    role = fields.String(load_default="viewer", validate=validate.OneOf(accounts.ROLES))


class UserChangeSchema(Schema):
    role = fields.String(validate=validate.OneOf(accounts.ROLES))
    disabled = fields.Boolean()
    password = fields.String(validate=validate.Length(min=1, max=MAX_PASSWORD * 4))


class PasswordChangeSchema(Schema):
    current_password = _PASSWORD
    new_password = _PASSWORD


class SessionSchema(Schema):
    user = fields.Nested(UserSchema, allow_none=True)
    role = fields.String(allow_none=True)
    via = fields.String(allow_none=True, metadata={"description": "session, token or admin_token"})
    csrf_token = fields.String(
        allow_none=True, metadata={"description": "Send it as X-CSRF-Token with every change."}
    )
    setup_required = fields.Boolean(required=True)


def actor(principal: Principal | None) -> str:
    """How the audit trail names whoever made this request."""
    if principal is None:
        return "ADMIN_TOKEN" if presented_token_is_valid() else "loopback"
    return principal.username or "ADMIN_TOKEN"


def note(action: str, target: str | None = None, who: str | None = None) -> None:
    """One audit row for this request."""
    audit.record(db(), action, actor=who or actor(authz.current()), target=target,
                 ip=request.remote_addr, request_id=g.get("request_id"))  # fmt: skip


# Changes made through other resources that the audit trail records (CONTRACT 8.2): credential
# changes and deletions. Routes another branch adds are named by path.
AUDITED: dict[tuple[str, str], str] = {
    ("credentials.GoogleCredential", "PUT"): "credential.updated",
    ("credentials.CookiesCredential", "PUT"): "credential.updated",
    ("credentials.CredentialByKind", "DELETE"): "credential.deleted",
    ("downloads.DownloadDetail", "DELETE"): "download.deleted",
    ("subscriptions.SubscriptionDetail", "DELETE"): "subscription.deleted",
    ("tasks.TaskDetail", "DELETE"): "task.deleted",
}
AUDITED_PATHS: tuple[tuple[str, str, str], ...] = (
    ("/api/google/connections/", "DELETE", "connection.deleted"),
    ("/api/google/client", "PUT", "credential.updated"),
)


def _audited_action() -> str | None:
    found = AUDITED.get((request.endpoint or "", request.method))
    if found is not None:
        return found
    for prefix, method, action in AUDITED_PATHS:
        if request.method == method and request.path.startswith(prefix):
            return action
    return None


def audit_changes(response: Response) -> Response:
    """Record a successful credential change or deletion (an after-stage: MUTATING only)."""
    action = _audited_action() if 200 <= response.status_code < 300 else None
    if action is not None:
        note(action, request.path)
    return response


def signed_in_user(principal: Principal | None) -> int:
    """The id of the user making this request; Conflict for ADMIN_TOKEN or no people yet."""
    if principal is None or principal.user_id is None:
        raise Conflict("This needs a signed-in user (or a user's API token), not ADMIN_TOKEN.")
    return principal.user_id


@blp.route("/setup")
class Setup(MethodView):
    @blp.arguments(CredentialsSchema)
    @blp.response(201, UserSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create the first admin: only while no user exists, with the admin token or from
        this machine (409 afterwards)."""
        user = accounts.set_up(db(), body["username"], body["password"])
        note("user.created", f"user:{user.id} {user.username} (admin, setup)")
        return user


def _session_answer(principal: Principal | None, secret: str | None) -> dict[str, Any]:
    user = accounts.get(db(), principal.user_id) if principal and principal.user_id else None
    return {"user": user, "role": principal.role if principal else None,
            "via": principal.via if principal else None,
            "csrf_token": credentials.csrf_token(secret) if secret else None,
            "setup_required": not authz.people_active()}  # fmt: skip


def _set_cookie(response: Response, secret: str) -> None:
    response.set_cookie(
        authz.SESSION_COOKIE, secret, max_age=int(credentials.SESSION_LIFETIME.total_seconds()),
        path="/", httponly=True, samesite="Lax", secure=authz.cookie_secure(),
    )  # fmt: skip


@blp.route("/session")
class SessionView(MethodView):
    @blp.response(200, SessionSchema)
    def get(self) -> Any:
        """Who is signed in (with this session's CSRF token); setup_required while no user
        exists."""
        principal = authz.current()
        via_session = principal is not None and principal.via == "session"
        return _session_answer(
            principal, request.cookies.get(authz.SESSION_COOKIE) if via_session else None
        )

    @blp.arguments(CredentialsSchema)
    @blp.response(200, SessionSchema)
    @blp.doc(security=[{}, {"adminToken": []}])  # open once people exist (section 7 before)
    def post(self, body: dict[str, Any]) -> Any:
        """Sign in: a fresh session cookie (HttpOnly, SameSite=Lax) and its CSRF token. A wrong
        password and an unknown user get the same 401; 5 failures per username per 15 minutes."""
        username = body["username"]
        refused = rate_limits.sign_in_refused(username)
        if refused is not None:
            return refused
        user = accounts.authenticate(db(), username, body["password"])
        if user is None:
            rate_limits.count_sign_in_failure(username)
            note("sign_in_failed", username[:64], who=username[:64])
            return unauthorized("The username or password is not right.")
        old = request.cookies.get(authz.SESSION_COOKIE)
        if old:
            credentials.end_session(db(), old)  # a planted id never becomes a signed-in one
        secret = credentials.open_session(db(), user.id)
        note("sign_in", f"user:{user.id}", who=user.username)
        principal = Principal(user.role, "session", user.id, user.username)
        response = jsonify(SessionSchema().dump(_session_answer(principal, secret)))
        _set_cookie(response, secret)
        return response

    @blp.response(204)
    def delete(self) -> Any:
        """Sign out: the session ends on the server and the cookie is cleared."""
        secret = request.cookies.get(authz.SESSION_COOKIE)
        if secret:
            credentials.end_session(db(), secret)
        note("sign_out")
        response = Response(status=204)
        response.delete_cookie(authz.SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                               secure=authz.cookie_secure())  # fmt: skip
        return response


@blp.route("/users/me/password")
class OwnPassword(MethodView):
    @blp.arguments(PasswordChangeSchema)
    @blp.response(204)
    def put(self, body: dict[str, Any]) -> Any:
        """Change your own password; your other sessions and all your API tokens end."""
        principal = authz.current()
        user_id = signed_in_user(principal)
        keep = principal.session_id if principal else None
        accounts.change_password(
            db(), user_id, body["current_password"], body["new_password"], keep
        )
        note("user.password_changed", f"user:{user_id}")
        return Response(status=204)


@blp.route("/users")
class UserList(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, UserPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Every user, oldest first (admins)."""
        return accounts.list_users(db(), **args)

    @blp.arguments(NewUserSchema)
    @blp.response(201, UserSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Add a user (admins); role viewer unless told."""
        user = accounts.create(db(), body["username"], body["password"], body["role"])
        note("user.created", f"user:{user.id} {user.username} ({user.role})")
        return user


@blp.route("/users/<int:user_id>")
class UserDetail(MethodView):
    @blp.response(200, UserSchema)
    def get(self, user_id: int) -> Any:
        """One user (admins)."""
        return accounts.get(db(), user_id)

    @blp.arguments(UserChangeSchema)
    @blp.response(200, UserSchema)
    def patch(self, body: dict[str, Any], user_id: int) -> Any:
        """Change role, disabled or password (admins); disabling or a new password ends that
        user's sessions and tokens at once."""
        principal = authz.current()
        user = accounts.update(db(), user_id, principal.user_id if principal else None, body)
        verb = "disabled" if body.get("disabled") else "updated"
        note(f"user.{verb}", f"user:{user_id} {user.username} {sorted(body)}")
        return user

    @blp.response(204)
    def delete(self, user_id: int) -> Any:
        """Delete a user with their sessions and tokens (admins; not yourself)."""
        principal = authz.current()
        username = accounts.remove(db(), user_id, principal.user_id if principal else None)
        note("user.deleted", f"user:{user_id} {username}")
        return Response(status=204)
