"""A progress save answered before Flask: `PUT /api/progress/{item_id}`, which every player sends
about every 10 s (issue 26: one cheap upsert, p99 under 10 ms through gunicorn).

As api/fast_poll.py does for task polls (ADR 0009): a save that every stage of api/pipeline.py
would let through is made here, with the same checks in the pipeline's order, the same upsert
(core.catalog.courses.progress.save), the same body, headers, metric and log line. Whatever this
module is not sure of goes to Flask untouched, body included, and Flask answers it in the
envelope: a refusal of any kind (Origin, loopback, token, sign-in, CSRF, role, a rate limit),
a body that is not plain JSON or that the schema refuses, an unknown item, a database error.
Going to Flask is always right; answering here is right only when Flask would have answered
the same, which tests/api/test_fast_progress.py checks case by case.

A save is taken here only when all of these hold:
- the app: FORCE_HTTPS and CORS_ORIGINS off (decided once);
- the request: PUT, `/api/progress/<id>` with a plain decimal id, no query string, a body of
  `application/json` with a Content-Length of at most MAX_BODY bytes (and MAX_CONTENT_LENGTH);
- the checks of the pipeline's stages for a PUT, listed in HONOURED, all pass.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from flask import Flask
from marshmallow import ValidationError
from werkzeug.http import parse_cookie, parse_options_header
from werkzeug.sansio.utils import get_host

from api import authz, limits, metrics, security
from api.extensions import SERVICES
from api.fast_answers import FINISHED, Begun, FastPath, StartResponse, WsgiApp
from api.progress import LessonProgressSchema, SaveProgressSchema
from api.schemas import MAX_ID
from core.base.db import Database
from core.base.errors import NotFound
from core.catalog.courses import progress
from core.catalog.courses.models import IMPLICIT_USER
from core.people import accounts

PREFIX = "/api/progress/"
ENDPOINT = "progress.ProgressDetail"
MAX_BODY = 4096  # a save is some 60 bytes; anything much larger is not a player's
# An id Flask's route takes as the same number: no sign, no leading zero, no other digits.
_PLAIN_ID = re.compile(r"[1-9][0-9]{0,18}")
# Every stage of api/pipeline.py that runs for a PUT, by name, and how a save made here honours
# it. A stage added for PUTs fails tests/api/test_fast_progress.py until it is weighed here.
HONOURED = {
    **FINISHED,
    "https redirect (FORCE_HTTPS)": "off: the app must have FORCE_HTTPS off",
    "people exist?": "a user seen lately (accounts.user_seen), else asked inside the save",
    "failed-authentication limit": "the same counter looked up (people or ADMIN_TOKEN); past"
    " it: Flask",
    "admin token and Origin": "the same Origin, loopback and token rules; refused: Flask",
    "sign-in and roles (api/authz.py's table)": "the same principal, CSRF and role rules",
    "oversized body": "a Content-Length within MAX_CONTENT_LENGTH (and MAX_BODY)",
    "NUL characters": "a decimal id and no query string hold none",
    "JSON body validity": "parsed as webargs parses it; not JSON: Flask",
    "mutation rate limit": "the same counter, hit once (limits.COUNTED); past it: Flask",
    "failed-authentication counting": "counts 401s only, and a 401 is always Flask's",
    "audit trail of credential changes and deletions": "a progress save is not audited",
}


def applicable(app: Flask) -> bool:
    """Whether `app`'s settings let any save be made here."""
    config = app.extensions["aula.settings"]
    return not (config.force_https or config.cors_origins)


def install(app: Flask) -> None:
    """Make plain saves in front of `app`'s WSGI stack, when its settings allow any. Install it
    inside api.headers.TrustedProxies: the client's address and Host must be those Flask sees."""
    if applicable(app):
        app.wsgi_app = FastProgress(app, app.wsgi_app)  # type: ignore[method-assign]


class FastProgress(FastPath[int]):
    """The WSGI wrapper: a plain save made here, anything else passed to `inner`."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        rule = next(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == ENDPOINT)
        super().__init__(inner, app.extensions[metrics.METRICS_KEY], rule)
        config = app.extensions["aula.settings"]
        self.db: Database = app.extensions[SERVICES].db
        self.admin_token = config.admin_token
        self.max_body = min(MAX_BODY, config.max_content_length)
        self.limits: limits.Limits | None = app.extensions.get("aula.limiter")
        self.dumps = app.json.dumps
        # As Flask's JSON provider lays out a response (flask.json.provider.response).
        compact = app.json.compact  # type: ignore[attr-defined]
        self.layout = {"indent": 2} if (compact is None and app.debug) or compact is False else {
            "separators": (",", ":")}  # fmt: skip
        self.access = authz.rule_for(ENDPOINT, self.rule, "PUT") or authz.ADMIN
        self.arguments = SaveProgressSchema()
        self.shown = LessonProgressSchema()

    def plain(self, environ: dict[str, Any]) -> int | None:
        return _plain_save(environ, self.max_body)

    def answer(
        self, environ: dict[str, Any], key: int, start_response: StartResponse
    ) -> list[bytes] | None:
        begun = Begun.now(environ)
        body = _body(environ)
        if body is None:
            return None
        try:
            saved = self._save(environ, key, body)
        except NotFound:
            return None  # Flask's 404 (counted once: limits.COUNTED)
        except Exception:
            return None  # a database or Redis error: Flask tries again and answers
        if saved is None:
            return None
        data = f"{self.dumps(self.shown.dump(saved), **self.layout)}\n".encode()
        head = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        return self.finish(begun, environ, start_response, ("PUT", "200 OK", head, data))

    def _save(self, environ: dict[str, Any], item_id: int, body: bytes) -> progress.Saved | None:
        """The save, made if every check the pipeline makes before the view passes (those of
        api/pipeline.py's BEFORE, for a PUT); None: Flask decides. NotFound: no such item."""
        address = environ.get("REMOTE_ADDR") or "unknown"
        scheme = environ.get("wsgi.url_scheme", "http")
        host = get_host(scheme, environ.get("HTTP_HOST"), _server(environ))
        if security.is_foreign(environ.get("HTTP_ORIGIN"), scheme, host, ()):
            return None
        presented = security.presented_in(
            environ.get("HTTP_AUTHORIZATION", ""), environ.get("HTTP_X_ADMIN_TOKEN")
        )
        if not accounts.user_seen(self.db):
            # No user seen lately: the single-person rules, and a save made only while nobody
            # has an account (asked inside the save itself). If somebody does, nothing is
            # saved and Flask asks again, as users require.
            if not self._alone_allowed(address, host, presented):
                return None
            values = _arguments(self.arguments, body)
            if values is None or not self._counted(environ, address):
                return None
            return progress.save_while_alone(self.db, item_id, **values)
        if self._refused_after_failures(address):
            return None
        cookie = None if presented else parse_cookie(environ).get(authz.SESSION_COOKIE)
        principal = authz.identify_from(self.db, self.admin_token, presented, cookie)
        if principal is None or not authz.allows(self.access, principal):
            return None
        if principal.via == "session" and not authz.csrf_ok(
            cookie or "", environ.get("HTTP_X_CSRF_TOKEN", "")
        ):
            return None
        values = _arguments(self.arguments, body)
        if values is None or not self._counted(environ, address):
            return None
        user = principal.user_id if principal.user_id is not None else IMPLICIT_USER
        return progress.save(self.db, user, item_id, **values)

    def _alone_allowed(self, address: str, host: str, presented: str | None) -> bool:
        """require_admin's rule while no user exists: ADMIN_TOKEN, or loopback while unset."""
        if self.admin_token is None:
            return security.is_loopback(address) and security.is_loopback_host(host)
        if self._refused_after_failures(address):
            return False
        return security.is_admin_token(presented, self.admin_token)

    def _refused_after_failures(self, address: str) -> bool:
        """Whether this address is past RATE_LIMIT_AUTH_FAILURES (looked up, not counted)."""
        checked = self.limits
        if checked is None or not checked.auth_failures:
            return False
        return checked.over(checked.auth_failures, "auth:" + address, hit=False) is not None

    def _counted(self, environ: dict[str, Any], address: str) -> bool:
        """Count the save under RATE_LIMIT_MUTATIONS as the pipeline would; False past it."""
        checked = self.limits
        if checked is None or not checked.mutations:
            return True
        key = "mutation:" + address
        if checked.over(checked.mutations, key, hit=True):
            return False  # not counted (a refused hit is not): Flask counts and answers 429
        environ[limits.COUNTED] = True
        return True


def _plain_save(environ: dict[str, Any], max_body: int) -> int | None:
    """The item id of a plain save, or None for anything Flask must see."""
    path: str = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "PUT" or not path.startswith(PREFIX):
        return None
    if environ.get("QUERY_STRING") or environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    length = environ.get("CONTENT_LENGTH") or ""
    if not (length.isascii() and length.isdigit() and 0 < int(length) <= max_body):
        return None
    if parse_options_header(environ.get("CONTENT_TYPE", ""))[0] != "application/json":
        return None
    digits = path[len(PREFIX) :]
    if not _PLAIN_ID.fullmatch(digits) or int(digits) > MAX_ID:
        return None
    return int(digits)


def _server(environ: dict[str, Any]) -> tuple[str, int | None] | None:
    name = environ.get("SERVER_NAME")
    if name is None:
        return None
    port = environ.get("SERVER_PORT")
    return name, int(port) if port and port.isdigit() else None


def _body(environ: dict[str, Any]) -> bytes | None:
    """The request body, read once and put back as a stream Flask can read in its turn; None
    if reading it failed (Flask meets the same failure and answers it)."""
    try:
        body: bytes = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    except Exception:
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _arguments(schema: SaveProgressSchema, body: bytes) -> dict[str, Any] | None:
    """The save's arguments as the view's schema loads them; None for anything it, or JSON
    parsed as webargs and Flask parse it, would refuse."""
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    if not isinstance(data, dict):
        return None
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError:
        return None
    return loaded
