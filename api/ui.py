"""The web UI: `GET /` and its ES modules and CSS under `/ui/` (no build step, no other origin)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"

blp = Blueprint("ui", __name__)


def _revalidated(response: Response) -> Response:
    # Assets keep their names across releases, so browsers must ask again (cheaply: ETag, 304).
    response.cache_control.no_cache = True
    response.cache_control.max_age = None
    return response


@blp.get("/")
def index() -> Response:
    """The single page; views are chosen by the URL's hash (#/catalog, #/downloads, ...)."""
    return _revalidated(send_from_directory(STATIC, "index.html", max_age=0))


@blp.get("/ui/<path:filename>")
def asset(filename: str) -> Response:
    """An ES module, stylesheet or icon of the page, with an ETag."""
    return _revalidated(send_from_directory(STATIC, filename, max_age=0))
