"""Bytes of a local file from an offset (sendfile-ready), and proxying of an upstream stream."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from core.base.errors import NotFound, TransientError
from core.media.conditional import FileInfo, HeaderLookup

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
# Upstream headers a proxied stream passes on; hop-by-hop and auth-related ones never pass.
PROXY_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Content-Encoding",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
)
_UNSATISFIED = re.compile(r"bytes\s+\*/([0-9]+)")


class RangeFile:
    """A file already positioned at `offset` that reads at most `length` bytes.

    `fileno()` and the OS file offset let gunicorn hand it to `sendfile` (which starts at the
    current offset and sends Content-Length bytes); `read()` stops at the range's end for servers
    that iterate it instead, so nothing past the range is ever read.
    """

    mode = "rb"

    def __init__(self, handle: IO[bytes], offset: int, length: int) -> None:
        handle.seek(offset)
        self._handle = handle
        self._remaining = length

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        want = self._remaining if size < 0 else min(size, self._remaining)
        data = self._handle.read(want)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._handle.fileno()

    def close(self) -> None:
        self._handle.close()

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The remaining bytes in chunks; closes the file when done or abandoned."""
        try:
            while data := self.read(chunk_size):
                yield data
        finally:
            self.close()


def open_local(path: Path) -> tuple[IO[bytes], FileInfo]:
    """Open a regular file for reading and describe it; NotFound for anything else.

    The validators come from the open descriptor, so a file replaced between the two steps cannot
    pair one file's ETag with another's bytes; O_NONBLOCK keeps a FIFO from hanging the request.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        raise NotFound("No such file.") from None
    try:
        result = os.fstat(fd)
        if not stat.S_ISREG(result.st_mode):
            raise NotFound("No such file.")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return handle, FileInfo.from_stat(result)


@dataclass(frozen=True)
class ProxyPlan:
    """How to answer for an upstream byte stream: our status and the headers passed on."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    size: int | None = None  # the representation's size, when a 416 names it

    @property
    def has_body(self) -> bool:
        return self.status in (200, 206)


def proxy_plan(upstream_status: int, upstream_headers: HeaderLookup) -> ProxyPlan:
    """Map an upstream 200/206/416 to ours and pick the headers worth passing on."""
    if upstream_status != 416 and not 200 <= upstream_status < 300:
        raise TransientError(f"The upstream answered {upstream_status} to a byte request.")
    status = upstream_status if upstream_status in (206, 416) else 200
    headers = {"Accept-Ranges": "bytes"}
    for name in PROXY_HEADERS:
        value = upstream_headers.get(name)
        if value is not None and name != "Accept-Ranges":
            headers[name] = value
    if status != 206:
        headers.pop("Content-Range", None)
    size = None
    if status == 416:
        match = _UNSATISFIED.fullmatch((upstream_headers.get("Content-Range") or "").strip())
        size = int(match.group(1)) if match else None
        headers = {"Accept-Ranges": "bytes"}
        if size is not None:
            headers["Content-Range"] = f"bytes */{size}"
    return ProxyPlan(status, headers, size)


class Closable(Protocol):
    """The part of a streamed `requests.Response` that `iter_upstream` uses."""

    raw: Any

    def close(self) -> None: ...


def iter_upstream(response: Closable, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The upstream body as it arrives, undecoded (Content-Length stays true), in chunks.

    The upstream response is always closed: at the end, on an upstream failure, and when the
    consumer closes this generator because its client went away, which stops the transfer.
    """
    try:
        yield from response.raw.stream(chunk_size, decode_content=False)
    except Exception as error:  # urllib3's read errors have no common base with requests'
        log.warning("upstream stream failed mid-body: %s", type(error).__name__)
        raise TransientError(f"The upstream stream failed: {type(error).__name__}.") from None
    finally:
        response.close()
