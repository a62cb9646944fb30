"""Plain media files over HTTP(S) without yt-dlp: guarded, resumable, hashed while written.

A URL that names a media file (`video.mp4`) needs no extractor; fetching it straight is several
times faster than yt-dlp's write path and its second hashing pass. Every connection, redirects
included, is checked against the SSRF guard just before it is made (core.base.guarded_http: the
address that is checked is the address that is connected to). An answer that is a page or a
playlist raises NotMedia before a byte is written: that URL is yt-dlp's job.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import queue
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from core.base.errors import (
    AulaError,
    TransientError,
    UpstreamRefused,
    UpstreamTimeout,
    write_failed,
)
from core.base.guarded_http import guarded_opener
from core.base.netguard import Guard
from core.downloads.engine import Declined, FetchJob, Staged
from core.downloads.files import hash_file
from core.downloads.progress import Canceled, Progress
from core.downloads.throttle import limited

CHUNK = 1024 * 1024
MEDIA_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".ts", ".mp3", ".m4a",
                            ".avi", ".flv", ".ogv", ".bin"})  # fmt: skip
_NOT_MEDIA = re.compile(r"^(text/|application/(x-)?(vnd\.apple\.)?mpegurl|application/dash\+xml)")
_RETRYABLE = frozenset({408, 425, 429})
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class NotMedia(Declined):
    """The URL answered with a page or a playlist, not a media file: leave it to yt-dlp."""


class _StartOver(Exception):
    """The partial file cannot be resumed: fetch from the first byte."""


@dataclass(frozen=True)
class DirectResult:
    path: Path
    size: int
    sha256: str
    title: str | None


def is_media_url(url: str) -> bool:
    """True when the URL's path names a media file that a plain GET fetches whole."""
    return Path(urlsplit(url).path).suffix.lower() in MEDIA_SUFFIXES


# ------------------------------------------------------------------ the transfer


class _HashingWriter:
    """Appends blocks to a file while a second thread hashes them (hashlib releases the GIL)."""

    def __init__(self, path: Path, digest: Any, depth: int = 4) -> None:
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as error:
            raise write_failed(error, "the download") from None
        self.digest = digest
        self.free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self.todo: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        for _ in range(depth):
            self.free.put(bytearray(CHUNK))
        self.thread = threading.Thread(target=self._hash, name="sha256", daemon=True)
        self.thread.start()

    def _hash(self) -> None:
        while (item := self.todo.get()) is not None:
            block, size = item
            self.digest.update(memoryview(block)[:size])
            self.free.put(block)

    def copy(self, response: Any) -> int:
        """Read one block from `response` into the file; 0 at the end of the body."""
        block = self.free.get()
        view = memoryview(block)
        size = response.readinto(view)
        if not size:
            self.free.put(block)
            return 0
        written = 0
        try:
            while written < size:
                written += os.write(self.fd, view[written:size])
        except OSError as error:  # not the connection's fault: no resume, no retry
            self.free.put(block)
            raise write_failed(error, "the download") from None
        self.todo.put((block, size))
        return int(size)

    def close(self) -> None:
        self.todo.put(None)
        self.thread.join()
        os.close(self.fd)


def _typed(error: Exception, guard: Guard) -> AulaError:
    if guard.refused:
        return guard.refusal_error()
    if isinstance(error, urllib.error.HTTPError):
        if error.code in _RETRYABLE or error.code >= 500:
            return TransientError(f"The server answered HTTP {error.code}; will retry.")
        return UpstreamRefused(f"The server refused the download (HTTP {error.code}).")
    reason = getattr(error, "reason", error)
    if isinstance(reason, ssl.SSLCertVerificationError):
        problem = reason.verify_message or "it could not be verified"
        return UpstreamRefused(f"The server's TLS certificate is not valid: {problem}.")
    if isinstance(reason, TimeoutError):
        return UpstreamTimeout("The server did not answer in time; will retry.")
    return TransientError(f"The connection failed ({type(reason).__name__}); will retry.")


def _open(opener: urllib.request.OpenerDirector, url: str, have: int, guard: Guard,
          timeout: float) -> tuple[Any, int, int | None]:  # fmt: skip
    """GET `url` from byte `have`: (response, its first byte, the file's size if known)."""
    # The opener has http and https handlers only: no file:, ftp: or data: can be opened.
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})  # noqa: S310
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        match = re.match(r"^bytes \*/(\d+)$", error.headers.get("Content-Range", ""))
        error.close()
        if error.code == 416 and match and int(match.group(1)) == have:
            return None, have, have  # the partial file is already whole
        if error.code == 416 and have:
            raise _StartOver() from None  # the partial file is longer than the file, or it changed
        raise _typed(error, guard) from None
    except (OSError, http.client.HTTPException) as error:
        raise _typed(error, guard) from None
    if _NOT_MEDIA.match(response.headers.get("Content-Type", "").lower()):
        response.close()
        raise NotMedia(response.headers.get("Content-Type"))
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if response.status == 206 and match:
        total = None if match.group(3) == "*" else int(match.group(3))
        return response, int(match.group(1)), total
    length = response.headers.get("Content-Length")
    return response, 0, int(length) if length and length.isdigit() else None


def _title(response: Any, url: str) -> str | None:
    name = response.headers.get_filename() if response is not None else None
    name = name or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return Path(name).stem or None


@dataclass
class _Run:
    part: Path
    on_progress: Progress
    digest: Any
    have: int = 0
    total: int | None = None

    def restart_at(self, start: int) -> None:
        if start != self.have:  # the server ignored the Range or answered another: start over
            self.part.unlink(missing_ok=True)
            self.digest, self.have = hashlib.sha256(), 0

    def copy(self, response: Any) -> None:
        started, first = time.monotonic(), self.have
        writer = _HashingWriter(self.part, self.digest)
        try:
            while size := writer.copy(response):
                self.have += size
                speed = (self.have - first) / max(time.monotonic() - started, 1e-6)
                left = (self.total - self.have) / speed if self.total and speed else None
                if not self.on_progress(self.have, self.total, speed, left):
                    raise Canceled()
        finally:
            writer.close()


def fetch_direct(
    url: str,
    part: Path,
    *,
    guard: Guard,
    on_progress: Progress,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    resumes: int = 3,
    cookies: Path | None = None,
) -> DirectResult:
    """Fetch `url` into `part`, resuming what is there; the file's size, sha256 and title.

    Resumes by Range after a broken transfer up to `resumes` times within the call. Raises
    NotMedia (nothing written), Canceled, ValidationFailed (forbidden_url), UpstreamRefused or
    TransientError (the partial file stays for the next attempt).
    """
    opener = guarded_opener(guard, connect_timeout, cookies)
    run = _Run(part, on_progress, hashlib.sha256())
    run.have = hash_file(part, run.digest) if part.exists() else 0
    on_progress(run.have, None, None, None)  # the starting point: bytes counted from here on
    title: str | None = None
    for attempt in range(resumes + 1):
        try:
            response, start, run.total = _open(opener, url, run.have, guard, read_timeout)
        except _StartOver:
            run.restart_at(0)
            continue
        title = title or _title(response, url)
        if response is None:
            break
        if start not in (run.have, 0):  # a range we did not ask for: start over cleanly
            response.close()
            run.restart_at(0)
            continue
        run.restart_at(start)
        try:
            with response:
                run.copy(response)
        except (OSError, http.client.HTTPException) as error:
            if attempt == resumes:
                raise _typed(error, guard) from None
            continue
        if run.total is None or run.have >= run.total:
            break
    else:
        raise TransientError("The server kept closing the transfer early; will resume later.")
    on_progress(run.have, run.have, None, 0.0)
    return DirectResult(part, run.have, run.digest.hexdigest(), title)


class DirectEngine:
    """A URL naming a media file, fetched straight; Declined (NotMedia) if it is not one."""

    def __init__(
        self,
        guard: Guard,
        timeouts: tuple[float, float],
        cookies: Path | None,
        rate_bps: int | None = None,
    ) -> None:
        self.guard, self.timeouts, self.cookies = guard, timeouts, cookies
        self.rate_bps = rate_bps

    def fetch(self, job: FetchJob, work: Path, on_progress: Progress) -> Staged:
        """The file into `work`, named with the URL's suffix; its title from the response."""
        part = work / "direct.part"
        try:
            result = fetch_direct(
                job.url,
                part,
                guard=self.guard,
                on_progress=limited(on_progress, self.rate_bps),
                connect_timeout=self.timeouts[0],
                read_timeout=self.timeouts[1],
                cookies=self.cookies,
            )
        except NotMedia:
            part.unlink(missing_ok=True)
            raise
        named = part.with_name("data" + Path(urlsplit(job.url).path).suffix.lower())
        os.replace(part, named)
        return Staged(named, result.sha256, result.title)
