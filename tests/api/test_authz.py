"""Authorisation in one table (api/authz.py): every route has a rule; viewers and strangers
are kept to theirs once people exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing.converters import AnyConverter, NumberConverter

from api.authz import ADMIN, OPEN, rule_for
from core.base.db import session_scope
from core.base.models import Base, CatalogItem
from core.people.models import AuditEntry
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.people_support import with_viewer

SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, URL rule, method) for every route of the app."""
    return [
        (rule.endpoint, rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS)
    ]


def _url(app: Flask, endpoint: str, rule: str) -> str:
    """A concrete URL for `rule`, its variables filled with sample values."""
    (found,) = [r for r in app.url_map.iter_rules() if r.rule == rule and r.endpoint == endpoint]
    values: dict[str, Any] = {}
    for name in found.arguments:
        converter = found._converters[name]  # werkzeug keeps them only here
        if isinstance(converter, NumberConverter):
            values[name] = 1
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "x"
    with app.test_request_context():
        return found.build(values, append_unknown=False)[1]  # type: ignore[index]


def test_every_route_has_a_rule(quiet_app: Flask) -> None:
    missing = [
        f"{method} {rule} ({endpoint})"
        for endpoint, rule, method in _routes(quiet_app)
        if rule_for(endpoint, rule, method) is None
    ]
    assert not missing, "add these to api/authz.py RULES: " + ", ".join(missing)


def test_the_route_walk_notices_a_route_without_a_rule() -> None:
    assert rule_for("someone.NewThing", "/api/new-thing", "GET") is None
    assert rule_for("catalog.Items", "/api/catalog/items", "DELETE") is None
    assert rule_for("x.Callback", "/api/google/oauth/callback", "GET") is OPEN
    assert rule_for("x.Client", "/api/google/client", "PUT") is ADMIN


def _row_counts(app: Flask) -> dict[str, int]:
    url = app.extensions["aula.settings"].database_url
    with session_scope(url) as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if table.name != AuditEntry.__tablename__
        }


def test_a_viewer_gets_403_from_every_admin_route_and_nothing_changes(quiet_app: Flask) -> None:
    admin, viewer = with_viewer(quiet_app)
    with session_scope(quiet_app.extensions["aula.settings"].database_url) as session:
        session.add(CatalogItem(source="local", source_id="a.mp4", title="a", mime_type="video/mp4",
                                is_video=True, size_bytes=1, extra={}))  # fmt: skip
    before = _row_counts(quiet_app)
    checked = 0
    for endpoint, rule, method in _routes(quiet_app):
        if rule_for(endpoint, rule, method) is not ADMIN:
            continue
        url = _url(quiet_app, endpoint, rule)
        answer = viewer.client.open(url, method=method, json={}, headers=viewer.headers)
        assert answer.status_code == 403, f"{method} {url}: {answer.status_code}"
        assert assert_envelope(answer, 403, "forbidden")["reason"] == "role"
        checked += 1
    assert checked >= 20
    assert _row_counts(quiet_app) == before
    assert admin.client.get("/api/users").status_code == 200


def test_a_stranger_gets_401_from_every_route_that_is_not_open(quiet_app: Flask) -> None:
    with_viewer(quiet_app)
    stranger = quiet_app.test_client()
    for endpoint, rule, method in _routes(quiet_app):
        if rule_for(endpoint, rule, method) is OPEN:
            continue
        url = _url(quiet_app, endpoint, rule)
        answer = stranger.open(url, method=method, json={})
        assert answer.status_code == 401, f"{method} {url}: {answer.status_code}"


def test_a_viewer_reads_the_library_and_keeps_their_own_tokens(quiet_app: Flask) -> None:
    _, viewer = with_viewer(quiet_app)
    for path in ("/api/catalog/items", "/api/classroom/courses", "/api/tasks", "/api/session"):
        assert viewer.client.get(path).status_code == 200, path
    made = viewer.client.post("/api/tokens", json={"name": "tv"}, headers=viewer.headers)
    assert made.status_code == 201
    listed = viewer.client.get("/api/tokens").get_json()["items"]
    assert [token["name"] for token in listed] == ["tv"] and "token" not in listed[0]
    assert_envelope(viewer.client.get("/api/tokens?all=true"), 403, "forbidden")
    gone = viewer.client.delete(f"/api/tokens/{listed[0]['id']}", headers=viewer.headers)
    assert gone.status_code == 204


def test_signed_media_urls_open_only_their_media_path(quiet_app: Flask) -> None:
    from api.access import media_key
    from core.base import signing

    with_viewer(quiet_app)
    key = media_key(quiet_app.extensions["aula.settings"])
    assert key is not None
    stream = "/api/catalog/items/999/stream"
    signed = signing.sign_url(key, stream, signing.expiry(10**10, 3600))
    stranger = quiet_app.test_client()
    assert_envelope(stranger.get(stream), 401, "unauthorized")
    assert_envelope(stranger.get(signed), 404, "not_found")  # past the guard: no such item
    assert_envelope(stranger.get(stream + "?exp=9999999999&sig=forged"), 403, "forbidden")
    json_path = signed.replace("/stream", "")
    assert_envelope(stranger.get(json_path), 401, "unauthorized")


def test_a_signature_without_a_signing_key_is_not_a_crash(make_app: MakeApp) -> None:
    app = make_app(encryption_key=None)
    with_viewer(app)
    answer = app.test_client().get("/api/catalog/items/1/stream?exp=9999999999&sig=abc")
    assert_envelope(answer, 401, "unauthorized")


def test_an_unreadable_user_table_fails_closed(make_app: MakeApp, tmp_path: Path) -> None:
    # A database without Aula's tables: the "people exist?" read fails, and every route that
    # is not open answers 401 as if people existed (never 500, never open).
    app = make_app(database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    client = app.test_client()

    refused = client.get("/api/tasks/some-task")
    assert refused.status_code == 401, refused.get_data(as_text=True)
    assert_envelope(refused, 401, "unauthorized")
    assert client.get("/api/health").status_code == 200
