"""The OpenAPI 3 document and interactive docs served from local assets only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from core.jobs import records as jobs

EXPECTED = {
    "/api/health": {"get"},
    "/api/health/ready": {"get"},
    "/api/tasks": {"get"},
    "/api/tasks/{task_id}": {"get", "delete"},
    "/api/maintenance/cleanup": {"post"},
}


class AssetParser(HTMLParser):
    """Collects the URLs of script and link tags."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def test_openapi_document(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Aula"
    for path, methods in EXPECTED.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), path
    assert "202" in spec["paths"]["/api/maintenance/cleanup"]["post"]["responses"]
    assert "parameters" in spec["paths"]["/api/tasks"]["get"]
    params = {p["name"] for p in spec["paths"]["/api/tasks"]["get"]["parameters"]}
    assert {"limit", "cursor", "state", "name"} <= params


def test_every_mutation_is_documented_as_needing_the_admin_token(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }
    routed = {
        (method, re.sub(r"<(?:[^>]*:)?(\w+)>", r"{\1}", str(rule)))
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method in ("POST", "PUT", "PATCH", "DELETE")
    }

    assert routed == documented
    assert spec["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
    for method, path in documented:
        operation = spec["paths"][path][method.lower()]
        assert {"adminToken": []} in operation.get("security", []), f"{method} {path}"


def test_reads_document_the_token_and_media_urls_their_signature(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    media = {
        "/api/catalog/items/{item_id}/stream",
        "/api/catalog/items/{item_id}/playback",
        "/api/catalog/items/{item_id}/thumbnail",
        "/api/drive/files/{file_id}/stream",
        "/api/drive/files/{file_id}/thumbnail",
        "/api/downloads/{download_id}/file",
    }
    assert spec["components"]["securitySchemes"]["mediaSignature"]["in"] == "query"
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        security = operations["get"].get("security")
        if path in ("/api/health", "/api/health/ready", "/api/google/oauth/callback"):
            assert security is None, path
            continue
        assert {"adminToken": []} in security and {} in security, path
        signed = {"mediaSignature": []} in security
        names = {p.get("name") for p in operations["get"].get("parameters", [])}
        assert signed == (path in media) == ({"exp", "sig"} <= names), path


def test_docs_are_served_from_local_assets(client: FlaskClient) -> None:
    response = client.get("/api/docs", follow_redirects=True)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "/api/openapi.json" in page
    parser = AssetParser()
    parser.feed(page)
    assert any(url.endswith(".js") for url in parser.urls)
    assert any(url.endswith(".css") for url in parser.urls)
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"external asset {url}"
        asset = client.get(urljoin(response.request.path, url))
        assert asset.status_code == 200, url
        assert asset.data, url


def test_the_task_name_filter_lists_production_tasks_only(make_app: Any) -> None:
    # Test tasks stay out of the schema even where they are enabled (as in this test session).
    for enabled in (False, True):
        spec = make_app(enable_test_tasks=enabled).test_client().get("/api/openapi.json").get_json()
        params = spec["paths"]["/api/tasks"]["get"]["parameters"]
        (name,) = [p for p in params if p["name"] == "name"]
        assert name["schema"]["enum"] == list(jobs.TASK_NAMES)
        assert "notifications.deliver" in name["schema"]["enum"]
        assert not [n for n in name["schema"]["enum"] if n.startswith("testing.")]
