"""The web UI's page and assets: served locally, revalidated by ETag, held to the strict CSP."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

from api.ui import STATIC

IMPORT = re.compile(r"""^import .* from '(\.{1,2}/[^']+)';$""", re.MULTILINE)


def _modules(client: FlaskClient, path: str, seen: set[str]) -> set[str]:
    """`path` and every module it imports, each fetched from the server."""
    if path in seen:
        return seen
    seen.add(path)
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype in ("text/javascript", "application/javascript"), path
    base = path.rsplit("/", 1)[0]
    for relative in IMPORT.findall(response.get_data(as_text=True)):
        parts = f"{base}/{relative}".split("/")
        resolved: list[str] = []
        for part in parts:
            if part == "..":
                resolved.pop()
            elif part != ".":
                resolved.append(part)
        _modules(client, "/".join(resolved), seen)
    return seen


def test_the_page_loads_its_module_and_stylesheet_only_from_its_origin(client: FlaskClient):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<script type="module" src="/ui/js/app.js"></script>' in page
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/ui/js/app.js">']
    assert "<style" not in page and "style=" not in page and "http" not in page
    modules = _modules(client, "/ui/js/app.js", set())
    on_disk = {f"/ui/{p.relative_to(STATIC)}" for p in STATIC.rglob("*.js")}
    assert modules == on_disk  # every module is reachable from app.js, none is missing


def test_assets_revalidate_with_an_etag(client: FlaskClient):
    first = client.get("/ui/ui.css")
    assert first.status_code == 200 and first.mimetype == "text/css"
    assert "no-cache" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = client.get("/ui/ui.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert (
        client.get("/", headers={"If-None-Match": client.get("/").headers["ETag"]}).status_code
        == 304
    )


def test_nothing_outside_the_static_folder_is_served(client: FlaskClient):
    for path in ("/ui/../ui.py", "/ui/%2e%2e/ui.py", "/ui/missing.js", "/ui/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


def test_the_ui_is_not_in_the_openapi_document(client: FlaskClient):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert not [path for path in paths if not path.startswith("/api/")]


def test_the_scripts_parse_no_markup_and_evaluate_no_strings():
    for path in Path(STATIC).rglob("*.js"):
        text = path.read_text()
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function"):
            assert banned not in text, (path.name, banned)
        assert "style=" not in text and ".setAttribute('style'" not in text, path.name
