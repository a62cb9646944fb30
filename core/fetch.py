"""Running one download: the Drive runner, the yt-dlp runner, and the bookkeeping around both."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core import direct, notifications, ytdlp_runner
from core.db import session_scope
from core.downloads import file_of, hash_file, partial_dir, remove_partials, safe_name, state
from core.downloads.progress import Canceled, Progress
from core.downloads.state import DownloadState
from core.errors import AulaError, NotFound, PermanentError, TransientError, write_failed
from core.google import DriveClient
from core.models import Download
from core.netguard import Guard
from core.settings import Settings

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    sha256: str


def fetch_drive(
    client: DriveClient, file_id: str, part: Path, on_progress: Progress
) -> tuple[int, str, dict[str, Any]]:
    """Fetch a Drive file into `part`, resuming by Range, checking md5; (size, sha256, meta)."""
    meta = client.get_file(file_id)
    total = int(meta["size"]) if meta.get("size") else None
    sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324  (Drive's checksum is MD5)
    have = hash_file(part, sha, md5) if part.exists() else 0
    if total is not None and have > total:
        part.unlink()
        sha, md5, have = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324
    on_progress(have, total, None, None)  # the starting point: bytes counted from here on
    if total is None or have < total:
        response = client.media(file_id, f"bytes={have}-" if have else None)
        try:
            if have and response.status_code != 206:  # the range was ignored: start over
                sha, md5, have = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324
                part.unlink(missing_ok=True)
            have = _write_body(response, part, have, total, (sha, md5), on_progress)
        finally:
            response.close()
    on_progress(have, total, None, 0)
    expected = meta.get("md5Checksum")
    if expected and md5.hexdigest() != expected:
        part.unlink(missing_ok=True)
        raise TransientError("The downloaded bytes do not match Drive's md5Checksum; refetching.")
    return have, sha.hexdigest(), meta


def _write_body(
    response: Any,
    part: Path,
    have: int,
    total: int | None,
    hashes: tuple[Any, ...],
    on_progress: Progress,
) -> int:
    started, start_bytes = time.monotonic(), have
    try:
        with part.open("ab", buffering=0) as out:  # write errors surface at the write
            for chunk in response.raw.stream(CHUNK, decode_content=False):
                _write(out, chunk)
                for digest in hashes:
                    digest.update(chunk)
                have += len(chunk)
                elapsed = max(time.monotonic() - started, 1e-6)
                speed = (have - start_bytes) / elapsed
                eta = (total - have) / speed if total and speed else None
                if not on_progress(have, total, speed, eta):
                    raise Canceled()
    except (Canceled, AulaError):
        raise
    except Exception as error:  # urllib3 read errors: the next attempt resumes from `have`
        raise TransientError(
            f"The transfer from Drive broke off: {type(error).__name__}."
        ) from None
    return have


def _write(out: Any, chunk: bytes) -> None:
    view, written = memoryview(chunk), 0
    try:
        while written < len(view):  # an unbuffered file: a write may take part of the chunk
            written += out.write(view[written:])
    except OSError as error:
        raise write_failed(error, "the download") from None


def _finish(settings: Settings, download: Download, source: Path, sha256: str) -> Fetched:
    final = settings.download_dir / safe_name(download.title, download.id, source.suffix)
    final.parent.mkdir(parents=True, exist_ok=True)
    durable_replace(source, final)
    return Fetched(final, final.stat().st_size, sha256)


def durable_replace(source: Path, final: Path) -> None:
    """Rename `source` to `final` so that a power cut leaves the old state or the whole file:
    its bytes reach the disk before the rename, and the rename before this returns."""
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, final)  # atomic: same filesystem, and the name is unique to the download
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _suffix_for(meta: dict[str, Any]) -> str:
    name = str(meta.get("name") or "")
    suffix = Path(name).suffix
    return suffix or mimetypes.guess_extension(str(meta.get("mimeType") or "")) or ""


def run_drive(
    settings: Settings, download: Download, client: DriveClient, on_progress: Progress
) -> Fetched:
    """The Drive path: resumable, verified, renamed into place."""
    assert download.drive_file_id
    work = partial_dir(settings, download.id)
    work.mkdir(parents=True, exist_ok=True)
    part = work / "data.part"
    _size, sha256, meta = fetch_drive(client, download.drive_file_id, part, on_progress)
    named = part.with_name("data" + _suffix_for(meta))
    os.replace(part, named)
    if not download.title:
        download.title = str(meta.get("name") or "")
    return _finish(settings, download, named, sha256)


def run_url(
    settings: Settings, download: Download, cookies: Path | None, on_progress: Progress
) -> Fetched:
    """Any URL that is not a Drive file: a plain media file straight, everything else by yt-dlp.

    A URL naming a media file is fetched with core.direct (guarded, resumable, hashed while
    written); if it answers with a page or a playlist instead, yt-dlp takes over.
    """
    work = partial_dir(settings, download.id)
    work.mkdir(parents=True, exist_ok=True)
    if direct.is_media_url(download.url):
        part = work / "direct.part"
        try:
            return _run_direct(settings, download, cookies, part, on_progress)
        except direct.NotMedia:
            part.unlink(missing_ok=True)
    return _run_ytdlp(settings, download, cookies, on_progress)


def _run_direct(
    settings: Settings, download: Download, cookies: Path | None, part: Path, on_progress: Progress
) -> Fetched:
    result = direct.fetch_direct(
        download.url,
        part,
        guard=Guard(settings.download_allow_private_hosts),
        on_progress=on_progress,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        cookies=cookies,
    )
    named = part.with_name("data" + Path(urlsplit(download.url).path).suffix.lower())
    os.replace(part, named)
    if not download.title and result.title:
        download.title = result.title
    return _finish(settings, download, named, result.sha256)


def _run_ytdlp(
    settings: Settings, download: Download, cookies: Path | None, on_progress: Progress
) -> Fetched:
    """The yt-dlp path: pages, HLS and DASH, through the SSRF guard."""
    work = partial_dir(settings, download.id)
    try:
        result = ytdlp_runner.run_ytdlp(
            download.url,
            dest_dir=work / "done",
            work_dir=work,
            fmt=download.format,
            cookies_file=cookies,
            allow_private=settings.download_allow_private_hosts,
            on_progress=on_progress,
        )
    except Canceled:
        ytdlp_runner.kill_children()
        raise
    if not download.title and result.title:
        download.title = result.title
    return _finish(settings, download, result.path, result.sha256)


def already_done(settings: Settings, download: Download) -> bool:
    """True if the finished file is in place with the recorded checksum (nothing to fetch)."""
    try:
        path = file_of(settings, download)
    except NotFound:
        return False
    digest = hashlib.sha256()
    hash_file(path, digest)
    return digest.hexdigest() == download.sha256


def begin(settings: Settings, download_id: int, task_id: str | None) -> Download | None:
    """Mark a delivery; None if nothing is to be done. Fails a download whose worker keeps dying."""
    with session_scope(settings.database_url) as session:
        download = session.get(Download, download_id)
        if download is None or not state.legal(download, "begin"):
            return None
        if download.state == DownloadState.SUCCEEDED and already_done(settings, download):
            return None
        if not state.begin(download, task_id):
            notifications.record_download(session, settings, download)
            return None
        session.flush()
        session.expunge(download)
        return download


def succeed(settings: Settings, download: Download, fetched: Fetched) -> None:
    """Record the finished file and forget the work in progress."""
    with session_scope(settings.database_url) as session:
        row = session.get_one(Download, download.id)
        if not state.legal(row, "succeed"):  # canceled at the last moment: keep that outcome
            fetched.path.unlink(missing_ok=True)
            return
        file_path = fetched.path.relative_to(settings.download_dir).as_posix()
        state.succeed(row, file_path=file_path, size=fetched.size, sha256=fetched.sha256)
        row.title = download.title
        notifications.record_download(session, settings, row)
    remove_partials(settings, download.id)


def fail(settings: Settings, download_id: int, error: BaseException, *, final: bool) -> None:
    """Record a failure: final ones end the download; others wait for the retry."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    with session_scope(settings.database_url) as session:
        row = session.get(Download, download_id)
        if row is None or not state.legal(row, "fail"):  # canceled: that outcome stays
            return
        if final:
            state.fail(row, message)
            notifications.record_download(session, settings, row)
        else:
            state.requeue(row, message)
    if final:
        remove_partials(settings, download_id)


def release(settings: Settings, download_id: int) -> None:
    """A shutting-down worker hands the download back: queued again, partial file kept for the
    next delivery to resume, and this delivery not counted as a worker that died."""
    with session_scope(settings.database_url) as session:
        row = session.get(Download, download_id)
        if row is not None and state.legal(row, "release"):
            state.release(row)


def is_final(error: BaseException, retries: int, max_retries: int) -> bool:
    """Permanent errors end at once; transient ones once the retries are spent."""
    return (
        isinstance(error, PermanentError)
        or not isinstance(error, TransientError)
        or (retries >= max_retries)
    )
