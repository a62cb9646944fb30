"""A task poll answered before Flask: `GET /api/tasks/{id}`, what a UI sends most often.

Through Flask a poll paid for a request context, routing, the pipeline's hooks and werkzeug's
request and response objects, several times the cost of the two database reads it needs (issue
29: slower than the Flask documentation's own Celery example). Here, at the WSGI level, a poll
that no stage of api/pipeline.py would answer or change is answered with the same reads, body,
headers, metrics and log line as the pipeline's; every other request, and any poll this module is
not sure of, goes to Flask untouched. tests/api/test_fast_poll.py compares the two answers, and
fails when a stage that runs for a GET is added to the pipeline without being weighed here.

A poll is answered here only when all of these hold, and by Flask otherwise:
- the app: FORCE_HTTPS, REQUIRE_AUTH_FOR_READS and CORS_ORIGINS are off (decided once);
- the request: GET, `/api/tasks/<id>` with a plain id, no query string, no body;
- no person exists yet (asked per request, as the pipeline asks: CONTRACT 8.2), or the request
  presents a session or token that api/authz.py's table lets poll (else Flask's 401 or 403);
- the record exists and both reads succeed (a 404 or a database error is Flask's envelope).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import exists, select
from werkzeug.http import parse_cookie, parse_etags, quote_etag

from api import authz, metrics, security
from api.extensions import SERVICES
from api.fast_answers import FINISHED, Begun, FastPath, StartResponse, WsgiApp
from api.tasks import task_body
from core.base.db import Database
from core.base.prepared import PreparedRead
from core.jobs import poll_view
from core.people.models import User

PREFIX = "/api/tasks/"
ENDPOINT = "tasks.TaskDetail"
# The ids Flask's route would take too: no "/", nothing needing decoding, no NUL.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The pipeline's "people exist?" asked in the poll's own read: one statement, not two.
_PEOPLE = exists(select(User.id)).label("people")
_TAG_AND_PEOPLE = PreparedRead(poll_view.TAG_QUERY.add_columns(_PEOPLE))
_VIEW_AND_PEOPLE = PreparedRead(poll_view.VIEW_QUERY.add_columns(_PEOPLE))
# Every stage that runs for a GET, by name, and how a poll answered here honours it. A stage
# added to the pipeline for GETs fails tests/api/test_fast_poll.py until it is weighed here.
HONOURED = {
    **FINISHED,
    "https redirect (FORCE_HTTPS)": "off: the app must have FORCE_HTTPS off",
    "people exist?": "asked per request, in the poll's own read",
    "sign-in and roles (api/authz.py's table)": "the same principal and rule; refused: Flask",
    "oversized body": "a poll with a body goes to Flask",
    "NUL characters": "a plain id and no query string hold none",
    "read access (REQUIRE_AUTH_FOR_READS)": "off: the app must have it off",
    "indexed Drive content": "applies to Drive endpoints only",
}


def applicable(app: Flask) -> bool:
    """Whether `app`'s settings let any poll be answered here."""
    config = app.extensions["aula.settings"]
    return not (config.force_https or config.require_auth_for_reads or config.cors_origins)


def install(app: Flask) -> None:
    """Answer plain polls in front of `app`'s WSGI stack, when its settings allow any."""
    if applicable(app):
        app.wsgi_app = FastPoll(app, app.wsgi_app)  # type: ignore[method-assign]


class FastPoll(FastPath[str]):
    """The WSGI wrapper: a plain poll answered here, anything else passed to `inner`."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        rule = next(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == ENDPOINT)
        super().__init__(inner, app.extensions[metrics.METRICS_KEY], rule)
        self.db: Database = app.extensions[SERVICES].db
        self.admin_token = app.extensions["aula.settings"].admin_token
        self.access = authz.rule_for(ENDPOINT, self.rule, "GET") or authz.ADMIN

    def plain(self, environ: dict[str, Any]) -> str | None:
        return _plain_poll(environ)

    def answer(
        self, environ: dict[str, Any], key: str, start_response: StartResponse
    ) -> list[bytes] | None:
        begun = Begun.now(environ)
        try:
            found = self._read(key, environ.get("HTTP_IF_NONE_MATCH"))
            if found is None:
                return None  # no such record: Flask's 404
            people, status, head, body = found
            if people and not self._signed_in(environ):
                return None  # Flask's 401 or 403, in the envelope
        except Exception:
            return None
        return self.finish(begun, environ, start_response, ("GET", status, head, body))

    def _signed_in(self, environ: dict[str, Any]) -> bool:
        """Whether the request presents a principal the table lets poll (as api/authz.py asks)."""
        presented = security.presented_in(
            environ.get("HTTP_AUTHORIZATION", ""), environ.get("HTTP_X_ADMIN_TOKEN")
        )
        cookie = None if presented else parse_cookie(environ).get(authz.SESSION_COOKIE)
        principal = authz.identify_from(self.db, self.admin_token, presented, cookie)
        return authz.allows(self.access, principal)

    def _read(
        self, task_id: str, if_none_match: str | None
    ) -> tuple[bool, str, list[tuple[str, str]], bytes] | None:
        """Whether people exist, and the answer; None if there is no such record."""
        # As api.tasks._poll: with If-None-Match, the tag alone first; a match is a 304.
        if if_none_match:
            row = _TAG_AND_PEOPLE.first(self.db.engine, task_id=task_id)
            if row is None:
                return None
            state, stamp, people = row
            etag = poll_view.tag_of(task_id, state, stamp)
            if parse_etags(if_none_match).contains_weak(etag):
                return people, "304 NOT MODIFIED", [("ETag", quote_etag(etag))], b""
        view = _VIEW_AND_PEOPLE.first_dict(self.db.engine, task_id=task_id)
        if view is None:
            return None
        people = view.pop("people")
        etag = poll_view.tag_of(task_id, view["state"], view.pop("stamp"))
        body = task_body(view)
        return people, "200 OK", [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("ETag", quote_etag(etag)),
        ], body  # fmt: skip


def _plain_poll(environ: dict[str, Any]) -> str | None:
    """The task id of a plain poll, or None for anything Flask must see."""
    path: str = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "GET" or not path.startswith(PREFIX):
        return None
    if environ.get("QUERY_STRING") or environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
        return None
    task_id = path[len(PREFIX) :]
    return task_id if _PLAIN_ID.fullmatch(task_id) else None
