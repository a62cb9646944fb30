"""Range parsing, validators, file plans, and upstream proxying against a real loopback server."""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from core.base.errors import NotFound, TransientError
from core.media.conditional import (
    UNSATISFIABLE,
    ByteRange,
    Conditions,
    FileInfo,
    content_disposition,
    etags_in,
    if_range_holds,
    normalize_range,
    not_modified,
    parse_http_date,
    parse_range_specs,
    plan_local_file,
    resolve_range,
)
from core.media.streaming import RangeFile, iter_upstream, open_local, proxy_plan

INFO = FileInfo(size=1000, mtime_ns=1_700_000_000_123_456_789, inode=42)
MTIME_DATE = formatdate(1_700_000_000, usegmt=True)


@pytest.mark.parametrize(
    ("header", "specs"),
    [
        ("bytes=0-499", [(0, 499)]),
        ("bytes=500-", [(500, None)]),
        ("bytes=-500", [(None, 500)]),
        ("Bytes = 1-2", [(1, 2)]),
        ("bytes= 0-1 , 5-9,", [(0, 1), (5, 9)]),
        ("bytes=5-5", [(5, 5)]),
        ("bytes=" + "9" * 30 + "-", [(int("9" * 30), None)]),
        (None, None),
        ("", None),
        ("bytes", None),
        ("bytes=", None),
        ("bytes=,", None),
        ("bytes=-", None),
        ("bytes=5-3", None),
        ("bytes=a-b", None),
        ("bytes=1-2-3", None),
        ("bytes=0-1,x", None),
        ("bytes=+1-2", None),
        ("bytes=\u0661-2", None),  # an Arabic-Indic digit is not a DIGIT
        ("items=0-1", None),
        ("bytes=" + "1" * 5000 + "-", None),  # beyond int()'s digit limit: malformed
    ],
)
def test_parse_range_specs(header: str | None, specs: list[Any] | None) -> None:
    assert parse_range_specs(header) == specs


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, ByteRange(0, 99, 1000)),
        ("bytes=990-", 1000, ByteRange(990, 999, 1000)),
        ("bytes=990-5000", 1000, ByteRange(990, 999, 1000)),
        ("bytes=-10", 1000, ByteRange(990, 999, 1000)),
        ("bytes=-5000", 1000, ByteRange(0, 999, 1000)),
        ("bytes=999-999", 1000, ByteRange(999, 999, 1000)),
        ("bytes=1000-", 1000, UNSATISFIABLE),
        ("bytes=1000-2000", 1000, UNSATISFIABLE),
        ("bytes=-0", 1000, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=-5", 0, None),
        ("bytes=0-1,3-4", 1000, None),
        ("bytes=2000-,3000-", 1000, None),
        ("garbage", 1000, None),
        (None, 1000, None),
    ],
)
def test_resolve_range(header: str | None, size: int, expected: Any) -> None:
    assert resolve_range(header, size) == expected


def test_byte_range_headers() -> None:
    selected = ByteRange(10, 19, 100)
    assert (selected.length, selected.content_range) == (10, "bytes 10-19/100")


@pytest.mark.parametrize(
    ("header", "normalized"),
    [
        ("bytes=0-9", "bytes=0-9"),
        (" BYTES= 10- ", "bytes=10-"),
        ("bytes=-7", "bytes=-7"),
        ("bytes=0-1,4-5", None),
        ("bytes=9-1", None),
        (None, None),
    ],
)
def test_normalize_range(header: str | None, normalized: str | None) -> None:
    assert normalize_range(header) == normalized


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784111777),
        ("Sun Nov  6 08:49:37 1994", 784111777),
        ("Sun, 06 Nov 1994 09:49:37 +0100", 784111777),
        ("yesterday", None),
        ("Feb 99999999999 99999999999 00:00 08:49:37 GMT", None),  # was an OverflowError
        ("", None),
        (None, None),
    ],
)
def test_parse_http_date(value: str | None, seconds: int | None) -> None:
    assert parse_http_date(value) == seconds


def test_etag_is_quoted_and_changes_with_size_mtime_and_inode() -> None:
    assert INFO.etag.startswith('"') and INFO.etag.endswith('"')
    assert etags_in(INFO.etag) == [(False, INFO.etag.strip('"'))]
    variants = [replace(INFO, size=1001), replace(INFO, mtime_ns=INFO.mtime_ns + 1)]
    variants.append(replace(INFO, inode=43))
    assert len({INFO.etag, *(variant.etag for variant in variants)}) == 4
    assert INFO.last_modified == MTIME_DATE
    assert INFO.mtime_s == 1_700_000_000


def test_etags_in_lists() -> None:
    assert etags_in('W/"a", "b,c" , "d"') == [(True, "a"), (False, "b,c"), (False, "d")]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (Conditions(), False),
        (Conditions(if_none_match=INFO.etag), True),
        (Conditions(if_none_match=f"W/{INFO.etag}"), True),
        (Conditions(if_none_match=f'"x", {INFO.etag}'), True),
        (Conditions(if_none_match=" * "), True),
        (Conditions(if_none_match='"x"'), False),
        (Conditions(if_modified_since=MTIME_DATE), True),
        (Conditions(if_modified_since=formatdate(1_700_000_500, usegmt=True)), True),
        (Conditions(if_modified_since=formatdate(1_699_999_999, usegmt=True)), False),
        (Conditions(if_modified_since="not a date"), False),
        # If-None-Match present: If-Modified-Since is not looked at.
        (Conditions(if_none_match='"x"', if_modified_since=MTIME_DATE), False),
    ],
)
def test_not_modified(conditions: Conditions, expected: bool) -> None:
    assert not_modified(INFO, conditions) is expected


@pytest.mark.parametrize(
    ("if_range", "holds"),
    [
        (None, True),
        (INFO.etag, True),
        (f" {INFO.etag} ", True),
        (f"W/{INFO.etag}", False),  # If-Range needs a strong match
        ('"other"', False),
        (f"{INFO.etag}, {INFO.etag}", False),
        (MTIME_DATE, True),
        (formatdate(1_700_000_001, usegmt=True), False),
        ("not a date", False),
    ],
)
def test_if_range_holds(if_range: str | None, holds: bool) -> None:
    assert if_range_holds(INFO, if_range) is holds


def test_conditions_from_headers_are_case_insensitive() -> None:
    headers = CaseInsensitiveDict({"range": "bytes=1-2", "IF-RANGE": "x", "if-none-match": "*"})
    headers["If-Modified-Since"] = MTIME_DATE
    assert Conditions.from_headers(headers) == Conditions("bytes=1-2", "x", "*", MTIME_DATE)


def test_plan_whole_file() -> None:
    plan = plan_local_file(INFO, Conditions(), "video/mp4", 'inline; filename="a.mp4"')
    assert (plan.status, plan.offset, plan.length, plan.size, plan.has_body) == (
        200,
        0,
        1000,
        1000,
        True,
    )
    assert plan.headers == {
        "Accept-Ranges": "bytes",
        "Content-Type": "video/mp4",
        "ETag": INFO.etag,
        "Last-Modified": MTIME_DATE,
        "Content-Disposition": 'inline; filename="a.mp4"',
        "Content-Length": "1000",
    }


def test_plan_range() -> None:
    plan = plan_local_file(INFO, Conditions(range="bytes=100-199", if_range=INFO.etag))
    assert (plan.status, plan.offset, plan.length) == (206, 100, 100)
    assert plan.headers["Content-Range"] == "bytes 100-199/1000"
    assert plan.headers["Content-Length"] == "100"
    assert plan.headers["Content-Type"] == "application/octet-stream"
    assert "Content-Disposition" not in plan.headers


def test_plan_if_range_mismatch_sends_everything_even_for_a_bad_range() -> None:
    for header in ("bytes=100-199", "bytes=5000-"):
        plan = plan_local_file(INFO, Conditions(range=header, if_range='"old"'))
        assert (plan.status, plan.offset, plan.length) == (200, 0, 1000)


def test_plan_unsatisfiable() -> None:
    plan = plan_local_file(INFO, Conditions(range="bytes=1000-"))
    assert (plan.status, plan.has_body, plan.size) == (416, False, 1000)
    assert plan.headers == {"Accept-Ranges": "bytes", "Content-Range": "bytes */1000"}


def test_plan_not_modified_wins_over_range() -> None:
    plan = plan_local_file(INFO, Conditions(range="bytes=1000-", if_none_match=INFO.etag))
    assert (plan.status, plan.has_body) == (304, False)
    assert plan.headers == {
        "Accept-Ranges": "bytes",
        "ETag": INFO.etag,
        "Last-Modified": MTIME_DATE,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("clip.mp4", 'inline; filename="clip.mp4"'),
        ('a"b\\c.mp4', "inline; filename=\"a_b_c.mp4\"; filename*=UTF-8''a%22b%5Cc.mp4"),
        ("vídeo 1.mp4", "inline; filename=\"v_deo 1.mp4\"; filename*=UTF-8''v%C3%ADdeo%201.mp4"),
        ("a\r\nb.mp4", "inline; filename=\"a__b.mp4\"; filename*=UTF-8''a%0D%0Ab.mp4"),
    ],
)
def test_content_disposition(name: str, value: str) -> None:
    assert content_disposition(name) == value


def test_content_disposition_attachment() -> None:
    assert content_disposition("a.bin", "attachment") == 'attachment; filename="a.bin"'


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(300_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return path, data


def test_open_local_describes_the_open_file(data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    handle, info = open_local(path)
    with handle:
        assert info == FileInfo.from_stat(path.stat())
        assert handle.read() == data


def test_open_local_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (tmp_path / "missing", tmp_path, fifo):
        with pytest.raises(NotFound):
            open_local(path)


def test_range_file_starts_at_the_offset_and_stops_at_the_length(
    data_file: tuple[Path, bytes],
) -> None:
    path, data = data_file
    handle, _ = open_local(path)
    body = RangeFile(handle, 1000, 70_000)
    # The OS offset is where sendfile starts: the range's start, not byte 0.
    assert os.lseek(body.fileno(), 0, os.SEEK_CUR) == 1000
    assert body.mode == "rb"
    parts = [body.read(65_536), body.read(65_536), body.read(65_536)]
    assert [len(part) for part in parts] == [65_536, 70_000 - 65_536, 0]
    assert b"".join(parts) == data[1000:71_000]
    body.close()
    assert handle.closed


def test_range_file_read_all_and_chunks(data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    handle, _ = open_local(path)
    assert RangeFile(handle, 10, 20).read() == data[10:30]
    handle, _ = open_local(path)
    chunks = list(RangeFile(handle, 5, 250_000).chunks(100_000))
    assert [len(chunk) for chunk in chunks] == [100_000, 100_000, 50_000]
    assert b"".join(chunks) == data[5:250_005]
    assert handle.closed


def test_abandoned_chunks_close_the_file(data_file: tuple[Path, bytes]) -> None:
    path, _ = data_file
    handle, _ = open_local(path)
    chunks = RangeFile(handle, 0, 300_000).chunks(1000)
    next(chunks)
    chunks.close()
    assert handle.closed


def test_proxy_plan_passes_only_stream_headers() -> None:
    upstream = CaseInsensitiveDict(
        {
            "content-type": "video/mp4",
            "content-length": "100",
            "content-range": "bytes 0-99/5000",
            "etag": '"u"',
            "last-modified": MTIME_DATE,
            "set-cookie": "secret=1",
            "transfer-encoding": "chunked",
            "x-goog-hash": "md5=abc",
            "accept-ranges": "none",
        }
    )
    plan = proxy_plan(206, upstream)
    assert (plan.status, plan.has_body) == (206, True)
    assert plan.headers == {
        "Accept-Ranges": "bytes",
        "Content-Type": "video/mp4",
        "Content-Length": "100",
        "Content-Range": "bytes 0-99/5000",
        "ETag": '"u"',
        "Last-Modified": MTIME_DATE,
    }


def test_proxy_plan_200_drops_a_stray_content_range() -> None:
    plan = proxy_plan(200, {"Content-Length": "7", "Content-Range": "bytes 0-6/7"})
    assert plan.headers == {"Accept-Ranges": "bytes", "Content-Length": "7"}
    assert proxy_plan(203, {}).status == 200


@pytest.mark.parametrize(
    ("content_range", "size"), [("bytes */5000", 5000), (None, None), ("bytes 0-1/5", None)]
)
def test_proxy_plan_416(content_range: str | None, size: int | None) -> None:
    headers = {"Content-Type": "text/html", "Content-Length": "12"}
    if content_range:
        headers["Content-Range"] = content_range
    plan = proxy_plan(416, headers)
    assert (plan.status, plan.size, plan.has_body) == (416, size, False)
    expected = {"Accept-Ranges": "bytes"}
    if size is not None:
        expected["Content-Range"] = f"bytes */{size}"
    assert plan.headers == expected


@pytest.mark.parametrize("status", [304, 302, 404, 500])
def test_proxy_plan_refuses_other_statuses(status: int) -> None:
    with pytest.raises(TransientError):
        proxy_plan(status, {})


class Upstream(BaseHTTPRequestHandler):
    """/bytes: N bytes; /endless: claims 1 GiB and writes until the reader leaves;
    /drop: claims 1 MB and hangs up after 1000 bytes; /gzip: a gzip-encoded body."""

    payload = os.urandom(3 * 1024 * 1024)
    sent: dict[str, int] = {}
    finished = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/bytes":
            self._head(len(self.payload))
            self.wfile.write(self.payload)
        elif self.path == "/gzip":
            body = gzip.compress(b"hello " * 1000)
            self._head(len(body), {"Content-Encoding": "gzip"})
            self.wfile.write(body)
        elif self.path == "/drop":
            self._head(1_000_000)
            self.wfile.write(self.payload[:1000])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/endless":
            self._endless()

    def _head(self, length: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _endless(self) -> None:
        self._head(1024**3)
        sent = 0
        try:
            while sent < 1024**3:
                self.wfile.write(self.payload[:65_536])
                sent += 65_536
        except OSError:
            pass
        finally:
            Upstream.sent["endless"] = sent
            Upstream.finished.set()


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_iter_upstream_yields_the_exact_bytes_in_chunks_and_closes(upstream: str) -> None:
    response = requests.get(f"{upstream}/bytes", stream=True, timeout=10)
    chunks = list(iter_upstream(response, chunk_size=256 * 1024))
    assert b"".join(chunks) == Upstream.payload
    assert max(len(chunk) for chunk in chunks) <= 256 * 1024
    assert response.raw.closed


def test_iter_upstream_keeps_the_content_encoding(upstream: str) -> None:
    response = requests.get(f"{upstream}/gzip", stream=True, timeout=10)
    body = b"".join(iter_upstream(response))
    assert len(body) == int(response.headers["Content-Length"])
    assert gzip.decompress(body) == b"hello " * 1000


def test_closing_the_generator_stops_the_upstream_transfer(upstream: str) -> None:
    Upstream.finished.clear()
    response = requests.get(f"{upstream}/endless", stream=True, timeout=10)
    chunks = iter_upstream(response, chunk_size=65_536)
    for _ in range(10):
        next(chunks)
    chunks.close()  # what the WSGI server does when the client goes away
    assert response.raw.closed
    assert Upstream.finished.wait(10), "the upstream kept writing after the reader left"
    assert Upstream.sent["endless"] < 64 * 1024 * 1024


def test_an_upstream_that_drops_mid_body_is_a_transient_error(upstream: str) -> None:
    response = requests.get(f"{upstream}/drop", stream=True, timeout=10)
    with pytest.raises(TransientError):
        for _ in iter_upstream(response):
            pass
    assert response.raw.closed
