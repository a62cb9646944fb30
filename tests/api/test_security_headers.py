"""Security headers on every response, CORS from CORS_ORIGINS, trusted proxies and FORCE_HTTPS."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from api.headers import CSP, MEDIA_CSP
from core.base.settings import Settings
from core.catalog.indexing import rebuild_local
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.test_auth import TOKEN
from tests.helpers import empty_dir
from tests.media import make_video
from tests.services import services_of

ALLOWED = "https://ui.example.org"
OTHER = "https://evil.example.net"
EXPECTED = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_hardened(response: TestResponse, *, media: bool = False) -> None:
    # Media (streams, thumbnails, files) get the stricter sandbox policy instead of the page one.
    expected = {**EXPECTED, "Content-Security-Policy": MEDIA_CSP} if media else EXPECTED
    for name, value in expected.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    policy = response.headers["Permissions-Policy"]
    assert "camera=()" in policy and "microphone=()" in policy and "geolocation=()" in policy
    assert "Strict-Transport-Security" not in response.headers


def cors_headers(response: TestResponse) -> list[str]:
    return [name for name, _ in response.headers.items() if name.startswith("Access-Control-")]


def test_the_csp_is_strict_with_no_other_origin() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert not re.search(r"https?:|\*|unsafe", CSP)


@pytest.fixture
def video_item(settings: Settings) -> None:
    root = settings.media_roots[0]
    empty_dir(root)
    make_video(root / "aula.mp4", seconds=1)
    rebuild_local(services_of(settings))


def test_headers_on_json_errors_streams_and_the_ui(
    make_app: MakeApp, settings: Settings, video_item: None
) -> None:
    client = make_app(admin_token=TOKEN).test_client()
    item = client.get("/api/catalog/items").get_json()["items"][0]

    responses = {
        "json": client.get("/api/health"),
        "list": client.get("/api/catalog/items"),
        "404": client.get("/api/no-such-thing"),
        "405": client.patch("/api/health", headers={"X-Admin-Token": TOKEN}),
        "401": client.post("/api/maintenance/cleanup"),
        "stream": client.get(item["stream_url"], headers={"Range": "bytes=0-9"}),
        "head": client.head(item["stream_url"]),
        "thumbnail": client.get(item["thumbnail_url"]),
        "ui": client.get("/"),
        "metrics": client.get("/metrics"),
        "openapi": client.get("/api/openapi.json"),
    }
    assert responses["stream"].status_code == 206
    assert_envelope(responses["404"], 404, "not_found")
    assert_envelope(responses["401"], 401, "unauthorized")
    for name, response in responses.items():
        assert response.status_code < 500, name
        assert_hardened(response, media=name in ("stream", "head", "thumbnail"))


def test_a_500_carries_the_headers_too(make_app: MakeApp) -> None:
    app = make_app()

    @app.get("/api/boom-for-test")
    def boom() -> None:
        raise RuntimeError("boom")

    response = app.test_client().get("/api/boom-for-test")
    assert_envelope(response, 500, "internal_error")
    assert_hardened(response)


def test_the_docs_page_allows_exactly_its_inline_script(make_app: MakeApp) -> None:
    response = make_app().test_client().get("/api/docs/")
    page = response.get_data(as_text=True)
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    policy = response.headers["Content-Security-Policy"]

    assert response.status_code == 200 and len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "unsafe" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.fixture
def cors_app(make_app: MakeApp) -> Flask:
    return make_app(admin_token=TOKEN, cors_origins=f"{ALLOWED},http://localhost:3000")


def test_cors_answers_listed_origins_only(cors_app: Flask) -> None:
    client = cors_app.test_client()

    allowed = client.get("/api/tasks", headers={"Origin": ALLOWED})
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert cors_headers(allowed)
    exposed = {h.strip() for h in allowed.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"X-Request-ID", "ETag", "Content-Range", "Retry-After"}
    assert "Origin" in allowed.headers.get("Vary", "")
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    for origin in (OTHER, ALLOWED + ".evil.net", "http://ui.example.org", "null"):
        refused = client.get("/api/tasks", headers={"Origin": origin})
        assert refused.status_code == 200
        assert not cors_headers(refused)
    error = client.post("/api/maintenance/cleanup", headers={"Origin": ALLOWED})
    assert error.status_code == 401
    assert error.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_a_preflight_from_a_listed_origin_gets_the_allowed_headers(cors_app: Flask) -> None:
    client = cors_app.test_client()
    asked = "authorization, x-admin-token, content-type, if-none-match, range, x-request-id"

    response = client.options(
        "/api/downloads",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed == set(asked.split(", "))
    odd = client.options(
        "/api/downloads",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-something-else",
        },
    )
    assert "x-something-else" not in odd.headers.get("Access-Control-Allow-Headers", "").lower()


def test_a_preflight_from_another_origin_gets_no_cors_headers(cors_app: Flask) -> None:
    response = cors_app.test_client().options(
        "/api/downloads",
        headers={
            "Origin": OTHER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert not cors_headers(response)


def test_without_cors_origins_no_origin_is_answered(make_app: MakeApp) -> None:
    client = make_app().test_client()

    for origin in (ALLOWED, "http://localhost:3000"):
        response = client.get("/api/tasks", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers


@pytest.fixture
def https_app(make_app: MakeApp) -> Flask:
    return make_app(admin_token=TOKEN, force_https=True)


def test_plain_http_is_redirected_with_308(https_app: Flask) -> None:
    client = https_app.test_client()

    get = client.get("/api/tasks?limit=5", base_url="http://aula.example.org")
    assert get.status_code == 308
    assert get.headers["Location"] == "https://aula.example.org/api/tasks?limit=5"
    post = client.post("/api/maintenance/cleanup", base_url="http://aula.example.org")
    assert post.status_code == 308  # before the token check: 308 keeps the method
    assert client.get("/", base_url="http://aula.example.org").status_code == 308
    assert_hardened(get)


def test_https_gets_hsts_and_no_redirect(https_app: Flask) -> None:
    response = https_app.test_client().get("/api/tasks", base_url="https://aula.example.org")

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_probes_and_metrics_are_not_redirected(https_app: Flask) -> None:
    client = https_app.test_client()

    for path in ("/api/health", "/api/health/ready", "/metrics"):
        assert client.get(path).status_code in (200, 503), path


def test_forwarded_proto_is_ignored_unless_proxies_are_trusted(make_app: MakeApp) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"}
    untrusted = make_app(admin_token=TOKEN, force_https=True).test_client()
    trusted = make_app(
        admin_token=TOKEN, force_https=True, trusted_proxies="127.0.0.1"
    ).test_client()

    assert untrusted.get("/api/tasks", headers=forwarded).status_code == 308
    behind = trusted.get("/api/tasks", headers=forwarded)
    assert behind.status_code == 200
    assert behind.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = trusted.get("/api/tasks", headers={"X-Forwarded-Proto": "http"})
    assert plain.status_code == 308


def test_a_trusted_proxy_gives_the_client_address(make_app: MakeApp) -> None:
    # Without ADMIN_TOKEN mutations come from loopback only: behind nginx on the same host, only
    # TRUSTED_PROXIES tells a local request from one the proxy relays from outside.
    outside = {"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "http"}
    trusted = make_app(trusted_proxies="127.0.0.1").test_client()
    untrusted = make_app().test_client()

    assert_envelope(trusted.post("/api/maintenance/cleanup", headers=outside), 403, "forbidden")
    assert trusted.post("/api/maintenance/cleanup").status_code == 202
    assert untrusted.post("/api/maintenance/cleanup", headers=outside).status_code == 202
