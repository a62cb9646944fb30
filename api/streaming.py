"""Stream responses: local files (ranges, validators, sendfile) and Drive bytes proxied."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, request, send_file
from werkzeug.wsgi import ClosingIterator

from api import media_links
from api.errors import envelope
from api.extensions import settings
from core.catalog import thumbnails
from core.google.drive import DriveClient
from core.media.conditional import Conditions, content_disposition, normalize_range, plan_local_file
from core.media.probing import VIDEO_EXTENSIONS, sniff, video_type
from core.media.streaming import CHUNK_SIZE, RangeFile, iter_upstream, open_local, proxy_plan

# Served inline: what <video>, <audio> and <img> play. Anything else (HTML, script, SVG, PDF) is
# handed over as an attachment of no particular type, so it never runs on Aula's origin.
INLINE_KINDS = ("audio/", "video/", "image/")
OPAQUE_TYPE = "application/octet-stream"


def is_inline_type(content_type: str | None) -> bool:
    """Whether a response of this type may be shown inline: audio, video or raster images."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind.startswith(INLINE_KINDS) and "xml" not in kind


def served_as(content_type: str | None, filename: str | None) -> tuple[str, str | None]:
    """The Content-Type and Content-Disposition to serve a file of `content_type` with."""
    if is_inline_type(content_type):
        return str(content_type), content_disposition(filename) if filename else None
    return OPAQUE_TYPE, content_disposition(filename, "attachment") if filename else "attachment"


def thumbnail_response(path: Path) -> Response:
    """A cached thumbnail image; one asked for with a token or a signature is cached privately."""
    response = send_file(path, mimetype=thumbnails.image_type(path), max_age=3600, conditional=True)
    credentials = ("Authorization", "X-Admin-Token")
    if "sig" in request.args or any(request.headers.get(name) for name in credentials):
        response.cache_control.public = False
        response.cache_control.private = True
    return response


def local_file_response(
    path: Path, *, download_name: str | None = None, mime_type: str | None = None
) -> Response:
    """Answer GET/HEAD for a regular file with 200, 206, 304 or 416; NotFound if it is not one.

    The path must already be confined to its root. The body is the file positioned at the range's
    start: under gunicorn its `wsgi.file_wrapper` sends it with `sendfile` from that offset for
    Content-Length bytes, so a range costs its length and not its offset (Werkzeug's range
    support would read and discard everything before the start).
    """
    handle, info = open_local(path)
    try:
        content_type, disposition = served_as(
            mime_type or guess_mime_type(path, handle.fileno()), download_name or path.name
        )
        if download_name is None and disposition and disposition.startswith("inline"):
            disposition = None  # a stream plays in place; only downloads name their file
        accel = accel_redirect(path)
        if accel:
            handle.close()
            # A stream (not a download) goes on at a link nginx checks alone: seeks skip Python.
            direct = media_links.direct_url(path) if disposition is None else None
            if direct:
                return media_links.redirect(direct)
            return _accel_response(accel, content_type, disposition)
        plan = plan_local_file(
            info, Conditions.from_headers(request.headers), content_type, disposition
        )
    except BaseException:
        handle.close()
        raise
    if plan.status == 416:
        handle.close()
        return unsatisfiable_response(plan.size)
    if not plan.has_body or request.method == "HEAD":
        handle.close()
        return _stream_response((), plan.status, plan.headers)
    body = RangeFile(handle, plan.offset, plan.length)
    wrapper = request.environ.get("wsgi.file_wrapper")
    chunks: Iterable[bytes] = wrapper(body, CHUNK_SIZE) if wrapper else body.chunks()
    return _stream_response(chunks, plan.status, plan.headers)


def accel_redirect(path: Path) -> str | None:
    """The X-Accel-Redirect URI for `path` when ACCEL_REDIRECT_PREFIX is set and nginx asked.

    nginx marks the requests it proxies (`X-Aula-Accel: 1`); a direct request to web gets the
    bytes from Flask as before. Ranges and validators are then nginx's, over the same file.
    """
    if request.headers.get("X-Aula-Accel") != "1":
        return None
    prefix = settings().accel_redirect_prefix
    return prefix + quote(os.fsencode(path.resolve())) if prefix else None


def _accel_response(uri: str, content_type: str, disposition: str | None) -> Response:
    headers = {"X-Accel-Redirect": uri, "Content-Type": content_type}
    if disposition:
        headers["Content-Disposition"] = disposition
    return _stream_response((), 200, headers)


def drive_proxy_response(client: DriveClient, file_id: str) -> Response:
    """Proxy a Drive file's bytes, passing one valid Range on; client errors propagate.

    Headers are decided before the first byte; the body is read from Drive in chunks as the client
    takes it (flat memory), and the upstream response is closed however the stream ends.
    """
    upstream = client.media(file_id, normalize_range(request.headers.get("Range")))
    try:
        plan = proxy_plan(upstream.status_code, upstream.headers)
    except BaseException:
        upstream.close()
        raise
    if plan.status == 416:
        upstream.close()
        return unsatisfiable_response(
            plan.size if plan.size is not None else _drive_size(client, file_id)
        )
    content_type, disposition = served_as(plan.headers.get("Content-Type"), None)
    headers = {**plan.headers, "Content-Type": content_type}
    if disposition:
        headers["Content-Disposition"] = disposition
    if request.method == "HEAD":
        upstream.close()
        return _stream_response((), plan.status, headers)
    # ClosingIterator also closes the upstream when the body is dropped before its first chunk
    # (a generator that never started does not run its `finally`).
    body = ClosingIterator(iter_upstream(upstream), [upstream.close])
    return _stream_response(body, plan.status, headers)


def unsatisfiable_response(size: int | None) -> Response:
    """416 in the error envelope with `Content-Range: bytes */<size>`."""
    response = envelope(
        416,
        "range_not_satisfiable",
        "The requested range is outside the file; Content-Range gives its size.",
        {"size": size} if size is not None else None,
    )
    response.headers["Accept-Ranges"] = "bytes"
    if size is not None:
        response.headers["Content-Range"] = f"bytes */{size}"
    return response


def guess_mime_type(path: Path, fd: int | None = None) -> str:
    """A video type by extension or by the first bytes of open `fd`, else the extension's type."""
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return video_type(path) or "video/mp4"  # decided by the extension: no I/O
    head = os.pread(fd, 256, 0) if fd is not None else b""
    return sniff(head) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _drive_size(client: DriveClient, file_id: str) -> int | None:
    size: Any = client.get_file(file_id).get("size")
    return int(size) if size is not None and str(size).isdigit() else None


def _stream_response(body: Iterable[bytes], status: int, headers: dict[str, str]) -> Response:
    # direct_passthrough hands `body` to the server untouched: gunicorn recognises its own
    # FileWrapper (sendfile) and closes whatever it was given when the response ends.
    response: Response = current_app.response_class(
        body, status=status, headers=headers, direct_passthrough=True
    )
    return response
