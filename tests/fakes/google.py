"""A fake Google on 127.0.0.1: the OAuth 2.0 token endpoint, Drive v3 and Classroom v1, over HTTP.

It speaks the documented wire formats (the refresh_token grant, files.list / files.get /
alt=media with Range, changes.getStartPageToken / changes.list, courses.list / courses.get,
courses.courseWork.list, courses.courseWorkMaterials.list, Google's JSON errors), keeps
everything in memory behind one lock, and injects faults on request: 429 with Retry-After,
500/503, 403 rate limits, slow answers and connections dropped mid-body.

    with FakeGoogle() as google:
        folder = google.add_folder("Lessons")
        video = google.add_file("intro.mp4", folder, size=5_000_000, seed=1, duration_ms=61_000)
        course = google.add_course("Physics", section="Period 2")
        google.add_coursework(course, "Week 1", [drive_file(video, "intro.mp4"),
                                                 youtube("dQw4w9WgXcQ", "Talk"),
                                                 link("https://example.com/notes", "Notes")])
        env = google.env()  # DRIVE_API_URL, GOOGLE_TOKEN_URL, CLASSROOM_API_URL
        creds = google.credentials()  # client_id, client_secret, refresh_token
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import functools
import hashlib
import hmac
import json
import random
import re
import secrets
import socket
import struct
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

FOLDER_MIME = "application/vnd.google-apps.folder"
DOC_MIME = "application/vnd.google-apps.document"
GOOGLE_APPS_PREFIX = "application/vnd.google-apps."
DRIVE_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
FAULT_KINDS = ("429", "500", "503", "403rate", "slow", "drop")
ALL_FAULT_KINDS = (*FAULT_KINDS, "401")
DOWNLOAD_ERRORS = {
    "downloadQuotaExceeded": "The download quota for this file has been exceeded.",
    "cannotDownloadAbusiveFile": (
        "This file has been identified as malware or spam and cannot be downloaded."
    ),
}
BLOCK = 1 << 20  # generated content is made of rotations of one random MiB
CHUNK = 64 * 1024  # alt=media is written in chunks of this size
Mask = dict[str, Any] | None  # a parsed `fields` selection; None selects everything
FILE_DEFAULT: dict[str, Any] = {"kind": None, "id": None, "name": None, "mimeType": None}
LIST_DEFAULT = {
    "kind": None,
    "nextPageToken": None,
    "incompleteSearch": None,
    "files": FILE_DEFAULT,
}
CHANGE_DEFAULT = {
    "kind": None, "changeType": None, "time": None, "removed": None, "fileId": None,
    "file": FILE_DEFAULT,
}  # fmt: skip
CHANGES_DEFAULT = {
    "kind": None, "nextPageToken": None, "newStartPageToken": None, "changes": CHANGE_DEFAULT,
}  # fmt: skip
STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    416: "OUT_OF_RANGE", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}  # fmt: skip
JSON_TYPE = "application/json; charset=UTF-8"


# ---------------------------------------------------------------- responses and errors


@dataclass
class _Request:
    method: str
    path: str
    target: str
    query: dict[str, str]
    headers: Message
    body: bytes
    fault: str | None = None


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None  # alt=media bodies, `length` bytes in all
    length: int | None = None
    file_id: str | None = None


class _Problem(Exception):
    """Raised by a handler to answer with `response` at once."""

    def __init__(self, response: _Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class RequestRecord:
    """One answered (or dropped) request, as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None  # None: the connection was dropped before any answer
    fault: str | None = None  # the injected fault, if any
    bytes_sent: int = 0  # body bytes actually written to the socket
    length: int | None = None  # body bytes the answer announced
    outcome: str = "ok"  # "ok", "client_gone" (the client hung up) or "dropped" (a fault)
    file_id: str | None = None  # for alt=media
    range: str | None = None  # the Range header, if any

    @property
    def media(self) -> bool:
        return self.query.get("alt") == "media"

    @property
    def cut_short(self) -> bool:
        return self.outcome != "ok"


class Held:
    """A request the fake keeps waiting until the test releases it (FakeGoogle.hold)."""

    def __init__(self, match: str) -> None:
        self.match = match
        self.arrived = threading.Event()
        self._go = threading.Event()

    @property
    def released(self) -> bool:
        return self._go.is_set()

    def release(self) -> None:
        self._go.set()

    def wait(self, timeout: float = 120.0) -> None:
        # Bounded: a test that forgot to release fails on its own, it does not hang the fake.
        self._go.wait(timeout)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    body = json.dumps(payload).encode()
    return _Response(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def _error(
    code: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    location: str | None = None,
    location_type: str = "parameter",
    headers: dict[str, str] | None = None,
) -> _Response:
    """Google's JSON error body (code, message, errors[domain, reason, ...], status)."""
    item = {"message": message, "domain": domain, "reason": reason}
    if location:
        item.update(location=location, locationType=location_type)
    error = {"code": code, "message": message, "errors": [item]}
    if code in STATUS_NAMES:
        error["status"] = STATUS_NAMES[code]
    return _json(code, {"error": error}, headers)


def _invalid(location: str, message: str = "Invalid Value") -> _Problem:
    return _Problem(_error(400, "invalid", message, location=location))


def _oauth_error(status: int, error: str, description: str) -> _Response:
    return _json(status, {"error": error, "error_description": description})


def _now() -> str:
    """RFC 3339 UTC with milliseconds and Z, as Drive writes times."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------- file contents


class _Blob:
    __slots__ = ("_md5", "_md5_lock", "size")
    size: int

    def __init__(self) -> None:
        self._md5: str | None = None
        self._md5_lock = threading.Lock()

    def read(self, start: int, end: int) -> bytes:
        raise NotImplementedError

    def chunks(self, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """Bytes [start, end) in pieces, made one at a time."""
        while start < end:
            stop = min(end, start + chunk)
            yield self.read(start, stop)
            start = stop

    def md5(self) -> str:
        """Hex MD5 of the whole content, computed once (about 1.4 s per GiB when generated)."""
        with self._md5_lock:
            if self._md5 is None:
                digest = hashlib.md5()  # Drive's md5Checksum
                for piece in self.chunks(0, self.size, BLOCK):
                    digest.update(piece)
                self._md5 = digest.hexdigest()
            return self._md5


class _BytesBlob(_Blob):
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data
        self.size = len(data)

    def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]


_BASE = random.Random(0x5EED).randbytes(BLOCK)  # shared by all generated content


class _SeededBlob(_Blob):
    """`size` pseudo-random bytes from `seed`, made on demand: no memory of its own.

    Block k (of 1 MiB) is one shared random MiB rotated by a hash of (seed, k), so files with
    other seeds differ, and a shifted or misplaced range does not compare equal to the right one.
    """

    __slots__ = ("seed",)

    def __init__(self, size: int, seed: int) -> None:
        super().__init__()
        self.size = size
        self.seed = seed

    def _rotation(self, block: int) -> int:
        key = f"{self.seed}:{block}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % BLOCK

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        parts: list[bytes] = []
        while start < end:
            block, offset = divmod(start, BLOCK)
            n = min(end - start, BLOCK - offset)
            index = (self._rotation(block) + offset) % BLOCK
            first = min(n, BLOCK - index)
            parts.append(_BASE[index : index + first])
            if first < n:
                parts.append(_BASE[: n - first])
            start += n
        return b"".join(parts)


def _paced(chunks: Iterator[bytes], bytes_per_s: float) -> Iterator[bytes]:
    started, sent = time.monotonic(), 0
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        ahead = started + sent / bytes_per_s - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def _make_blob(file_id: str, *, content: bytes | None, size: int | None, seed: int | None) -> _Blob:
    if content is not None:
        return _BytesBlob(bytes(content))
    if seed is None:
        seed = zlib.crc32(file_id.encode())
    return _SeededBlob(4096 if size is None else size, seed)


@functools.lru_cache(maxsize=256)
def _png(seed: int, width: int = 160, height: int = 90) -> bytes:
    """A valid RGB PNG (a gradient tinted by `seed`), built with zlib and struct."""
    red, green, blue = seed & 255, (seed >> 8) & 255, (seed >> 16) & 255
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes(((red + 2 * x) & 255, (green + 3 * y) & 255, blue))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- q, fields and Range


_Q_TOKEN = re.compile(r"\s*(?:('(?:[^'\\]|\\.)*')|(!=|=|[A-Za-z_]+))")
Clause = tuple[str, str, Any]  # (field, operator, value)


def _parse_q(q: str) -> list[Clause]:
    """The clauses of a Drive query joined by `and`; anything else is 400 invalid."""
    tokens: list[str] = []
    pos, q = 0, q.strip()
    while pos < len(q):
        match = _Q_TOKEN.match(q, pos)
        if not match:
            raise _invalid("q", "Invalid Value")
        tokens.append(match.group(1) or match.group(2))
        pos = match.end()
    clauses: list[Clause] = []
    index = 0
    while tokens:
        clause, index = _clause(tokens, index)
        clauses.append(clause)
        if index == len(tokens):
            break
        if tokens[index].lower() != "and":
            raise _invalid("q")
        index += 1
    return clauses


def _literal(token: str) -> str | None:
    if len(token) >= 2 and token[0] == token[-1] == "'":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return None


def _clause(tokens: list[str], i: int) -> tuple[Clause, int]:
    words = [*tokens[i : i + 3], "", "", ""][:3]
    subject, operator, value = words
    literal = _literal(value)
    if _literal(subject) is not None and operator == "in" and value == "parents":
        return ("parents", "in", _literal(subject)), i + 3
    if subject == "trashed" and operator in ("=", "!=") and value in ("true", "false"):
        return ("trashed", operator, value == "true"), i + 3
    if (
        subject in ("mimeType", "name")
        and operator in ("=", "!=", "contains")
        and (literal is not None)
    ):
        return (subject, operator, literal), i + 3
    raise _invalid("q")


def _matches(file: _File, clause: Clause) -> bool:
    subject, operator, value = clause
    if subject == "parents":
        return bool(value in file.parents)
    actual: object = {"trashed": file.trashed, "mimeType": file.mime_type, "name": file.name}[
        subject
    ]
    if operator == "contains":
        return str(value) in str(actual)
    return bool((actual == value) == (operator == "="))


_FIELD_NAME = re.compile(r"\*|[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*")


def _parse_fields(text: str | None, default: Mask) -> Mask:
    """Google's partial-response syntax: `a,b/c,d(e,f(g))`; `*` is everything."""
    if text is None:
        return default
    text = text.replace(" ", "")
    if text in ("", "*"):
        return None
    try:
        mask, pos = _fields_list(text, 0)
    except ValueError:
        pos = -1
    if pos != len(text):
        raise _Problem(
            _error(400, "invalidParameter", f"Invalid field selection {text}", location="fields")
        )
    return mask


def _fields_list(text: str, pos: int) -> tuple[dict[str, Any], int]:
    mask: dict[str, Any] = {}
    while True:
        match = _FIELD_NAME.match(text, pos)
        if not match:
            raise ValueError(pos)
        path, pos, sub = match.group().split("/"), match.end(), None
        if text.startswith("(", pos):
            sub, pos = _fields_list(text, pos + 1)
            if not text.startswith(")", pos):
                raise ValueError(pos)
            pos += 1
        _merge_field(mask, path, sub)
        if not text.startswith(",", pos):
            return mask, pos
        pos += 1


def _merge_field(mask: dict[str, Any], path: list[str], sub: Mask) -> None:
    """Add `a/b/c(sub)` to `mask`; a field selected whole (None) stays whole."""
    node = mask
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if child is None:
            return
        node = child
    leaf, old = path[-1], node.get(path[-1], {})
    if old is None or sub is None:
        node[leaf] = None
    else:
        node[leaf] = {**old, **sub}


def _select(value: Any, mask: Mask) -> Any:
    if mask is None or "*" in mask:
        return value
    if isinstance(value, list):
        return [_select(item, mask) for item in value]
    if isinstance(value, dict):
        return {key: _select(value[key], sub) for key, sub in mask.items() if key in value}
    return value


def _wants(mask: Mask, *path: str) -> bool:
    for key in path:
        if mask is None or "*" in mask:
            return True
        if key not in mask:
            return False
        mask = mask[key]
    return True


def _page_size(raw: str | None) -> int:
    if raw is None:
        return 100
    try:
        size = int(raw)
    except ValueError:
        raise _invalid("pageSize") from None
    if not 1 <= size <= 1000:
        raise _invalid("pageSize")
    return size


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of one byte range, None to send everything (no, multi or invalid Range)."""
    match = _RANGE.fullmatch((header or "").strip())
    if not match or not (match[1] or match[2]):
        return None
    unsatisfiable = _Problem(
        _error(
            416,
            "requestedRangeNotSatisfiable",
            "Request range not satisfiable",
            headers={"Content-Range": f"bytes */{size}"},
        )
    )
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise unsatisfiable
        return max(0, size - suffix), size
    start = int(match[1])
    end = int(match[2]) + 1 if match[2] else size
    if match[2] and end <= start:
        return None  # last-byte-pos < first-byte-pos: an invalid Range, ignored
    if start >= size:
        raise unsatisfiable
    return start, min(end, size)


# ---------------------------------------------------------------- the Drive model


@dataclass(slots=True)
class _File:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    seq: int
    created: str
    modified: str
    blob: _Blob | None = None
    trashed: bool = False
    explicitly_trashed: bool = False
    video: dict[str, Any] | None = None
    thumbnail: bool = True
    download_error: str | None = None


# ---------------------------------------------------------------- the Classroom model

COURSE_STATES = ("ACTIVE", "ARCHIVED", "PROVISIONED", "DECLINED", "SUSPENDED")
# What courses.list answers when no courseStates are given (SUSPENDED is left out).
DEFAULT_COURSE_STATES = ("ACTIVE", "ARCHIVED", "PROVISIONED", "DECLINED")
POST_STATES = ("PUBLISHED", "DRAFT", "DELETED")
POST_KINDS = {"courseWork": "courseWorkStates", "courseWorkMaterial": "courseWorkMaterialStates"}
ORDERS = {"updatetime": True, "updatetime desc": True, "updatetime asc": False}  # -> descending


def drive_file(
    file_id: str, title: str, *, share_mode: str = "VIEW", thumbnail_url: str | None = None
) -> dict[str, Any]:
    """A Material holding a Drive file (SharedDriveFile), as Classroom answers it."""
    file = {
        "id": file_id,
        "title": title,
        "alternateLink": f"https://drive.google.com/open?id={file_id}",
        "thumbnailUrl": thumbnail_url or f"https://drive.google.com/thumbnail?id={file_id}&sz=s200",
    }
    return {"driveFile": {"driveFile": file, "shareMode": share_mode}}


def youtube(video_id: str, title: str, *, thumbnail_url: str | None = None) -> dict[str, Any]:
    """A Material holding a YouTube video."""
    video = {
        "id": video_id,
        "title": title,
        "alternateLink": f"https://www.youtube.com/watch?v={video_id}",
        "thumbnailUrl": thumbnail_url or f"https://i.ytimg.com/vi/{video_id}/default.jpg",
    }
    return {"youtubeVideo": video}


def link(url: str, title: str | None = None, *, thumbnail_url: str | None = None) -> dict[str, Any]:
    """A Material holding a link (Classroom fills title and thumbnail in when it can)."""
    body = {"url": url, "title": title, "thumbnailUrl": thumbnail_url}
    return {"link": {key: value for key, value in body.items() if value is not None}}


def form(form_url: str, title: str) -> dict[str, Any]:
    """A Material holding a Google Form."""
    return {"form": {"formUrl": form_url, "title": title, "thumbnailUrl": f"{form_url}/thumb"}}


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _status_error(code: int, message: str) -> _Problem:
    """Classroom's error body: code, message and status, without an errors[] list."""
    error = {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}
    return _Problem(_json(code, {"error": error}))


@dataclass(slots=True)
class _Course:
    id: str
    name: str
    section: str | None
    state: str
    seq: int
    created: str
    updated: str
    members: frozenset[str] | None = None  # the accounts that see it; None: every account


@dataclass(slots=True)
class _Post:
    """A courseWork or a courseWorkMaterial; `version` orders by updateTime."""

    id: str
    course_id: str
    kind: str  # "courseWork" or "courseWorkMaterial"
    title: str
    materials: list[dict[str, Any]]
    state: str
    version: int
    created: str
    updated: str
    topic_id: str | None = None


class _ClassroomFake:
    """Classroom v1 (courses, courseWork, courseWorkMaterials), mixed into FakeGoogle, whose
    lock, page-token signing and Bearer check it shares. Listings page by keyset, so paging is
    complete while things change; `classroom_page_cap` is the most a page holds (the real
    server "may return fewer"), lowered by tests to force paging. orderBy accepts only
    `updateTime [asc|desc]` (the real courseWork.list also knows dueDate)."""

    _lock: threading.RLock
    _page_token: Callable[[int, str], str]  # FakeGoogle's signed tokens, shared with files.list
    _read_page_token: Callable[[str, str], int]
    _account_of: Callable[[_Request], str | None]  # whose access token (_ConsentFake)

    def _init_classroom(self) -> None:
        self._courses: dict[str, _Course] = {}
        self._posts: dict[str, _Post] = {}
        self._classroom_seq = 0
        self._refused: set[str] = set()
        self._topics: dict[str, list[dict[str, str]]] = {}  # course id -> topics, listed order
        self.classroom_page_cap = 100

    # ------------------------------------------------------------ building the Classroom

    def add_course(
        self,
        name: str,
        section: str | None = None,
        state: str = "ACTIVE",
        *,
        members: tuple[str, ...] | None = None,
    ) -> str:
        """A course (newest first in courses.list); returns its numeric id. With `members`,
        only those accounts (by email) see it in courses.list."""
        if state not in COURSE_STATES:
            raise ValueError(f"unknown course state {state!r}")
        with self._lock:
            seq = self._next_seq()
            course_id = str(600_000_000_000 + seq)
            now = _now()
            self._courses[course_id] = _Course(
                course_id, name, section, state, seq, now, now,
                frozenset(members) if members is not None else None,
            )  # fmt: skip
            return course_id

    def set_course_state(self, course_id: str, state: str) -> None:
        if state not in COURSE_STATES:
            raise ValueError(f"unknown course state {state!r}")
        with self._lock:
            course = self._course(course_id)
            course.state, course.updated = state, _now()

    def remove_course(self, course_id: str) -> None:
        """Delete a course and everything posted in it."""
        with self._lock:
            del self._courses[self._course(course_id).id]
            for post_id in [p.id for p in self._posts.values() if p.course_id == course_id]:
                del self._posts[post_id]

    def add_topic(self, course_id: str, name: str) -> str:
        """A topic of a course, listed by courses.topics.list after the ones added before it
        (the order the Classwork page shows them in); returns its topicId."""
        with self._lock:
            self._course(course_id)
            topic_id = str(800_000_000_000 + self._next_seq())
            topic = {"courseId": course_id, "topicId": topic_id, "name": name,
                     "updateTime": _now()}  # fmt: skip
            self._topics.setdefault(course_id, []).append(topic)
            return topic_id

    def rename_topic(self, course_id: str, topic_id: str, name: str) -> None:
        """A teacher renaming a topic."""
        with self._lock:
            topic = next(t for t in self._topics[course_id] if t["topicId"] == topic_id)
            topic["name"], topic["updateTime"] = name, _now()

    def move_topic(self, course_id: str, topic_id: str, index: int) -> None:
        """Move a topic to `index` in the course's listed order (a teacher dragging it)."""
        with self._lock:
            topics = self._topics[course_id]
            topic = next(t for t in topics if t["topicId"] == topic_id)
            topics.remove(topic)
            topics.insert(index, topic)

    def add_coursework(
        self,
        course_id: str,
        title: str,
        materials: list[dict[str, Any]],
        *,
        state: str = "PUBLISHED",
        topic_id: str | None = None,
    ) -> str:
        """A courseWork (an assignment) with `materials` (see drive_file, youtube, link)."""
        return self._add_post(course_id, "courseWork", title, materials, state, topic_id)

    def add_course_material(
        self,
        course_id: str,
        title: str,
        materials: list[dict[str, Any]],
        *,
        state: str = "PUBLISHED",
        topic_id: str | None = None,
    ) -> str:
        """A courseWorkMaterial (a post of material only), under `topic_id` if given."""
        return self._add_post(course_id, "courseWorkMaterial", title, materials, state, topic_id)

    def update_coursework(
        self,
        course_id: str,
        post_id: str,
        *,
        title: str | None = None,
        materials: list[dict[str, Any]] | None = None,
        state: str | None = None,
    ) -> None:
        """Change a courseWork or courseWorkMaterial; it moves to the newest updateTime."""
        if state is not None and state not in POST_STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._lock:
            post = self._post(course_id, post_id)
            if title is not None:
                post.title = title
            if materials is not None:
                post.materials = json.loads(json.dumps(materials))
            if state is not None:
                post.state = state
            post.version, post.updated = self._next_seq(), _now()

    def delete_coursework(self, course_id: str, post_id: str) -> None:
        """Delete a courseWork or courseWorkMaterial (it is DELETED, listed only on request)."""
        self.update_coursework(course_id, post_id, state="DELETED")

    def refuse_course(self, course_id: str, refused: bool = True) -> None:
        """The course's posts answer 403 PERMISSION_DENIED (it is still listed)."""
        with self._lock:
            (self._refused.add if refused else self._refused.discard)(course_id)

    def clear_classroom(self) -> None:
        """No courses at all, nothing refused, and the default page cap."""
        with self._lock:
            self._courses.clear()
            self._posts.clear()
            self._refused.clear()
            self._topics.clear()
            self.classroom_page_cap = 100

    def _next_seq(self) -> int:
        self._classroom_seq += 1
        return self._classroom_seq

    def _course(self, course_id: str) -> _Course:
        course = self._courses.get(course_id)
        if course is None:
            raise KeyError(f"no course {course_id!r} in the fake Classroom")
        return course

    def _post(self, course_id: str, post_id: str) -> _Post:
        post = self._posts.get(post_id)
        if post is None or post.course_id != course_id:
            raise KeyError(f"no post {post_id!r} in course {course_id!r}")
        return post

    def _add_post(
        self,
        course_id: str,
        kind: str,
        title: str,
        materials: list[dict[str, Any]],
        state: str,
        topic_id: str | None = None,
    ) -> str:
        if state not in POST_STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._lock:
            self._course(course_id)
            seq = self._next_seq()
            post_id = str(700_000_000_000 + seq)
            copied = json.loads(json.dumps(materials))
            now = _now()
            self._posts[post_id] = _Post(
                post_id, course_id, kind, title, copied, state, seq, now, now, topic_id
            )
            return post_id

    # ------------------------------------------------------------ Classroom v1 handlers

    def _courses_list(self, request: _Request) -> _Response:
        states = _multi(request, "courseStates") or list(DEFAULT_COURSE_STATES)
        if set(states) - set(COURSE_STATES):
            raise _status_error(400, "Invalid value for courseStates.")
        key = "courses|" + ",".join(sorted(set(states)))
        with self._lock:
            size = self._classroom_page_size(request)
            after = self._classroom_token(request, key)
            who = self._account_of(request)
            entries = [
                (c.seq, c) for c in self._courses.values()
                if c.state in states and (c.members is None or who in c.members)
            ]  # fmt: skip
            courses, last = _keyset(entries, after, size, descending=True)
            body: dict[str, Any] = {"courses": [self._course_resource(c) for c in courses]}
            if last is not None:
                body["nextPageToken"] = self._page_token(last, key)
        return _json(200, body if courses else {})

    def _course_get(self, request: _Request, course_id: str) -> _Response:
        who = self._account_of(request)
        with self._lock:
            course = self._courses.get(course_id)
            if course is None or (course.members is not None and who not in course.members):
                raise _status_error(404, "Requested entity was not found.")
            return _json(200, self._course_resource(course))

    def _topics_list(self, request: _Request, course_id: str) -> _Response:
        """courses.topics.list: `{"topic": [...], "nextPageToken"}`, paged by position."""
        key = f"topics|{course_id}"
        with self._lock:
            if course_id not in self._courses:
                raise _status_error(404, "Requested entity was not found.")
            if course_id in self._refused:
                raise _status_error(403, "The caller does not have permission")
            size = self._classroom_page_size(request)
            after = self._classroom_token(request, key)
            listed = list(enumerate(self._topics.get(course_id, [])))
            topics, last = _keyset(listed, after, size, descending=False)
            body: dict[str, Any] = {"topic": [dict(t) for t in topics]}
            if last is not None:
                body["nextPageToken"] = self._page_token(last, key)
        return _json(200, body if topics else {})

    def _coursework_list(self, request: _Request, course_id: str) -> _Response:
        return self._posts_list(request, course_id, "courseWork")

    def _course_materials_list(self, request: _Request, course_id: str) -> _Response:
        return self._posts_list(request, course_id, "courseWorkMaterial")

    def _posts_list(self, request: _Request, course_id: str, kind: str) -> _Response:
        states = _multi(request, POST_KINDS[kind]) or ["PUBLISHED"]
        if set(states) - set(POST_STATES):
            raise _status_error(400, f"Invalid value for {POST_KINDS[kind]}.")
        order = " ".join((request.query.get("orderBy") or "updateTime desc").lower().split())
        if order not in ORDERS:
            raise _status_error(400, "Invalid value for orderBy.")
        key = f"{kind}|{course_id}|{','.join(sorted(set(states)))}|{order}"
        with self._lock:
            if course_id not in self._courses:
                raise _status_error(404, "Requested entity was not found.")
            if course_id in self._refused:
                raise _status_error(403, "The caller does not have permission")
            size = self._classroom_page_size(request)
            after = self._classroom_token(request, key)
            entries = [
                (p.version, p)
                for p in self._posts.values()
                if p.course_id == course_id and p.kind == kind and p.state in states
            ]
            posts, last = _keyset(entries, after, size, descending=ORDERS[order])
            body: dict[str, Any] = {kind: [self._post_resource(p) for p in posts]}
            if last is not None:
                body["nextPageToken"] = self._page_token(last, key)
        return _json(200, body if posts else {})

    def _classroom_page_size(self, request: _Request) -> int:
        try:
            size = int(request.query.get("pageSize") or 0)
        except ValueError:
            raise _status_error(400, "Invalid value for pageSize.") from None
        if size < 0:
            raise _status_error(400, "pageSize must not be negative.")
        return min(size or self.classroom_page_cap, self.classroom_page_cap)

    def _classroom_token(self, request: _Request, key: str) -> int | None:
        token = request.query.get("pageToken")
        if not token:
            return None
        try:
            return self._read_page_token(token, key)
        except _Problem:
            raise _status_error(400, "Invalid page token.") from None

    @staticmethod
    def _course_resource(course: _Course) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": course.id,
            "name": course.name,
            "ownerId": "100000000000000000001",
            "creationTime": course.created,
            "updateTime": course.updated,
            "enrollmentCode": _b64(course.id)[:7].lower(),
            "courseState": course.state,
            "alternateLink": f"https://classroom.google.com/c/{_b64(course.id)}",
            "guardiansEnabled": False,
        }
        if course.section:
            body["section"] = course.section
        return body

    @staticmethod
    def _post_resource(post: _Post) -> dict[str, Any]:
        course = _b64(post.course_id)
        body: dict[str, Any] = {
            "courseId": post.course_id,
            "id": post.id,
            "title": post.title,
            "state": post.state,
            "creationTime": post.created,
            "updateTime": post.updated,
            "assigneeMode": "ALL_STUDENTS",
            "creatorUserId": "100000000000000000001",
        }
        page = "a" if post.kind == "courseWork" else "m"  # assignment or material
        body["alternateLink"] = (
            f"https://classroom.google.com/c/{course}/{page}/{_b64(post.id)}/details"
        )
        if post.kind == "courseWork":
            body.update(workType="ASSIGNMENT", maxPoints=100)
            body["submissionModificationMode"] = "MODIFIABLE_UNTIL_TURNED_IN"
        if post.topic_id:
            body["topicId"] = post.topic_id
        if post.materials:  # proto3 JSON leaves empty lists out
            body["materials"] = json.loads(json.dumps(post.materials))
        return body


def _multi(request: _Request, name: str) -> list[str]:
    """A repeated query parameter (`a=1&a=2`), which request.query keeps only the last of."""
    return parse_qs(urlsplit(request.target).query).get(name, [])


def _keyset(
    entries: list[tuple[int, Any]], after: int | None, size: int, *, descending: bool
) -> tuple[list[Any], int | None]:
    """Up to `size` entries past `after` in key order, and the last key if more follow."""
    ordered = sorted(entries, key=lambda entry: entry[0], reverse=descending)
    if after is not None:
        ordered = [e for e in ordered if (e[0] < after if descending else e[0] > after)]
    page = ordered[:size]
    last = page[-1][0] if len(ordered) > size else None
    return [entry[1] for entry in page], last


class _ConsentFake:
    """Google's authorization endpoint as a consenting user meets it (PKCE S256 checked), the
    authorization_code grant, userinfo and revoke. The tests follow the authorization URL to
    /auth, which redirects to the callback with a code; `deny_consent` answers access_denied."""

    client_id: str
    _lock: threading.RLock
    issue_token: Callable[[], str]

    def _init_consent(self) -> None:
        self.account_email = "student@example.com"  # who "signs in" at /auth
        self.deny_consent = False
        self.granted_scopes: list[str] | None = None  # None: every scope asked for
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh_emails: dict[str, str] = {}  # refresh tokens issued by the code grant
        self._refresh_scopes: dict[str, str] = {}  # what a refresh token was granted, if known
        self._access_emails: dict[str, str] = {}
        self.revoked_tokens: list[str] = []
        self._service_accounts: dict[str, tuple[Any, set[str]]] = {}
        self.legacy_email = "owner@example.com"  # whose the FakeGoogle(refresh_token=...) is
        self._other_clients: dict[str, str] = {}  # more OAuth clients Google knows: id -> secret

    def accept_refresh_token(
        self,
        token: str,
        email: str,
        client: tuple[str, str] | None = None,
        scopes: Sequence[str] | None = None,
    ) -> None:
        """Google knows `token` as a refresh token of `email` (issued to `client`, an id and
        secret, or this fake's own client), granted `scopes` (else this fake's `scope`): what a
        person got from another tool."""
        with self._lock:
            self._refresh_emails[token] = email
            if scopes is not None:
                self._refresh_scopes[token] = " ".join(scopes)
            if client is not None:
                self._other_clients[client[0]] = client[1]

    def _account_of(self, request: _Request) -> str | None:
        _, _, token = (request.headers.get("Authorization") or "").partition(" ")
        with self._lock:
            return self._access_emails.get(token.strip())

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/auth"  # type: ignore[attr-defined]

    def consent_env(self) -> dict[str, str]:
        """The settings for the authorization endpoints of this fake."""
        base = self.base_url  # type: ignore[attr-defined]
        return {
            "GOOGLE_AUTH_URL": f"{base}/auth",
            "GOOGLE_USERINFO_URL": f"{base}/userinfo",
            "GOOGLE_REVOKE_URL": f"{base}/revoke",
        }

    def client_file(self, kind: str = "installed") -> dict[str, Any]:
        """The client JSON Google's console downloads for this fake's client."""
        secret = self.client_secret  # type: ignore[attr-defined]
        return {kind: {
            "client_id": self.client_id, "project_id": "aula-fake", "client_secret": secret,
            "auth_uri": self.auth_url, "token_uri": f"{self.base_url}/token",  # type: ignore[attr-defined]
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "redirect_uris": ["http://localhost"],
        }}  # fmt: skip

    def kill_refresh_tokens(self, email: str | None = None) -> None:
        """Refresh tokens issued by the code grant (for `email`, or all) die: invalid_grant."""
        with self._lock:
            for token, owner in list(self._refresh_emails.items()):
                if email is None or owner == email:
                    del self._refresh_emails[token]

    def live_refresh_tokens(self) -> list[str]:
        with self._lock:
            return list(self._refresh_emails)

    def add_service_account(self, key: dict[str, Any], subjects: tuple[str, ...] = ()) -> None:
        """Accept JWTs `key` signs; `subjects` are the users domain-wide delegation allows."""
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
        with self._lock:
            self._service_accounts[key["client_email"]] = (private.public_key(), set(subjects))

    def _jwt_grant(self, form: dict[str, str]) -> _Response:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        parts = form.get("assertion", "").split(".")
        if len(parts) != 3:
            return _oauth_error(400, "invalid_request", "Invalid JWT.")
        try:
            header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
                              for p in parts[:2])  # fmt: skip
            signature = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except ValueError:
            return _oauth_error(400, "invalid_request", "Invalid JWT.")
        with self._lock:
            known = self._service_accounts.get(claims.get("iss", ""))
        if header.get("alg") != "RS256" or known is None:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        public_key, subjects = known
        try:
            signed = f"{parts[0]}.{parts[1]}".encode()
            public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE or claims.get("exp", 0) < time.time():
            return _oauth_error(
                400, "invalid_grant", "Invalid JWT: Token must be a short-lived token."
            )
        if "sub" in claims and claims["sub"] not in subjects:
            return _oauth_error(401, "unauthorized_client", "Client is unauthorized to retrieve "
                                "access tokens using this method, or client not authorized for any "
                                "of the scopes requested.")  # fmt: skip
        body = {"access_token": self.issue_token(), "expires_in": 3599, "token_type": "Bearer"}
        return _json(200, body)

    def _authorize_endpoint(self, request: _Request) -> _Response:
        q = request.query
        for name in ("response_type", "client_id", "redirect_uri", "scope", "state",
                     "code_challenge", "code_challenge_method"):  # fmt: skip
            if not q.get(name):
                return _json(400, {"error": "invalid_request", "error_description": name})
        if q["client_id"] != self.client_id:
            return _json(401, {"error": "invalid_client", "error_description": "not found"})
        if q["response_type"] != "code" or q["code_challenge_method"] != "S256":
            return _json(400, {"error": "invalid_request", "error_description": "unsupported"})
        if self.deny_consent:
            return self._back(q["redirect_uri"], {"error": "access_denied", "state": q["state"]})
        asked = q["scope"].split()
        granted = asked if self.granted_scopes is None else self.granted_scopes
        code = "4/0Fake" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"],
                "scopes": granted, "email": self.account_email,
            }  # fmt: skip
        return self._back(
            q["redirect_uri"], {"state": q["state"], "code": code, "scope": " ".join(granted)}
        )

    @staticmethod
    def _back(redirect_uri: str, params: dict[str, str]) -> _Response:
        from urllib.parse import urlencode

        return _Response(302, b"", {"Location": f"{redirect_uri}?{urlencode(params)}"})

    def _code_grant(self, form: dict[str, str]) -> _Response:
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        refresh = "1//fake-rt-" + secrets.token_urlsafe(24)
        access = self.issue_token()
        with self._lock:
            self._refresh_emails[refresh] = grant["email"]
            self._refresh_scopes[refresh] = " ".join(grant["scopes"])
            self._access_emails[access] = grant["email"]
        body = {
            "access_token": access, "refresh_token": refresh, "expires_in": 3599,
            "scope": " ".join(grant["scopes"]), "token_type": "Bearer",
        }  # fmt: skip
        return _json(200, body)

    def _userinfo(self, request: _Request) -> _Response:
        _, _, token = (request.headers.get("Authorization") or "").partition(" ")
        with self._lock:
            email = self._access_emails.get(token.strip())
        if email is None:
            return _json(401, {"error": "invalid_token"})
        return _json(200, {"sub": hashlib.sha256(email.encode()).hexdigest()[:21], "email": email,
                           "email_verified": True})  # fmt: skip

    def _revoke(self, request: _Request) -> _Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        token = form.get("token", "")
        with self._lock:
            known = self._refresh_emails.pop(token, None) or self._access_emails.pop(token, None)
            if known is not None:
                self.revoked_tokens.append(token)
        if known is None:
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        return _json(200, {})


class FakeGoogle(_ConsentFake, _ClassroomFake):
    """A threaded HTTP server faking Google's OAuth token endpoint, Drive v3 and Classroom v1."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client-id.apps.googleusercontent.com",
        client_secret: str = "fake-client-secret",
        refresh_token: str = "1//fake-refresh-token",
        token_lifetime_s: float = 3600.0,
        scope: str = DRIVE_SCOPE,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_lifetime_s = token_lifetime_s
        self.scope = scope
        self.thumbnails_require_auth = False
        self.expired_change_token_status = 400  # what a token older than expire_change_tokens gets
        # alt=media speed limit in bytes/s; None serves as fast as the socket takes it
        self.media_bytes_per_s: float | None = None
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._log: list[RequestRecord] = []
        self._tokens: dict[str, float] = {}
        self._token_requests = 0
        self._revoked = False
        self._page_secret = secrets.token_bytes(16)
        self._seq = 0
        self._files: dict[str, _File] = {}
        self._by_seq: dict[int, _File] = {}
        self._index: dict[str, list[int]] = {"": []}  # parent id ("" = all) -> sorted seqs
        self._changes: list[tuple[str, str]] = []  # change n is _changes[n - 1]: (file id, time)
        self._oldest_change = 1
        self._forced: list[tuple[str, str | None]] = []
        self._holds: list[Held] = []
        self._fault_rate, self._fault_token = 0.0, False
        self._fault_kinds: tuple[str, ...] = FAULT_KINDS
        self._rng = random.Random(0)
        self.retry_after, self.slow_s = 1, 0.5
        self.server_errors: list[str] = []  # tracebacks of bugs in the fake (answered 500)
        self.root_id = "0AFakeRootFolderUk9PVA"
        root = _File(self.root_id, "My Drive", FOLDER_MIME, [], 0, _now(), _now(), thumbnail=False)
        self._files[self.root_id] = root
        self._init_classroom()
        self._init_consent()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeGoogle:
        if self._server is None:
            self._server = _Server(self._address, _Handler)
            self._server.fake = self
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-google",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeGoogle is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def env(self) -> dict[str, str]:
        """The settings that point Aula at this fake."""
        return {
            "DRIVE_API_URL": self.base_url,
            "CLASSROOM_API_URL": self.base_url,
            "GOOGLE_TOKEN_URL": self.token_url,
            **self.consent_env(),
        }

    def credentials(self) -> dict[str, str]:
        """The body for PUT /api/credentials/google."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    # ------------------------------------------------------------ OAuth

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    @property
    def issued_tokens(self) -> list[str]:
        """The access tokens issued and still accepted (expire_all_tokens forgets them)."""
        with self._lock:
            return list(self._tokens)

    def issue_token(self) -> str:
        """A valid access token without an HTTP round trip (not counted in token_requests)."""
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime_s
        return token

    def expire_all_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401)."""
        with self._lock:
            self._tokens.clear()

    def restore_refresh_token(self) -> None:
        """Accept the refresh token again (undoes revoke_refresh_token)."""
        with self._lock:
            self._revoked = False

    def revoke_refresh_token(self) -> None:
        """The refresh token is refused from now on (400 invalid_grant)."""
        with self._lock:
            self._revoked = True

    # ------------------------------------------------------------ building the Drive

    def add_folder(self, name: str, parent: str = "root", *, file_id: str | None = None) -> str:
        return self._add(name, parent, FOLDER_MIME, None, file_id, thumbnail=False)

    def add_doc(self, name: str, parent: str = "root", *, mime_type: str = DOC_MIME) -> str:
        """A Google Docs editors file: no size, no bytes, not downloadable."""
        return self._add(name, parent, mime_type, None, None)

    def add_file(
        self,
        name: str,
        parent: str = "root",
        mime_type: str = "video/mp4",
        content: bytes | None = None,
        *,
        size: int | None = None,
        seed: int | None = None,
        duration_ms: int | None = None,
        width: int = 1280,
        height: int = 720,
        thumbnail: bool = True,
        file_id: str | None = None,
    ) -> str:
        """A file with `content`, or `size` generated bytes (4 KiB if neither); returns its id.

        Generated content costs no memory whatever `size` (2 GiB is fine); `seed` picks it
        (default: derived from the id). Videos with `duration_ms` get videoMediaMetadata.
        """
        video = None
        if duration_ms is not None:
            video = {"durationMillis": str(duration_ms), "width": width, "height": height}
        blob = None
        if not mime_type.startswith(GOOGLE_APPS_PREFIX):
            blob = functools.partial(_make_blob, content=content, size=size, seed=seed)
        return self._add(name, parent, mime_type, video, file_id, thumbnail=thumbnail, blob=blob)

    def set_content(
        self,
        file_id: str,
        content: bytes | None = None,
        *,
        size: int | None = None,
        seed: int | None = None,
    ) -> None:
        """Replace a file's bytes (size and md5Checksum follow), as a change."""
        with self._lock:
            file = self._file(file_id)
            file.blob = _make_blob(file.id, content=content, size=size, seed=seed)
            self._touch(file)

    def rename(self, file_id: str, new_name: str) -> None:
        with self._lock:
            file = self._file(file_id)
            file.name = new_name
            self._touch(file)

    def move(self, file_id: str, new_parent: str) -> None:
        with self._lock:
            file, parent = self._file(file_id), self._folder(new_parent)
            for old in file.parents:
                self._index[old].remove(file.seq)
            file.parents = [parent]
            bisect.insort(self._index.setdefault(parent, []), file.seq)
            self._touch(file)

    def trash(self, file_id: str) -> None:
        """Trash a file, or a folder and everything in it (one change per file)."""
        self._set_trashed(file_id, True)

    def untrash(self, file_id: str) -> None:
        self._set_trashed(file_id, False)

    def delete(self, file_id: str) -> None:
        """Delete for good, a folder with everything in it (removed changes)."""
        with self._lock:
            for file in reversed(self._subtree(file_id)):
                del self._files[file.id], self._by_seq[file.seq]
                self._index[""].remove(file.seq)
                for parent in file.parents:
                    self._index[parent].remove(file.seq)
                self._index.pop(file.id, None)
                self._log_change(file.id)

    def set_download_error(self, file_id: str, reason: str | None) -> None:
        """alt=media for this file answers 403 `reason` (downloadQuotaExceeded or
        cannotDownloadAbusiveFile; the latter yields to acknowledgeAbuse=true); None clears."""
        if reason is not None and reason not in DOWNLOAD_ERRORS:
            raise ValueError(f"unknown download error {reason!r}")
        with self._lock:
            self._file(file_id).download_error = reason

    def content_of(self, file_id: str, start: int = 0, end: int | None = None) -> bytes:
        """The file's bytes [start, end) (end exclusive, Python slice style; None = to the end)."""
        with self._lock:
            blob = self._file(file_id).blob
        if blob is None:
            raise ValueError(f"{file_id} has no content")
        return blob.read(start, blob.size if end is None else min(end, blob.size))

    def file(self, file_id: str) -> dict[str, Any]:
        """The file's full Drive resource (as fields=* returns it)."""
        with self._lock:
            file = self._file(file_id)
            body = self._resource(file)
        return self._add_md5(body, file)

    def children(self, folder_id: str = "root", *, include_trashed: bool = False) -> list[str]:
        with self._lock:
            seqs = self._index.get(self._resolve(folder_id), [])
            files = [self._by_seq[seq] for seq in seqs]
        return [file.id for file in files if include_trashed or not file.trashed]

    def start_page_token(self) -> str:
        with self._lock:
            return str(len(self._changes) + 1)

    def expire_change_tokens(self) -> None:
        """Every changes page token handed out so far is refused from now on."""
        with self._lock:
            self._oldest_change = len(self._changes) + 1

    def expire_page_tokens(self) -> None:
        """Every files.list nextPageToken handed out so far is refused from now on (400)."""
        with self._lock:
            self._page_secret = secrets.token_bytes(16)

    # ------------------------------------------------------------ faults and observation

    def faults(
        self,
        rate: float = 0.2,
        kinds: tuple[str, ...] = FAULT_KINDS,
        seed: int | None = None,
        *,
        retry_after: int = 1,
        slow_s: float = 0.5,
        include_token: bool = False,
    ) -> None:
        """From now on a `rate` share of Drive requests (and /token if include_token) fail
        with a kind drawn from `kinds`: 429 (with Retry-After), 500, 503, 403rate, slow, drop,
        401."""
        unknown = set(kinds) - set(ALL_FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        with self._lock:
            self._fault_rate, self._fault_kinds = rate, tuple(kinds)
            self._rng = random.Random(seed)
            self.retry_after, self.slow_s, self._fault_token = retry_after, slow_s, include_token

    def fail_next(self, n: int, kind: str, *, match: str | None = None) -> None:
        """The next `n` Drive requests (or, with `match`, requests whose path?query contains
        it, /token included) fail with `kind`, ahead of any random faults."""
        if kind not in ALL_FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._forced.extend([(kind, match)] * n)

    def hold(self, match: str) -> Held:
        """Requests whose path?query contains `match` wait (`Held.arrived` is set by the first)
        until the test calls `Held.release()`: a task caught mid-run. A client that times out
        and asks again waits too, so the task stays caught however long the test takes."""
        held = Held(match)
        with self._lock:
            self._holds.append(held)
        return held

    def _take_hold(self, request: _Request) -> Held | None:
        with self._lock:
            for held in self._holds:
                if held.match in request.target and not held.released:
                    return held
        return None

    def clear_faults(self) -> None:
        for held in self._holds:
            held.release()  # a test that ended must not leave a request waiting
        with self._lock:
            self._holds = []
            self._fault_rate, self._fault_kinds, self._fault_token = 0.0, FAULT_KINDS, False
            self._rng = random.Random(0)
            self._forced = []
            self.retry_after, self.slow_s = 1, 0.5

    @property
    def requests(self) -> list[RequestRecord]:
        """Every answered request so far, oldest first (a copy). A record is logged as its
        answer starts; bytes_sent and outcome are final once wait_idle() returns."""
        with self._lock:
            return list(self._log)

    def media_requests(self, file_id: str | None = None) -> list[RequestRecord]:
        """The alt=media requests (for `file_id` if given)."""
        return [r for r in self.requests if r.media and file_id in (None, r.file_id)]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being served (e.g. a stream noticed its client left)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    # ------------------------------------------------------------ model internals (locked)

    def _resolve(self, file_id: str) -> str:
        return self.root_id if file_id == "root" else file_id

    def _file(self, file_id: str) -> _File:
        file = self._files.get(self._resolve(file_id))
        if file is None:
            raise KeyError(f"no file {file_id!r} in the fake Drive")
        return file

    def _folder(self, folder_id: str) -> str:
        folder = self._file(folder_id)
        if folder.mime_type != FOLDER_MIME:
            raise ValueError(f"{folder_id!r} is not a folder")
        return folder.id

    def _new_id(self) -> str:
        digest = hashlib.sha256(f"{id(self)}:{self._seq}".encode()).digest()
        return "1" + base64.urlsafe_b64encode(digest).decode()[:32]

    def _add(
        self,
        name: str,
        parent: str,
        mime_type: str,
        video: dict[str, Any] | None,
        file_id: str | None,
        *,
        thumbnail: bool = True,
        blob: Callable[[str], _Blob] | None = None,
    ) -> str:
        with self._lock:
            parent_id = self._folder(parent)
            self._seq += 1
            fid = file_id or self._new_id()
            if fid in self._files:
                raise ValueError(f"duplicate file id {fid!r}")
            now = _now()
            file = _File(fid, name, mime_type, [parent_id], self._seq, now, now)
            file.video, file.thumbnail = video, thumbnail
            file.blob = blob(fid) if blob is not None else None
            self._files[fid], self._by_seq[file.seq] = file, file
            self._index[""].append(file.seq)
            bisect.insort(self._index.setdefault(parent_id, []), file.seq)
            self._log_change(fid)
            return fid

    def _touch(self, file: _File) -> None:
        file.modified = _now()
        self._log_change(file.id)

    def _log_change(self, file_id: str) -> None:
        self._changes.append((file_id, _now()))

    def _subtree(self, file_id: str) -> list[_File]:
        files = [self._file(file_id)]
        for file in files:  # grows while walking: breadth first
            files.extend(self._by_seq[seq] for seq in self._index.get(file.id, []))
        return files

    def _set_trashed(self, file_id: str, trashed: bool) -> None:
        with self._lock:
            for file in self._subtree(file_id):
                file.trashed = trashed
                file.explicitly_trashed = trashed and file.id == self._resolve(file_id)
                self._log_change(file.id)

    def _resource(self, file: _File) -> dict[str, Any]:
        """The Drive v3 File resource, md5Checksum aside (see _add_md5)."""
        body: dict[str, Any] = {
            "kind": "drive#file",
            "id": file.id,
            "name": file.name,
            "mimeType": file.mime_type,
            "trashed": file.trashed,
            "explicitlyTrashed": file.explicitly_trashed,
            "createdTime": file.created,
            "modifiedTime": file.modified,
            "hasThumbnail": file.thumbnail,
        }
        if file.parents:
            body["parents"] = list(file.parents)
        if file.blob is not None:
            body["size"] = str(file.blob.size)
        if file.thumbnail:
            base = self.base_url if self._server is not None else "http://127.0.0.1:0"
            body["thumbnailLink"] = f"{base}/thumbnails/{file.id}?sz=s220"
        if file.video is not None and file.mime_type.startswith("video/"):
            body["videoMediaMetadata"] = dict(file.video)
        return body

    @staticmethod
    def _add_md5(body: dict[str, Any], file: _File) -> dict[str, Any]:
        if file.blob is not None:
            body["md5Checksum"] = file.blob.md5()  # outside the lock: may take seconds
        return body

    # ------------------------------------------------------------ HTTP dispatch

    def _enter(self) -> None:
        with self._lock:
            self._inflight += 1

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    def _leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def _dispatch(self, request: _Request) -> _Response:
        held = self._take_hold(request)
        if held is not None:
            held.arrived.set()
            held.wait()
        request.fault = self._pick_fault(request)
        if request.fault == "slow":
            time.sleep(self.slow_s)
        elif request.fault not in (None, "drop"):
            return self._fault_response(request.fault)
        try:
            if request.path.startswith(("/drive/", "/v1/")):
                self._authorize(request)
            for method, pattern, name in ROUTES:
                match = pattern.fullmatch(request.path)
                if match and method == request.method:
                    args = [unquote(group) for group in match.groups()]
                    response: _Response = getattr(self, name)(request, *args)
                    return response
            return _error(404, "notFound", f"Not Found: {request.method} {request.path}")
        except _Problem as problem:
            return problem.response

    def _pick_fault(self, request: _Request) -> str | None:
        api = request.path.startswith(("/drive/", "/v1/"))
        with self._lock:
            for i, (kind, match) in enumerate(self._forced):
                if (match is None and api) or (match is not None and match in request.target):
                    del self._forced[i]
                    return kind
            in_scope = api or (self._fault_token and request.path == "/token")
            if in_scope and self._fault_rate > 0 and self._rng.random() < self._fault_rate:
                return self._rng.choice(self._fault_kinds)
        return None

    def _fault_response(self, kind: str) -> _Response:
        if kind == "429":
            headers = {"Retry-After": str(self.retry_after)}
            return _error(
                429, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits",
                headers=headers,
            )  # fmt: skip
        if kind == "403rate":
            message = "User Rate Limit Exceeded. Rate of requests for user exceed configured quota."
            return _error(403, "userRateLimitExceeded", message, domain="usageLimits")
        if kind == "401":
            return self._unauthorized("authError", "Invalid Credentials")
        return _error(int(kind), "backendError", "Backend Error")

    @staticmethod
    def _unauthorized(reason: str, message: str) -> _Response:
        return _error(
            401, reason, message, location="Authorization", location_type="header",
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )  # fmt: skip

    def _authorize(self, request: _Request) -> None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Problem(self._unauthorized("required", "Login Required."))
        with self._lock:
            expires = self._tokens.get(token.strip())
        if expires is None or time.monotonic() >= expires:
            raise _Problem(self._unauthorized("authError", "Invalid Credentials"))

    # ------------------------------------------------------------ OAuth 2.0 token endpoint

    def _oauth_token(self, request: _Request) -> _Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":  # client_secret_basic (RFC 6749 2.3.1)
            try:
                decoded = base64.b64decode(encoded, validate=True).decode()
            except ValueError:
                decoded = ""
            user, _, password = decoded.partition(":")
            form.setdefault("client_id", unquote(user))
            form.setdefault("client_secret", unquote(password))
        with self._lock:
            self._token_requests += 1
        if form.get("grant_type") == JWT_BEARER:
            return self._jwt_grant(form)
        refusal = self._refuse_grant(form)
        if refusal is not None:
            return refusal
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form)
        access = self.issue_token()
        with self._lock:  # whose token it is, for userinfo and each account's courses
            owner = self._refresh_emails.get(form["refresh_token"])
            if owner is None and form["refresh_token"] == self.refresh_token:
                owner = self.legacy_email
            if owner is not None:
                self._access_emails[access] = owner
            granted = self._refresh_scopes.get(form["refresh_token"], self.scope)
        body = {
            "access_token": access,
            "expires_in": max(1, round(self.token_lifetime_s)),
            "scope": granted,
            "token_type": "Bearer",
        }
        return _json(200, body, {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    def _client_secret_of(self, client_id: str) -> str | None:
        if client_id == self.client_id:
            return self.client_secret
        with self._lock:
            return self._other_clients.get(client_id)

    def _refuse_grant(self, form: dict[str, str]) -> _Response | None:
        grant = form.get("grant_type")
        if not grant:
            return _oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
        if grant not in ("refresh_token", "authorization_code"):
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        known = self._client_secret_of(form.get("client_id") or "")
        if known is None:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if form.get("client_secret") != known:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        if grant == "authorization_code":
            return None
        if not form.get("refresh_token"):
            return _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
        if form["refresh_token"] in self._refresh_emails:
            return None
        if form["refresh_token"] != self.refresh_token:
            return _oauth_error(400, "invalid_grant", "Bad Request")
        if self._revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return None

    # ------------------------------------------------------------ Drive v3 files

    def _files_list(self, request: _Request) -> _Response:
        q = request.query.get("q", "")
        clauses = [
            (subject, op, self._resolve(value) if subject == "parents" else value)
            for subject, op, value in _parse_q(q)
        ]
        size = _page_size(request.query.get("pageSize"))
        mask = _parse_fields(request.query.get("fields"), LIST_DEFAULT)
        parents = [value for subject, _, value in clauses if subject == "parents"]
        with self._lock:
            parent = parents[0] if parents else ""
            if parent and parent not in self._files:
                raise _Problem(self._not_found(parents[0]))
            token = request.query.get("pageToken")
            after = self._read_page_token(token, q) if token is not None else 0
            files, last = self._page(clauses, parent, after, size)
            body: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False}
            if last is not None:
                body["nextPageToken"] = self._page_token(last, q)
            body["files"] = [self._resource(file) for file in files]
        if _wants(mask, "files", "md5Checksum"):
            for file, entry in zip(files, body["files"], strict=True):
                self._add_md5(entry, file)
        return _json(200, _select(body, mask))

    def _page(
        self, clauses: list[Clause], parent: str, after: int, size: int
    ) -> tuple[list[_File], int | None]:
        """Up to `size` matches with seq > after, and the last seq if more matches follow."""
        seqs = self._index.get(parent, [])
        found: list[_File] = []
        for i in range(bisect.bisect_right(seqs, after), len(seqs)):
            file = self._by_seq[seqs[i]]
            if all(_matches(file, clause) for clause in clauses):
                if len(found) == size:
                    return found, found[-1].seq
                found.append(file)
        return found, None

    def _page_token(self, after: int, q: str) -> str:
        payload = f"{after}:{hashlib.sha256(q.encode()).hexdigest()[:12]}"
        signature = hmac.new(self._page_secret, payload.encode(), "sha256").hexdigest()[:16]
        return base64.urlsafe_b64encode(f"{payload}:{signature}".encode()).decode().rstrip("=")

    def _read_page_token(self, token: str, q: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            after = int(raw.split(":", 1)[0])
            valid = hmac.compare_digest(self._page_token(after, q), token)
        except (ValueError, UnicodeDecodeError):
            valid = False
        if not valid:
            raise _invalid("pageToken")
        return after

    @staticmethod
    def _not_found(file_id: str) -> _Response:
        message = f"File not found: {file_id}."
        return _error(404, "notFound", message, location="fileId")

    def _files_get(self, request: _Request, file_id: str) -> _Response:
        media = request.query.get("alt") == "media"
        mask = None if media else _parse_fields(request.query.get("fields"), FILE_DEFAULT)
        with self._lock:
            file = self._files.get(self._resolve(file_id))
            if file is None:
                raise _Problem(self._not_found(file_id))
            body = self._resource(file)
        if media:
            return self._media(request, file)
        if _wants(mask, "md5Checksum"):
            self._add_md5(body, file)
        return _json(200, _select(body, mask))

    def _media(self, request: _Request, file: _File) -> _Response:
        if file.blob is None:
            message = "Only files with binary content can be downloaded. Use Export with Docs "
            message += "Editors files."
            raise _Problem(_error(403, "fileNotDownloadable", message, location="alt"))
        error = file.download_error
        acknowledged = request.query.get("acknowledgeAbuse", "").lower() == "true"
        if error and not (error == "cannotDownloadAbusiveFile" and acknowledged):
            raise _Problem(_error(403, error, DOWNLOAD_ERRORS[error]))
        blob = file.blob
        span = _parse_range(request.headers.get("Range"), blob.size)
        start, end = span or (0, blob.size)
        headers = {"Content-Type": file.mime_type, "Accept-Ranges": "bytes"}
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
        stream = blob.chunks(start, end)
        if self.media_bytes_per_s:
            stream = _paced(stream, self.media_bytes_per_s)
        return _Response(206 if span else 200, b"", headers, stream, end - start, file.id)

    def _thumbnail(self, request: _Request, file_id: str) -> _Response:
        if self.thumbnails_require_auth:
            self._authorize(request)
        with self._lock:
            file = self._files.get(file_id)
            if file is None or not file.thumbnail:
                raise _Problem(self._not_found(file_id))
        headers = {"Content-Type": "image/png", "Cache-Control": "private, max-age=86400"}
        return _Response(200, _png(zlib.crc32(file_id.encode())), headers)

    # ------------------------------------------------------------ Drive v3 changes

    def _changes_start(self, request: _Request) -> _Response:
        mask = _parse_fields(request.query.get("fields"), None)
        body = {"kind": "drive#startPageToken", "startPageToken": self.start_page_token()}
        return _json(200, _select(body, mask))

    def _read_change_token(self, token: str | None) -> int:
        if not token:
            message = "Required parameter: pageToken"
            raise _Problem(_error(400, "required", message, location="pageToken"))
        if not token.isdigit() or not 1 <= int(token) <= len(self._changes) + 1:
            raise _invalid("pageToken")
        if int(token) < self._oldest_change:
            status = self.expired_change_token_status
            reason = "notFound" if status == 404 else "invalid"
            raise _Problem(_error(status, reason, "Invalid Value", location="pageToken"))
        return int(token)

    def _changes_list(self, request: _Request) -> _Response:
        size = _page_size(request.query.get("pageSize"))
        include_removed = request.query.get("includeRemoved", "true").lower() != "false"
        mask = _parse_fields(request.query.get("fields"), CHANGES_DEFAULT)
        body: dict[str, Any] = {"kind": "drive#changeList", "changes": []}
        pending: list[tuple[dict[str, Any], _File]] = []
        with self._lock:
            number = self._read_change_token(request.query.get("pageToken"))
            while number <= len(self._changes) and len(body["changes"]) < size:
                file_id, when = self._changes[number - 1]
                number += 1
                file = self._files.get(file_id)
                if file is None and not include_removed:
                    continue
                change: dict[str, Any] = {
                    "kind": "drive#change", "changeType": "file", "time": when,
                    "removed": file is None, "fileId": file_id,
                }  # fmt: skip
                if file is not None:
                    change["file"] = self._resource(file)
                    pending.append((change["file"], file))
                body["changes"].append(change)
            key = "nextPageToken" if number <= len(self._changes) else "newStartPageToken"
            body[key] = str(number)
        if _wants(mask, "changes", "file", "md5Checksum"):
            for entry, file in pending:
                self._add_md5(entry, file)
        return _json(200, _select(body, mask))


# Routes: (method, path pattern, FakeGoogle handler). Path groups are passed unquoted.
# Every /drive/ and /v1/ (Classroom) path needs a valid Bearer token; faults apply to both.
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/token"), "_oauth_token"),
    ("GET", re.compile(r"/auth"), "_authorize_endpoint"),
    ("GET", re.compile(r"/userinfo"), "_userinfo"),
    ("POST", re.compile(r"/revoke"), "_revoke"),
    ("GET", re.compile(r"/drive/v3/files"), "_files_list"),
    ("GET", re.compile(r"/drive/v3/files/([^/]+)"), "_files_get"),
    ("GET", re.compile(r"/drive/v3/changes/startPageToken"), "_changes_start"),
    ("GET", re.compile(r"/drive/v3/changes"), "_changes_list"),
    ("GET", re.compile(r"/thumbnails/([^/]+)"), "_thumbnail"),
    ("GET", re.compile(r"/v1/courses"), "_courses_list"),
    ("GET", re.compile(r"/v1/courses/([^/]+)"), "_course_get"),
    ("GET", re.compile(r"/v1/courses/([^/]+)/courseWork"), "_coursework_list"),
    ("GET", re.compile(r"/v1/courses/([^/]+)/courseWorkMaterials"), "_course_materials_list"),
    ("GET", re.compile(r"/v1/courses/([^/]+)/topics"), "_topics_list"),
]


# ---------------------------------------------------------------- the HTTP server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128
    fake: FakeGoogle


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between headers and body
    server: _Server
    server_version = "FakeGoogle/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, *args: Any) -> None:
        """Quiet: the fake's request log is `FakeGoogle.requests`."""

    def _handle(self) -> None:
        fake = self.server.fake
        fake._enter()
        try:
            request = self._read_request()
            response = fake._dispatch(request)
            record = RequestRecord(
                request.method, request.path, request.query, response.status, request.fault,
                length=response.length if response.stream is not None else len(response.body),
                file_id=response.file_id, range=request.headers.get("Range"),
            )  # fmt: skip
            fake._record(record)  # logged before the body goes out; final once wait_idle()
            self._send(request, response, record)
        except OSError:  # the client went away while we read its request
            self.close_connection = True
        except Exception:  # a bug in the fake: say so loudly, answer 500
            fake.server_errors.append(traceback.format_exc())
            traceback.print_exc()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_error(500, "FakeGoogle crashed")
        finally:
            fake._leave()

    def _read_request(self) -> _Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return _Request(self.command, parts.path, self.path, query, self.headers, body)

    def _send(self, request: _Request, response: _Response, record: RequestRecord) -> None:
        drop_after: int | None = None
        if request.fault == "drop":
            if response.stream is None or (response.length or 0) < 2:
                record.status, record.outcome = None, "dropped"
                self._hang_up()
                return
            drop_after = max(1, min((response.length or 0) // 2, 256 * 1024))
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            length = response.length if response.stream is not None else len(response.body)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self._write_body(response, record, drop_after)
        except OSError:  # BrokenPipe / ConnectionReset: the client hung up
            record.outcome = "client_gone"
            self.close_connection = True

    def _write_body(self, response: _Response, record: RequestRecord, drop: int | None) -> None:
        chunks = response.stream if response.stream is not None else iter([response.body])
        for chunk in chunks:
            if drop is not None and record.bytes_sent + len(chunk) >= drop:
                part = chunk[: drop - record.bytes_sent]
                self.wfile.write(part)
                record.bytes_sent += len(part)
                record.outcome = "dropped"
                self._hang_up()
                return
            self.wfile.write(chunk)
            record.bytes_sent += len(chunk)

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
