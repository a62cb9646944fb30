"""Conditional and range requests for a local file (RFC 9110): which status, headers and bytes.

The range-set and the entity-tag lists are parsed here, not by `werkzeug.http`: measured against
tests/core/test_streaming.py, `parse_range_header` takes `bytes=-0` for a bad header (200, where we
answer 416), rejects the empty list elements RFC 9110 allows (`bytes=0-1,`) and accepts blanks
inside a spec (`0 - 5`); `parse_etags` returns unordered sets, takes unquoted and `w/` tags, and
drops tags not separated by a comma (so `is_resource_modified` answers 304 to an unquoted tag).
Dates and tag quoting are werkzeug's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from werkzeug.http import http_date as _werkzeug_http_date
from werkzeug.http import parse_date, quote_etag

from core.base.local_names import catalog_name, readable

_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
_ETAG = re.compile(r'(W/)?"([^"]*)"')


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
    if first is None and last is not None:
        if last == 0:
            return UNSATISFIABLE
        if size == 0:
            return None  # nothing to take a suffix of; the (empty) whole answers
        return ByteRange(max(0, size - last), size - 1, size)
    if first is None or first >= size:  # None with None cannot come: _parse_spec refuses "-"
        return UNSATISFIABLE
    end = size - 1 if last is None else min(last, size - 1)
    return ByteRange(first, end, size)


def http_date(timestamp: float) -> str:
    """An IMF-fixdate, as Last-Modified and Date use."""
    return _werkzeug_http_date(timestamp)


def parse_http_date(value: str | None) -> int | None:
    """Seconds since the epoch of an HTTP date (zone-less ones are GMT), or None if not one."""
    try:
        parsed = parse_date(value)
    except (OverflowError, IndexError):  # a year or day too large for a datetime
        return None
    return None if parsed is None else int(parsed.timestamp())


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
        return quote_etag(f"{self.size:x}-{self.mtime_ns:x}-{self.inode:x}")

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
    """A Content-Disposition value naming `filename`, with an RFC 8187 form for non-ASCII names.

    A name that is not UTF-8 (surrogate escapes) is named as people read it: a header names the
    file to save, it does not find it."""
    filename = readable(catalog_name(filename))
    # Control characters would break the header; quotes and backslashes the quoted-string.
    ascii_name = "".join(
        "_" if not 32 <= ord(char) < 127 or char in '"\\' else char for char in filename
    )
    value = f'{kind}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
