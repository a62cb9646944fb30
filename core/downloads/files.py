"""Where a download's files live: safe names, work in progress, the finished file, hashing."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any

from core.base.errors import NotFound
from core.base.models import Download
from core.base.settings import Settings
from core.downloads.state import DownloadState


def safe_name(title: str | None, download_id: int, suffix: str) -> str:
    """A file name that is safe on every filesystem and unique to the download."""
    plain = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._ -]+", "", plain).strip(" .-")[:100] or "download"
    suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
    return f"{slug.replace(' ', '_')}-{download_id}{suffix.lower()}"


def hash_file(path: Path, *digests: Any, block: int = 1024 * 1024) -> int:
    """Feed the file's bytes to every digest; return its size (resuming, verifying, recording)."""
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            for digest in digests:
                digest.update(chunk)
            size += len(chunk)
    return size


def partial_dir(settings: Settings, download_id: int) -> Path:
    """Where a download's work in progress lives (removed when it ends)."""
    return settings.download_dir / ".partial" / str(download_id)


def remove_partials(settings: Settings, download_id: int) -> None:
    """Delete a download's work in progress."""
    shutil.rmtree(partial_dir(settings, download_id), ignore_errors=True)


def file_of(settings: Settings, download: Download) -> Path:
    """The finished file of a download, confined to DOWNLOAD_DIR; NotFound otherwise."""
    if download.state != DownloadState.SUCCEEDED or not download.file_path:
        raise NotFound("This download has no finished file.")
    root = settings.download_dir.resolve()
    path = (root / download.file_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("The downloaded file is missing from DOWNLOAD_DIR.")
    return path
