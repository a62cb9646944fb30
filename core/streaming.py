"""HTTP byte ranges and validators over local files, and proxying of an upstream byte stream."""

from __future__ import annotations

import datetime
import email.utils
import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote

from core.errors import NotFound, TransientError

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
_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
_ETAG = re.compile(r'(W/)?"([^"]*)"')
_UNSATISFIED = re.compile(r"bytes\s+\*/([0-9]+)")


class HeaderLookup(Protocol):
    """Case-insensitive headers: Flask's request headers, a requests `CaseInsensitiveDict`."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range `start`..`end` of a representation of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class Unsatisfiable:
    """The Range header is valid but selects nothing of the representation (416)."""


UNSATISFIABLE = Unsatisfiable()
RangeSpec = tuple[int | None, int | None]


def parse_range_specs(header: str | None) -> list[RangeSpec] | None:
    """The `bytes=` range-set as (first, last) pairs, `(None, n)` for a suffix; None if invalid.

    Per RFC 9110 a Range header that does not parse (another unit, `5-3`, garbage) is ignored,
    so None means "serve the whole representation".
    """
    if not header:
        return None
    unit, sep, rest = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs: list[RangeSpec] = []
    for raw in rest.split(","):
        item = raw.strip()
        if not item:
            continue  # the list syntax allows empty elements
        spec = _parse_spec(item)
        if spec is None:
            return None
        specs.append(spec)
    return specs or None


def _parse_spec(item: str) -> RangeSpec | None:
    match = _SPEC.fullmatch(item)
    if match is None or match.group(0) == "-":
        return None
    try:
        first = int(match.group(1)) if match.group(1) else None
        last = int(match.group(2)) if match.group(2) else None
    except ValueError:  # more digits than int() accepts: not a range anyone can mean
        return None
    if first is not None and last is not None and last < first:
        return None
    return first, last


def normalize_range(header: str | None) -> str | None:
    """One valid range as a canonical `bytes=` value; None when absent, malformed or multiple."""
    specs = parse_range_specs(header)
    if specs is None or len(specs) != 1:
        return None
    first, last = specs[0]
    return f"bytes={'' if first is None else first}-{'' if last is None else last}"


def resolve_range(header: str | None, size: int) -> ByteRange | Unsatisfiable | None:
    """The single range `header` selects from `size` bytes; None means send all of it (200).

    Only one range is served: a request for several gets the whole file with 200, which RFC 9110
    allows (a server may ignore Range) and which is what Werkzeug does; no browser asks for more.
    """
    specs = parse_range_specs(header)
    if specs is None or len(specs) != 1:
        return None
    first, last = specs[0]
    if first is None:
        assert last is not None
        if last == 0:
            return UNSATISFIABLE
        if size == 0:
            return None  # nothing to take a suffix of; the (empty) whole answers
        return ByteRange(max(0, size - last), size - 1, size)
    if first >= size:
        return UNSATISFIABLE
    end = size - 1 if last is None else min(last, size - 1)
    return ByteRange(first, end, size)


def http_date(timestamp: float) -> str:
    """An IMF-fixdate, as Last-Modified and Date use."""
    return email.utils.formatdate(timestamp, usegmt=True)


def parse_http_date(value: str | None) -> int | None:
    """Seconds since the epoch of an HTTP date, or None if it is not one."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime dates carry no zone; HTTP dates are all GMT
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return int(parsed.timestamp())


def etags_in(header: str) -> list[tuple[bool, str]]:
    """The (weak, opaque-tag) pairs listed in an If-None-Match or If-Range value."""
    return [(bool(weak), tag) for weak, tag in _ETAG.findall(header)]


@dataclass(frozen=True)
class FileInfo:
    """What the validators of a local file are made of."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def from_stat(cls, result: os.stat_result) -> FileInfo:
        return cls(result.st_size, result.st_mtime_ns, result.st_ino)

    @property
    def etag(self) -> str:
        """A strong ETag: changes whenever size, mtime or the inode (a replaced file) change."""
        return f'"{self.size:x}-{self.mtime_ns:x}-{self.inode:x}"'

    @property
    def mtime_s(self) -> int:
        return self.mtime_ns // 1_000_000_000

    @property
    def last_modified(self) -> str:
        return http_date(self.mtime_s)


@dataclass(frozen=True)
class Conditions:
    """The request headers that decide a local file's answer."""

    range: str | None = None
    if_range: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None

    @classmethod
    def from_headers(cls, headers: HeaderLookup) -> Conditions:
        """Read them from any case-insensitive header mapping with `.get()`."""
        return cls(
            range=headers.get("Range"),
            if_range=headers.get("If-Range"),
            if_none_match=headers.get("If-None-Match"),
            if_modified_since=headers.get("If-Modified-Since"),
        )


def not_modified(info: FileInfo, conditions: Conditions) -> bool:
    """True when a GET/HEAD should answer 304 (RFC 9110 13.2.2: If-None-Match wins over IMS)."""
    if conditions.if_none_match is not None:
        value = conditions.if_none_match.strip()
        if value == "*":
            return True
        ours = info.etag.strip('"')
        return any(tag == ours for _, tag in etags_in(value))  # weak comparison
    since = parse_http_date(conditions.if_modified_since)
    return since is not None and info.mtime_s <= since


def if_range_holds(info: FileInfo, if_range: str | None) -> bool:
    """Whether Range may be honoured: no If-Range, or one that strongly matches this file."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        tags = etags_in(value)
        return len(tags) == 1 and not tags[0][0] and f'"{tags[0][1]}"' == info.etag
    return parse_http_date(value) == info.mtime_s


@dataclass(frozen=True)
class LocalFile:
    """How to answer for a local file: status, headers, and which bytes form the body."""

    status: int
    headers: dict[str, str]
    offset: int = 0
    length: int = 0
    size: int = 0

    @property
    def has_body(self) -> bool:
        return self.status in (200, 206)


def plan_local_file(
    info: FileInfo,
    conditions: Conditions,
    content_type: str = "application/octet-stream",
    disposition: str | None = None,
) -> LocalFile:
    """Decide 200, 206, 304 or 416 for a GET or HEAD of a file whose validators are `info`."""
    validators = {"ETag": info.etag, "Last-Modified": info.last_modified}
    if not_modified(info, conditions):
        return LocalFile(304, {"Accept-Ranges": "bytes", **validators}, size=info.size)
    selected = resolve_range(conditions.range, info.size)
    if selected is not None and not if_range_holds(info, conditions.if_range):
        selected = None
    if isinstance(selected, Unsatisfiable):
        headers = {"Accept-Ranges": "bytes", "Content-Range": f"bytes */{info.size}"}
        return LocalFile(416, headers, size=info.size)
    headers = {"Accept-Ranges": "bytes", "Content-Type": content_type, **validators}
    if disposition:
        headers["Content-Disposition"] = disposition
    if selected is None:
        headers["Content-Length"] = str(info.size)
        return LocalFile(200, headers, 0, info.size, info.size)
    headers["Content-Length"] = str(selected.length)
    headers["Content-Range"] = selected.content_range
    return LocalFile(206, headers, selected.start, selected.length, info.size)


def content_disposition(filename: str, kind: str = "inline") -> str:
    """A Content-Disposition value naming `filename`, with an RFC 8187 form for non-ASCII names."""
    # Control characters would break the header; quotes and backslashes the quoted-string.
    ascii_name = "".join(
        "_" if not 32 <= ord(char) < 127 or char in '"\\' else char for char in filename
    )
    value = f'{kind}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


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
