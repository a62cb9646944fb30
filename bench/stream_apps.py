"""Stripped-down apps for `bench/stream_local.py --breakdown`: where a request's time goes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from flask import Flask, Response, send_file

from api.streaming import local_file_response
from core.media.conditional import Conditions, plan_local_file
from core.media.streaming import CHUNK_SIZE, RangeFile, open_local

ROOT = Path(os.environ["STREAM_ROOT"])


def raw_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """core.media.streaming under gunicorn, no Flask, no app hooks: the gthread + sendfile floor."""
    handle, info = open_local(ROOT / environ["PATH_INFO"].rsplit("/", 1)[-1])
    plan = plan_local_file(info, Conditions(range=environ.get("HTTP_RANGE")))
    start_response(f"{plan.status} {HTTPStatus(plan.status).phrase}", list(plan.headers.items()))
    return environ["wsgi.file_wrapper"](RangeFile(handle, plan.offset, plan.length), CHUNK_SIZE)


flask_app = Flask(__name__)


@flask_app.get("/stream-test/<name>")
def stream(name: str) -> Response:
    """`local_file_response` in a bare Flask app: without the real app's request hooks."""
    return local_file_response(ROOT / name)


werkzeug_app = Flask("werkzeug_app")


@werkzeug_app.get("/stream-test/<name>")
def werkzeug_stream(name: str) -> Response:
    """What Aula would do with Flask's own `send_file`: the "before" the issue measured."""
    return send_file(ROOT / name, conditional=True)
