"""The Drive engine: a Drive file fetched by Range from where it stopped, checked against md5."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import time
from pathlib import Path
from typing import Any

from core.base.errors import AulaError, PermanentError, TransientError, write_failed
from core.downloads.engine import FetchJob, Staged
from core.downloads.files import hash_file
from core.downloads.progress import Canceled, Progress
from core.downloads.throttle import chunk_for, limited
from core.google.drive import DriveClient

CHUNK = 1024 * 1024


class DriveEngine:
    """Fetches Drive files with the service's Drive client."""

    def __init__(self, client: DriveClient, rate_bps: int | None = None) -> None:
        self.client, self.rate_bps = client, rate_bps

    def fetch(self, job: FetchJob, work: Path, on_progress: Progress) -> Staged:
        """The Drive file into `work`, named after its type; its title is the file's name."""
        if not job.drive_file_id:  # the router sends only Drive downloads here
            raise PermanentError("A Drive download without a Drive file id.")
        part = work / "data.part"
        capped = limited(on_progress, self.rate_bps)  # a token bucket on the stream
        chunk = chunk_for(self.rate_bps, CHUNK)
        _size, sha256, meta = fetch_drive(self.client, job.drive_file_id, part, capped, chunk)
        named = part.with_name("data" + _suffix_for(meta))
        os.replace(part, named)
        return Staged(named, sha256, str(meta.get("name") or ""))


def _md5() -> hashlib._Hash:
    """Drive's checksum for the comparison after the fetch: an integrity check, not security."""
    return hashlib.md5(usedforsecurity=False)


def fetch_drive(
    client: DriveClient, file_id: str, part: Path, on_progress: Progress, chunk: int = CHUNK
) -> tuple[int, str, dict[str, Any]]:
    """Fetch a Drive file into `part`, resuming by Range, checking md5; (size, sha256, meta)."""
    meta = client.get_file(file_id)
    total = int(meta["size"]) if meta.get("size") else None
    sha, md5 = hashlib.sha256(), _md5()
    have = hash_file(part, sha, md5) if part.exists() else 0
    if total is not None and have > total:
        part.unlink()
        sha, md5, have = hashlib.sha256(), _md5(), 0
    on_progress(have, total, None, None)  # the starting point: bytes counted from here on
    if total is None or have < total:
        response = client.media(file_id, f"bytes={have}-" if have else None)
        try:
            if have and response.status_code != 206:  # the range was ignored: start over
                sha, md5, have = hashlib.sha256(), _md5(), 0
                part.unlink(missing_ok=True)
            have = _write_body(response, part, have, total, (sha, md5), on_progress, chunk)
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
    chunk_size: int = CHUNK,
) -> int:
    started, start_bytes = time.monotonic(), have
    try:
        with part.open("ab", buffering=0) as out:  # write errors surface at the write
            for chunk in response.raw.stream(chunk_size, decode_content=False):
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


def _suffix_for(meta: dict[str, Any]) -> str:
    name = str(meta.get("name") or "")
    suffix = Path(name).suffix
    return suffix or mimetypes.guess_extension(str(meta.get("mimeType") or "")) or ""
