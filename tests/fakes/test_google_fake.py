"""The fake Google itself: OAuth, Drive files and media, changes, Classroom, faults; loopback."""

from __future__ import annotations

import hashlib
import random
import struct
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.google import DOC_MIME, FOLDER_MIME, FakeGoogle, drive_file, form, link, youtube

GIB = 1024**3


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake
        assert fake.server_errors == []


@pytest.fixture
def drive(google: FakeGoogle) -> Iterator[requests.Session]:
    """A session already holding a valid bearer token."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {google.issue_token()}"
        yield session


def drive_get(google: FakeGoogle, drive: requests.Session, path: str, **params: Any) -> Any:
    response = drive.get(f"{google.base_url}/drive/v3/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def grant(google: FakeGoogle, **overrides: str) -> requests.Response:
    form = {"grant_type": "refresh_token", **google.credentials(), **overrides}
    return requests.post(google.token_url, data=form, timeout=10)


def error_reason(response: requests.Response) -> str:
    return str(response.json()["error"]["errors"][0]["reason"])


# ---------------------------------------------------------------- OAuth


def test_refresh_grant_issues_a_bearer_token_that_drive_accepts(google: FakeGoogle) -> None:
    response = grant(google)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == google.scope
    assert google.token_requests == 1
    files = requests.get(
        f"{google.base_url}/drive/v3/files",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert files.status_code == 200


def test_refresh_grant_refusals(google: FakeGoogle) -> None:
    bad_token = grant(google, refresh_token="1//stolen")
    assert (bad_token.status_code, bad_token.json()["error"]) == (400, "invalid_grant")
    assert bad_token.json()["error_description"]
    bad_secret = grant(google, client_secret="nope")
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    bad_client = grant(google, client_id="other.apps.googleusercontent.com")
    assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")
    bad_grant = grant(google, grant_type="password")
    assert bad_grant.json()["error"] == "unsupported_grant_type"
    google.revoke_refresh_token()
    revoked = grant(google)
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")
    assert google.token_requests == 5


def test_client_secret_basic_is_accepted(google: FakeGoogle) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": google.refresh_token}
    auth = (google.client_id, google.client_secret)
    response = requests.post(google.token_url, data=form, auth=auth, timeout=10)
    assert response.status_code == 200


def test_drive_needs_a_valid_unexpired_token(google: FakeGoogle) -> None:
    url = f"{google.base_url}/drive/v3/files"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    error = missing.json()["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    assert error["errors"][0]["domain"] == "global"
    assert error["errors"][0]["location"] == "Authorization"
    forged = requests.get(url, headers={"Authorization": "Bearer ya29.forged"}, timeout=10)
    assert (forged.status_code, error_reason(forged)) == (401, "authError")

    token = grant(google).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    google.expire_all_tokens()
    assert requests.get(url, headers=headers, timeout=10).status_code == 401

    google.token_lifetime_s = 0.5
    token = grant(google).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    time.sleep(0.6)
    assert requests.get(url, headers=headers, timeout=10).status_code == 401


# ---------------------------------------------------------------- files.list and files.get


def walk(google: FakeGoogle, drive: requests.Session, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    token: str | None = None
    while True:
        extra = {"pageToken": token} if token else {}
        body = drive_get(google, drive, "files", **params, **extra)
        pages.append(body["files"])
        token = body.get("nextPageToken")
        if not token:
            return pages


def test_paging_a_folder_visits_every_child_once(
    google: FakeGoogle, drive: requests.Session
) -> None:
    folder = google.add_folder("Lessons")
    other = google.add_folder("Other")
    google.add_file("elsewhere.mp4", other)
    children = [google.add_file(f"lesson {i}.mp4", folder) for i in range(7)]
    children.append(google.add_folder("Week 2", folder))
    children.append(google.add_doc("Notes", folder))
    gone = google.add_file("old.mp4", folder)
    google.trash(gone)

    q = f"'{folder}' in parents and trashed = false"
    pages = walk(google, drive, q=q, pageSize=2, fields="nextPageToken,files(id,name)")

    ids = [entry["id"] for page in pages for entry in page]
    assert sorted(ids) == sorted(children)
    assert len(ids) == len(set(ids))
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    body = drive_get(google, drive, "files", q=q, pageSize=1000)
    assert body["kind"] == "drive#fileList"
    assert body["incompleteSearch"] is False
    assert "nextPageToken" not in body


def test_paging_survives_additions_and_deletions(
    google: FakeGoogle, drive: requests.Session
) -> None:
    folder = google.add_folder("Lessons")
    first = [google.add_file(f"{i}.mp4", folder) for i in range(4)]
    q = f"'{folder}' in parents"
    page = drive_get(google, drive, "files", q=q, pageSize=2)
    google.delete(first[0])
    added = google.add_file("late.mp4", folder)
    rest = drive_get(google, drive, "files", q=q, pageSize=10, pageToken=page["nextPageToken"])

    seen = [f["id"] for f in page["files"]] + [f["id"] for f in rest["files"]]
    assert seen == [*first, added]


def test_forged_or_foreign_page_tokens_are_refused(
    google: FakeGoogle, drive: requests.Session
) -> None:
    folder = google.add_folder("Lessons")
    for i in range(3):
        google.add_file(f"{i}.mp4", folder)
    q = f"'{folder}' in parents"
    token = drive_get(google, drive, "files", q=q, pageSize=1)["nextPageToken"]
    url = f"{google.base_url}/drive/v3/files"
    for params in (
        {"q": q, "pageToken": "garbage"},
        {"q": q, "pageToken": token[:-2] + "xx"},
        {"q": "trashed = false", "pageToken": token},
    ):
        response = drive.get(url, params=params, timeout=10)
        assert response.status_code == 400, params
        assert error_reason(response) == "invalid"
        assert response.json()["error"]["errors"][0]["location"] == "pageToken"
    assert drive.get(url, params={"q": q, "pageToken": token}, timeout=10).status_code == 200
    google.expire_page_tokens()
    assert drive.get(url, params={"q": q, "pageToken": token}, timeout=10).status_code == 400


def test_q_filters(google: FakeGoogle, drive: requests.Session) -> None:
    folder = google.add_folder("Lessons")
    video = google.add_file("a.mp4", folder)
    webm = google.add_file("b.webm", folder, "video/webm")
    pdf = google.add_file("c.pdf", folder, "application/pdf")
    sub = google.add_folder("sub", folder)
    doc = google.add_doc("notes", folder)
    trashed = google.add_file("d.mp4", folder)
    google.trash(trashed)

    def ids(q: str) -> set[str]:
        return {f["id"] for f in drive_get(google, drive, "files", q=q)["files"]}

    inside = f"'{folder}' in parents"
    assert ids(inside) == {video, webm, pdf, sub, doc, trashed}
    assert ids(f"{inside} and trashed=false") == {video, webm, pdf, sub, doc}
    assert ids(f"{inside} and trashed = true") == {trashed}
    assert ids(f"{inside} and mimeType = '{FOLDER_MIME}'") == {sub}
    assert ids(f"{inside} and mimeType != '{FOLDER_MIME}' and trashed = false") == {
        video, webm, pdf, doc,
    }  # fmt: skip
    assert ids(f"{inside} and mimeType contains 'video/' and trashed = false") == {video, webm}
    assert ids(f"name = 'c.pdf' and {inside}") == {pdf}
    odd = google.add_file("Bob's \\ notes.mp4", folder)
    assert ids("name = 'Bob\\'s \\\\ notes.mp4'") == {odd}
    assert ids(f"name contains 'Bob' and {inside} and trashed = false") == {odd}
    assert folder in ids("'root' in parents")


@pytest.mark.parametrize(
    "q",
    [
        "fullText contains 'x'",
        "trashed = false or trashed = true",
        "(trashed = false)",
        "mimeType = video/mp4",
        "'abc' in parents and",
        "trashed = maybe",
    ],
)
def test_unsupported_queries_are_400(google: FakeGoogle, drive: requests.Session, q: str) -> None:
    response = drive.get(f"{google.base_url}/drive/v3/files", params={"q": q}, timeout=10)
    assert response.status_code == 400
    assert error_reason(response) == "invalid"


def test_unknown_parent_and_unknown_file_are_404(
    google: FakeGoogle, drive: requests.Session
) -> None:
    listing = drive.get(
        f"{google.base_url}/drive/v3/files", params={"q": "'nope' in parents"}, timeout=10
    )
    assert (listing.status_code, error_reason(listing)) == (404, "notFound")
    single = drive.get(f"{google.base_url}/drive/v3/files/nope", timeout=10)
    assert (single.status_code, error_reason(single)) == (404, "notFound")
    assert single.json()["error"]["status"] == "NOT_FOUND"


def test_page_size_bounds(google: FakeGoogle, drive: requests.Session) -> None:
    url = f"{google.base_url}/drive/v3/files"
    for size in ("0", "1001", "ten"):
        assert drive.get(url, params={"pageSize": size}, timeout=10).status_code == 400
    assert drive.get(url, params={"pageSize": "1000"}, timeout=10).status_code == 200


def test_fields_partial_response(google: FakeGoogle, drive: requests.Session) -> None:
    folder = google.add_folder("Lessons")
    content = b"0123456789" * 1000
    video = google.add_file("a.mp4", folder, content=content, duration_ms=61_500)
    q = f"'{folder}' in parents"

    body = drive_get(google, drive, "files", q=q, fields="nextPageToken,files(id,name)")
    assert body == {"files": [{"id": video, "name": "a.mp4"}]}
    default = drive_get(google, drive, "files", q=q)
    assert set(default["files"][0]) == {"kind", "id", "name", "mimeType"}
    nested = drive_get(
        google, drive, f"files/{video}", fields="size,videoMediaMetadata(durationMillis)"
    )
    assert nested == {"size": "10000", "videoMediaMetadata": {"durationMillis": "61500"}}
    slash = drive_get(
        google, drive, f"files/{video}", fields="videoMediaMetadata/width,videoMediaMetadata/height"
    )
    assert slash == {"videoMediaMetadata": {"width": 1280, "height": 720}}

    full = drive_get(google, drive, f"files/{video}", fields="*")
    assert full["md5Checksum"] == hashlib.md5(content).hexdigest()
    assert full["parents"] == [folder]
    assert full["trashed"] is False
    assert full["modifiedTime"].endswith("Z")
    assert full["thumbnailLink"].startswith(google.base_url)
    listed = drive_get(google, drive, "files", q=q, fields="files(*)")["files"][0]
    assert listed == full

    bad = drive.get(f"{google.base_url}/drive/v3/files", params={"fields": "files(id"}, timeout=10)
    assert bad.status_code == 400


def test_docs_and_folders_have_no_size(google: FakeGoogle, drive: requests.Session) -> None:
    doc = google.add_doc("notes")
    folder = google.add_folder("f")
    for file_id, mime in ((doc, DOC_MIME), (folder, FOLDER_MIME)):
        body = drive_get(google, drive, f"files/{file_id}", fields="*")
        assert body["mimeType"] == mime
        assert "size" not in body
        assert "md5Checksum" not in body
    root = drive_get(google, drive, "files/root", fields="id,name,mimeType")
    assert root == {"id": google.root_id, "name": "My Drive", "mimeType": FOLDER_MIME}


# ---------------------------------------------------------------- alt=media


def media(
    google: FakeGoogle, drive: requests.Session, file_id: str, range_header: str | None = None
) -> requests.Response:
    headers = {"Range": range_header} if range_header else {}
    return drive.get(
        f"{google.base_url}/drive/v3/files/{file_id}",
        params={"alt": "media", "supportsAllDrives": "true"},
        headers=headers,
        timeout=10,
    )


def test_media_full_body(google: FakeGoogle, drive: requests.Session) -> None:
    video = google.add_file("a.mp4", size=300_000, seed=3)
    response = media(google, drive, video)

    assert response.status_code == 200
    assert response.headers["Content-Length"] == "300000"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.content == google.content_of(video)
    assert hashlib.md5(response.content).hexdigest() == google.file(video)["md5Checksum"]
    # The client can have the last byte before the server thread counts it: the record is
    # final once the fake is idle (a CI run read 262,144 of 300,000 without this wait).
    assert google.wait_idle()
    (record,) = google.media_requests(video)
    assert (record.status, record.bytes_sent, record.outcome) == (200, 300_000, "ok")


def test_media_ranges_are_byte_exact(google: FakeGoogle, drive: requests.Session) -> None:
    size = 3 * 1024 * 1024 + 17
    video = google.add_file("a.mp4", size=size, seed=5)
    rng = random.Random(1)
    cases = [("bytes=0-0", 0, 1), ("bytes=100-", 100, size), ("bytes=-500", size - 500, size)]
    cases.append((f"bytes=10-{size + 100}", 10, size))
    for _ in range(8):
        start = rng.randrange(size)
        end = rng.randrange(start, size)
        cases.append((f"bytes={start}-{end}", start, end + 1))

    for header, start, end in cases:
        response = media(google, drive, video, header)
        assert response.status_code == 206, header
        assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
        assert int(response.headers["Content-Length"]) == end - start
        assert response.content == google.content_of(video, start, end), header


def test_unsatisfiable_and_ignored_ranges(google: FakeGoogle, drive: requests.Session) -> None:
    video = google.add_file("a.mp4", content=b"x" * 1000)
    for header in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        response = media(google, drive, video, header)
        assert response.status_code == 416, header
        assert response.headers["Content-Range"] == "bytes */1000"
    for header in ("bytes=5-2", "bytes=0-1,5-6", "items=0-5"):
        response = media(google, drive, video, header)
        assert (response.status_code, len(response.content)) == (200, 1000), header


def test_docs_are_not_downloadable_and_per_file_refusals(
    google: FakeGoogle, drive: requests.Session
) -> None:
    doc = google.add_doc("notes")
    response = media(google, drive, doc)
    assert (response.status_code, error_reason(response)) == (403, "fileNotDownloadable")

    video = google.add_file("a.mp4")
    for reason in ("downloadQuotaExceeded", "cannotDownloadAbusiveFile"):
        google.set_download_error(video, reason)
        response = media(google, drive, video)
        assert (response.status_code, error_reason(response)) == (403, reason)
    acknowledged = drive.get(
        f"{google.base_url}/drive/v3/files/{video}",
        params={"alt": "media", "acknowledgeAbuse": "true"},
        timeout=10,
    )
    assert acknowledged.status_code == 200
    google.set_download_error(video, None)
    assert media(google, drive, video).status_code == 200


def test_client_disconnect_stops_the_transfer(google: FakeGoogle, drive: requests.Session) -> None:
    size = 256 * 1024 * 1024
    video = google.add_file("big.mp4", size=size, seed=9)
    response = drive.get(
        f"{google.base_url}/drive/v3/files/{video}",
        params={"alt": "media"},
        stream=True,
        timeout=10,
    )
    first = response.raw.read(100_000)
    response.close()

    assert first == google.content_of(video, 0, 100_000)
    assert google.wait_idle(timeout=10)
    (record,) = google.media_requests(video)
    assert record.outcome == "client_gone"
    assert record.cut_short
    assert record.bytes_sent < size // 4


def test_media_speed_limit(google: FakeGoogle, drive: requests.Session) -> None:
    video = google.add_file("a.mp4", size=400_000)
    google.media_bytes_per_s = 1_000_000
    started = time.monotonic()
    assert media(google, drive, video).content == google.content_of(video)
    assert time.monotonic() - started >= 0.3


def test_two_gib_file_is_cheap(google: FakeGoogle, drive: requests.Session) -> None:
    size = 2 * GIB
    tracemalloc.start()
    try:
        started = time.monotonic()
        video = google.add_file("huge.mp4", size=size, seed=11, duration_ms=3_600_000)
        meta = drive_get(google, drive, f"files/{video}", fields="id,size,videoMediaMetadata")
        start = size - 1024 * 1024 - 123
        near_end = media(google, drive, video, f"bytes={start}-{start + 65535}")
        tail = media(google, drive, video, "bytes=-100")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert meta["size"] == str(size)
    assert near_end.status_code == tail.status_code == 206
    assert near_end.content == google.content_of(video, start, start + 65536)
    assert tail.content == google.content_of(video, size - 100)
    assert tail.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert near_end.content != google.content_of(video, start - 1, start + 65535)
    assert peak < 16 * 1024 * 1024
    assert time.monotonic() - started < 5


def test_generated_content_is_deterministic_and_not_periodic(google: FakeGoogle) -> None:
    a = google.add_file("a.mp4", size=5 * 1024 * 1024, seed=1)
    b = google.add_file("b.mp4", size=5 * 1024 * 1024, seed=1)
    c = google.add_file("c.mp4", size=5 * 1024 * 1024, seed=2)
    assert google.content_of(a) == google.content_of(b)
    assert google.content_of(a) != google.content_of(c)
    mib = 1024 * 1024
    assert google.content_of(a, 0, 4096) != google.content_of(a, mib, mib + 4096)
    assert google.content_of(a, 10, 20) == google.content_of(a)[10:20]


def test_thumbnails_are_png_images(google: FakeGoogle, drive: requests.Session) -> None:
    video = google.add_file("a.mp4")
    blank = google.add_file("b.mp4", thumbnail=False)
    link = drive_get(google, drive, f"files/{video}", fields="thumbnailLink")["thumbnailLink"]

    response = requests.get(link, timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    png = response.content
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (160, 90)
    idat_length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    pixels = zlib.decompress(png[41 : 41 + idat_length])
    assert len(pixels) == height * (1 + 3 * width)
    assert "thumbnailLink" not in drive_get(google, drive, f"files/{blank}", fields="*")
    assert requests.get(f"{google.base_url}/thumbnails/{blank}", timeout=10).status_code == 404


# ---------------------------------------------------------------- changes


def all_changes(
    google: FakeGoogle, drive: requests.Session, token: str, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    changes: list[dict[str, Any]] = []
    while True:
        body = drive_get(google, drive, "changes", pageToken=token, **params)
        assert body.get("kind", "drive#changeList") == "drive#changeList"
        changes.extend(body["changes"])
        if "newStartPageToken" in body:
            assert "nextPageToken" not in body
            return changes, body["newStartPageToken"]
        token = body["nextPageToken"]


def test_changes_feed_after_add_rename_trash_delete(
    google: FakeGoogle, drive: requests.Session
) -> None:
    folder = google.add_folder("Lessons")
    renamed = google.add_file("old name.mp4", folder)
    trashed = google.add_file("trash me.mp4", folder)
    deleted = google.add_file("delete me.mp4", folder)
    start = drive_get(google, drive, "changes/startPageToken")
    assert start["kind"] == "drive#startPageToken"
    token = start["startPageToken"]

    added = google.add_file("new.mp4", folder, duration_ms=1000)
    google.rename(renamed, "new name.mp4")
    google.trash(trashed)
    google.delete(deleted)
    fields = "nextPageToken,newStartPageToken,changes(fileId,removed,time,file(id,name,trashed))"
    changes, new_token = all_changes(
        google, drive, token, pageSize=1, includeRemoved="true", fields=fields
    )

    assert [c["fileId"] for c in changes] == [added, renamed, trashed, deleted]
    by_id = {c["fileId"]: c for c in changes}
    assert by_id[added]["file"]["name"] == "new.mp4"
    assert by_id[renamed]["file"]["name"] == "new name.mp4"
    assert by_id[trashed]["file"]["trashed"] is True
    assert by_id[deleted]["removed"] is True
    assert "file" not in by_id[deleted]
    assert all(c["time"].endswith("Z") for c in changes)
    assert all_changes(google, drive, new_token) == ([], new_token)

    default, _ = all_changes(google, drive, token)
    assert default[0]["kind"] == "drive#change"
    assert default[0]["changeType"] == "file"
    without_removed, _ = all_changes(google, drive, token, includeRemoved="false")
    assert deleted not in [c["fileId"] for c in without_removed]


def test_trashing_a_folder_trashes_its_contents(
    google: FakeGoogle, drive: requests.Session
) -> None:
    folder = google.add_folder("Lessons")
    inner = google.add_folder("inner", folder)
    video = google.add_file("a.mp4", inner)
    token = google.start_page_token()
    google.trash(folder)

    changes, _ = all_changes(google, drive, token, fields="*")
    assert {c["fileId"] for c in changes} == {folder, inner, video}
    assert all(c["file"]["trashed"] for c in changes)
    assert drive_get(google, drive, f"files/{video}", fields="explicitlyTrashed") == {
        "explicitlyTrashed": False
    }
    google.delete(folder)
    assert google.children("root") == []
    assert media(google, drive, video).status_code == 404


def test_bad_and_expired_change_tokens(google: FakeGoogle, drive: requests.Session) -> None:
    url = f"{google.base_url}/drive/v3/changes"
    google.add_file("a.mp4")
    old = google.start_page_token()
    google.add_file("b.mp4")
    for token in ("abc", "0", "999", ""):
        response = drive.get(url, params={"pageToken": token}, timeout=10)
        assert response.status_code == 400, token
    google.expire_change_tokens()
    expired = drive.get(url, params={"pageToken": old}, timeout=10)
    assert (expired.status_code, error_reason(expired)) == (400, "invalid")
    fresh = google.start_page_token()
    assert drive_get(google, drive, "changes", pageToken=fresh)["changes"] == []
    google.expired_change_token_status = 404
    assert drive.get(url, params={"pageToken": old}, timeout=10).status_code == 404


def test_move_shows_in_listing_and_changes(google: FakeGoogle, drive: requests.Session) -> None:
    a, b = google.add_folder("a"), google.add_folder("b")
    video = google.add_file("v.mp4", a)
    token = google.start_page_token()
    google.move(video, b)
    assert google.children(a) == []
    assert google.children(b) == [video]
    changes, _ = all_changes(
        google, drive, token, fields="newStartPageToken,changes(file(parents))"
    )
    assert changes == [{"file": {"parents": [b]}}]


# ---------------------------------------------------------------- faults


def test_each_fault_kind_is_observable(google: FakeGoogle, drive: requests.Session) -> None:
    url = f"{google.base_url}/drive/v3/files"
    google.faults(rate=0.0, retry_after=0, slow_s=0.3)

    google.fail_next(1, "429")
    limited = drive.get(url, timeout=10)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "0")
    assert error_reason(limited) == "rateLimitExceeded"
    for kind, status, reason in (("500", 500, "backendError"), ("503", 503, "backendError")):
        google.fail_next(1, kind)
        response = drive.get(url, timeout=10)
        assert (response.status_code, error_reason(response)) == (status, reason)
    google.fail_next(1, "403rate")
    rate = drive.get(url, timeout=10)
    assert (rate.status_code, error_reason(rate)) == (403, "userRateLimitExceeded")
    assert rate.json()["error"]["errors"][0]["domain"] == "usageLimits"
    google.fail_next(1, "401")
    assert drive.get(url, timeout=10).status_code == 401

    google.fail_next(1, "slow")
    started = time.monotonic()
    assert drive.get(url, timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.3

    google.fail_next(1, "drop")
    with pytest.raises(requests.ConnectionError):
        drive.get(url, timeout=10)
    assert drive.get(url, timeout=10).status_code == 200

    faults = [(r.fault, r.status) for r in google.requests if r.fault]
    assert faults == [
        ("429", 429), ("500", 500), ("503", 503), ("403rate", 403), ("401", 401),
        ("slow", 200), ("drop", None),
    ]  # fmt: skip


def test_drop_mid_body_on_media(google: FakeGoogle, drive: requests.Session) -> None:
    video = google.add_file("a.mp4", size=2_000_000, seed=4)
    google.fail_next(1, "drop", match="alt=media")
    response = drive.get(
        f"{google.base_url}/drive/v3/files/{video}",
        params={"alt": "media"},
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "2000000"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for _ in response.iter_content(65536):
            pass
    assert google.wait_idle()
    (record,) = google.media_requests(video)
    assert (record.fault, record.outcome) == ("drop", "dropped")
    assert 0 < record.bytes_sent < 2_000_000
    assert media(google, drive, video).content == google.content_of(video)


def test_random_faults_follow_rate_and_seed(google: FakeGoogle, drive: requests.Session) -> None:
    url = f"{google.base_url}/drive/v3/files"

    def statuses(seed: int) -> list[int]:
        google.faults(rate=0.5, kinds=("429", "500", "503", "403rate"), seed=seed)
        return [drive.get(url, timeout=10).status_code for _ in range(40)]

    first = statuses(7)
    assert first == statuses(7)
    assert 5 < sum(status != 200 for status in first) < 35
    assert set(first) <= {200, 429, 500, 503, 403}
    google.clear_faults()
    assert {drive.get(url, timeout=10).status_code for _ in range(10)} == {200}


def test_token_endpoint_faults_only_when_asked(google: FakeGoogle) -> None:
    google.faults(rate=1.0, kinds=("503",))
    assert grant(google).status_code == 200
    google.faults(rate=1.0, kinds=("503",), include_token=True)
    assert grant(google).status_code == 503
    google.clear_faults()
    google.fail_next(1, "429", match="/token")
    assert grant(google).status_code == 429
    assert grant(google).status_code == 200


def test_request_log(google: FakeGoogle, drive: requests.Session) -> None:
    google.clear_log()
    drive_get(google, drive, "files", q="trashed = false", pageSize=5)
    (record,) = google.requests
    assert (record.method, record.path, record.status) == ("GET", "/drive/v3/files", 200)
    assert record.query == {"q": "trashed = false", "pageSize": "5"}
    assert not record.media


def test_server_restarts_on_a_new_port_and_stops_cleanly() -> None:
    fake = FakeGoogle()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with fake:
        env = fake.env()
        assert env["DRIVE_API_URL"].startswith("http://127.0.0.1:")
        assert env["GOOGLE_TOKEN_URL"] == f"{fake.base_url}/token"
        assert requests.get(f"{fake.base_url}/nowhere", timeout=10).status_code == 404
    with pytest.raises(requests.ConnectionError):
        requests.get(env["GOOGLE_TOKEN_URL"], timeout=2)


# ---------------------------------------------------------------- Classroom v1


def classroom_get(
    google: FakeGoogle, drive: requests.Session, path: str, **params: Any
) -> requests.Response:
    return drive.get(f"{google.base_url}/v1/{path}", params=params, timeout=10)


def classroom_walk(
    google: FakeGoogle, drive: requests.Session, path: str, key: str, **params: Any
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    token = None
    while True:
        query = {**params, **({"pageToken": token} if token else {})}
        response = classroom_get(google, drive, path, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body.get(key, []))
        if not (token := body.get("nextPageToken")):
            return pages


def test_classroom_needs_a_valid_token(google: FakeGoogle) -> None:
    google.add_course("Física")
    url = f"{google.base_url}/v1/courses"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    forged = requests.get(url, headers={"Authorization": "Bearer ya29.forged"}, timeout=10)
    assert (forged.status_code, error_reason(forged)) == (401, "authError")
    token = google.issue_token()
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
    google.expire_all_tokens()
    assert (
        requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
        == 401
    )


def test_courses_page_newest_first_in_the_default_states(
    google: FakeGoogle, drive: requests.Session
) -> None:
    ids = [google.add_course(f"Curso {i}", section=f"Turma {i}") for i in range(5)]
    archived = google.add_course("Antigo", state="ARCHIVED")
    suspended = google.add_course("Suspenso", state="SUSPENDED")
    pages = classroom_walk(google, drive, "courses", "courses", pageSize=2)
    assert [len(page) for page in pages] == [2, 2, 2]
    listed = [course["id"] for page in pages for course in page]
    assert listed == [archived, *reversed(ids)]
    first = pages[-1][-1]
    assert first["name"] == "Curso 0" and first["section"] == "Turma 0"
    assert first["courseState"] == "ACTIVE"
    assert first["alternateLink"].startswith("https://classroom.google.com/c/")
    assert {"creationTime", "updateTime", "ownerId"} <= set(first)

    only = classroom_walk(google, drive, "courses", "courses", courseStates="SUSPENDED")
    assert [c["id"] for page in only for c in page] == [suspended]
    both = drive.get(
        f"{google.base_url}/v1/courses?courseStates=SUSPENDED&courseStates=ARCHIVED", timeout=10
    ).json()
    assert [c["id"] for c in both["courses"]] == [suspended, archived]
    bad = classroom_get(google, drive, "courses", courseStates="GONE")
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert classroom_get(google, drive, f"courses/{ids[0]}").json()["name"] == "Curso 0"
    assert classroom_get(google, drive, "courses/404").status_code == 404


def test_posts_carry_every_kind_of_material(google: FakeGoogle, drive: requests.Session) -> None:
    course = google.add_course("Biologia")
    video = google.add_file("célula.mp4")
    materials = [
        drive_file(video, "célula.mp4", share_mode="STUDENT_COPY"),
        youtube("abc123", "Mitose"),
        link("https://example.org/texto", "Texto"),
        form("https://docs.google.com/forms/d/x", "Quiz"),
    ]
    work = google.add_coursework(course, "Semana 1", materials)
    google.add_coursework(course, "Rascunho", [youtube("draft", "d")], state="DRAFT")
    post = google.add_course_material(course, "Leituras", [link("https://example.org/b")])
    empty = google.add_course_material(course, "Aviso", [])

    (listed,) = classroom_get(google, drive, f"courses/{course}/courseWork").json()["courseWork"]
    assert (listed["id"], listed["courseId"], listed["title"]) == (work, course, "Semana 1")
    assert listed["state"] == "PUBLISHED" and listed["workType"] == "ASSIGNMENT"
    assert listed["alternateLink"].startswith("https://classroom.google.com/c/")
    drive_part, video_part, link_part, form_part = listed["materials"]
    assert drive_part["driveFile"]["shareMode"] == "STUDENT_COPY"
    assert drive_part["driveFile"]["driveFile"]["id"] == video
    assert {"title", "alternateLink", "thumbnailUrl"} <= set(drive_part["driveFile"]["driveFile"])
    assert video_part["youtubeVideo"]["alternateLink"] == "https://www.youtube.com/watch?v=abc123"
    assert link_part == {"link": {"url": "https://example.org/texto", "title": "Texto"}}
    assert form_part["form"]["formUrl"] == "https://docs.google.com/forms/d/x"

    drafts = classroom_get(
        google, drive, f"courses/{course}/courseWork", courseWorkStates="DRAFT"
    ).json()["courseWork"]
    assert [d["title"] for d in drafts] == ["Rascunho"]
    posts = classroom_get(google, drive, f"courses/{course}/courseWorkMaterials").json()
    by_id = {p["id"]: p for p in posts["courseWorkMaterial"]}
    assert set(by_id) == {post, empty}
    assert "materials" not in by_id[empty] and "workType" not in by_id[post]

    google.delete_coursework(course, work)
    assert classroom_get(google, drive, f"courses/{course}/courseWork").json() == {}
    deleted = classroom_get(
        google, drive, f"courses/{course}/courseWork", courseWorkStates="DELETED"
    ).json()["courseWork"]
    assert [d["id"] for d in deleted] == [work]


def test_unknown_and_refused_courses(google: FakeGoogle, drive: requests.Session) -> None:
    missing = classroom_get(google, drive, "courses/123/courseWork")
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND"
    course = google.add_course("Fechado")
    google.refuse_course(course)
    refused = classroom_get(google, drive, f"courses/{course}/courseWorkMaterials")
    assert (refused.status_code, refused.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert classroom_get(google, drive, "courses").ok
    google.refuse_course(course, refused=False)
    assert classroom_get(google, drive, f"courses/{course}/courseWorkMaterials").ok


def test_post_paging_is_complete_while_posts_change(
    google: FakeGoogle, drive: requests.Session
) -> None:
    course = google.add_course("Química")
    ids = [google.add_coursework(course, f"Aula {i}", [youtube(f"v{i}", "v")]) for i in range(7)]
    path = f"courses/{course}/courseWork"
    newest_first = classroom_walk(google, drive, path, "courseWork", pageSize=3)
    assert [len(page) for page in newest_first] == [3, 3, 1]
    assert [p["id"] for page in newest_first for p in page] == list(reversed(ids))

    first = classroom_get(google, drive, path, pageSize=3, orderBy="updateTime asc").json()
    assert [p["id"] for p in first["courseWork"]] == ids[:3]
    google.update_coursework(course, ids[4], title="Aula 4 (editada)")
    google.update_coursework(course, ids[1], title="Aula 1 (editada)")
    rest = [first["courseWork"]]
    token = first["nextPageToken"]
    while token:
        body = classroom_get(
            google, drive, path, pageSize=3, orderBy="updateTime asc", pageToken=token
        ).json()
        rest.append(body["courseWork"])
        token = body.get("nextPageToken")
    seen = [p["id"] for page in rest for p in page]
    assert set(seen) == set(ids)  # an edited post moves behind the cursor: never skipped
    assert seen[-2:] == [ids[4], ids[1]]
    assert classroom_get(google, drive, path, orderBy="dueDate").status_code == 400


def test_classroom_page_tokens_and_sizes(google: FakeGoogle, drive: requests.Session) -> None:
    one, other = google.add_course("A"), google.add_course("B")
    for course in (one, other):
        for i in range(3):
            google.add_course_material(course, f"m{i}", [link(f"https://e.org/{course}/{i}")])
    path = f"courses/{one}/courseWorkMaterials"
    token = classroom_get(google, drive, path, pageSize=1).json()["nextPageToken"]
    foreign = classroom_get(google, drive, f"courses/{other}/courseWorkMaterials", pageToken=token)
    assert foreign.status_code == 400
    assert classroom_get(google, drive, path, pageToken="forged").status_code == 400
    assert classroom_get(google, drive, path, pageToken=token).status_code == 200
    google.expire_page_tokens()
    assert classroom_get(google, drive, path, pageToken=token).status_code == 400
    assert classroom_get(google, drive, path, pageSize=-1).status_code == 400
    assert classroom_get(google, drive, path, pageSize="x").status_code == 400
    google.classroom_page_cap = 2
    capped = classroom_walk(google, drive, path, "courseWorkMaterial", pageSize=100)
    assert [len(page) for page in capped] == [2, 1]


def test_classroom_faults_and_log(google: FakeGoogle, drive: requests.Session) -> None:
    course = google.add_course("C")
    google.fail_next(1, "503", match="/courseWork")
    failed = classroom_get(google, drive, f"courses/{course}/courseWork")
    assert (failed.status_code, error_reason(failed)) == (503, "backendError")
    google.fail_next(1, "429")
    assert classroom_get(google, drive, "courses").status_code == 429
    google.faults(rate=1.0, kinds=("500",))
    assert classroom_get(google, drive, "courses").status_code == 500
    google.clear_faults()
    google.clear_log()
    assert classroom_get(google, drive, "courses", pageSize=5).ok
    (record,) = google.requests
    assert (record.path, record.status, record.query) == ("/v1/courses", 200, {"pageSize": "5"})
