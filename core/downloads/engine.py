"""The Engine protocol every way of fetching implements, and what goes in and out of one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.base.models import Download
from core.downloads.progress import Progress


@dataclass(frozen=True)
class FetchJob:
    """What an engine knows of a download: values copied from its row, never the row itself."""

    id: int
    url: str
    kind: str
    drive_file_id: str | None
    format: str | None
    title: str | None

    @classmethod
    def of(cls, download: Download) -> FetchJob:
        """The job of a download row."""
        return cls(
            download.id,
            download.url,
            download.kind,
            download.drive_file_id,
            download.format,
            download.title,
        )


@dataclass(frozen=True)
class Staged:
    """An engine's whole file, still in the work folder; its sha256; the title it found."""

    path: Path
    sha256: str
    title: str | None
    # What the source says of it, for DOWNLOAD_TEMPLATE (yt-dlp's uploader and upload_date).
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fetched:
    """A finished file with its size, sha256 and title: in DOWNLOAD_DIR once a download ends."""

    path: Path
    size: int
    sha256: str
    title: str | None
    meta: Mapping[str, str] = field(default_factory=dict)


class Declined(Exception):
    """This engine does not handle this URL after all (nothing kept): the next one does."""


class Engine(Protocol):
    """One way of fetching a download into its work folder, resuming what is there.

    `on_progress` gets rising byte counts; when it answers False the engine raises Canceled and
    leaves its partial files for a later delivery to resume. Errors come back typed
    (core.base.errors): transient ones are retried, permanent ones end the download."""

    def fetch(self, job: FetchJob, work: Path, on_progress: Progress) -> Staged:
        """Fetch `job` into `work`; the staged file. Raises Declined, Canceled or AulaError."""
        ...
