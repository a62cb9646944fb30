"""The real app plus a route streaming files under $STREAM_ROOT (gunicorn in tests, bench)."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Response, request
from werkzeug.security import safe_join

from api import create_app
from api.streaming import local_file_response
from core.base.errors import NotFound

app = create_app()


@app.get("/stream-test/<path:name>")
def stream_test_file(name: str) -> Response:
    """A file under STREAM_ROOT; `?as=` names it in Content-Disposition, `?type=` sets its type."""
    joined = safe_join(os.environ["STREAM_ROOT"], name)
    if joined is None:
        raise NotFound("No such file.")
    return local_file_response(
        Path(joined), download_name=request.args.get("as"), mime_type=request.args.get("type")
    )
