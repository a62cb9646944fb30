"""Running one download: its engines in turn, the bookkeeping around them, the task's body."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.base.db import Database
from core.base.errors import NotFound, PermanentError, TransientError
from core.base.models import Download
from core.base.netguard import Guard
from core.base.services import Services
from core.base.settings import Settings
from core.downloads import catalog_link, direct, download_tracks, payloads, state, ytdlp
from core.downloads.cookies import cookies_file
from core.downloads.drive import DriveEngine
from core.downloads.engine import Declined, Engine, Fetched, FetchJob, Staged
from core.downloads.files import file_of, hash_file, partial_dir, remove_partials, safe_name
from core.downloads.progress import Canceled, Progress, ProgressTracker
from core.downloads.state import DownloadKind, DownloadState
from core.google.drive import DriveClient

log = logging.getLogger(__name__)


def engines_for(services: Services, job: FetchJob, cookies: Path | None) -> list[Engine]:
    """The engines to try for `job`, in order: Drive files by Drive; a URL naming a media file
    straight (core.downloads.direct), and yt-dlp if it answers with a page or a playlist instead."""
    settings = services.settings
    if job.kind == DownloadKind.DRIVE:
        return [DriveEngine(DriveClient.from_settings(settings, services.db))]
    by_ytdlp = ytdlp.YtdlpEngine(
        settings.download_allow_private_hosts, cookies, settings.subtitle_langs
    )
    if not direct.is_media_url(job.url):
        return [by_ytdlp]
    guard = Guard(settings.download_allow_private_hosts)
    timeouts = (settings.http_connect_timeout, settings.http_read_timeout)
    return [direct.DirectEngine(guard, timeouts, cookies), by_ytdlp]


def run(settings: Settings, job: FetchJob, engines: list[Engine], on_progress: Progress) -> Fetched:
    """The first engine that does not decline fetches `job`; its file renamed into place."""
    work = partial_dir(settings, job.id)
    work.mkdir(parents=True, exist_ok=True)
    for engine in engines[:-1]:
        with contextlib.suppress(Declined):
            return _finish(settings, job, engine.fetch(job, work, on_progress))
    return _finish(settings, job, engines[-1].fetch(job, work, on_progress))


def _finish(settings: Settings, job: FetchJob, staged: Staged) -> Fetched:
    title = staged.title if not job.title and staged.title is not None else job.title
    final = settings.download_dir / safe_name(title, job.id, staged.path.suffix)
    final.parent.mkdir(parents=True, exist_ok=True)
    durable_replace(staged.path, final)
    download_tracks.move_beside(staged.path, final)
    return Fetched(final, final.stat().st_size, staged.sha256, title)


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


def already_done(settings: Settings, download: Download) -> bool:
    """True if the finished file is in place with the recorded checksum (nothing to fetch)."""
    try:
        path = file_of(settings, download)
    except NotFound:
        return False
    digest = hashlib.sha256()
    hash_file(path, digest)
    return digest.hexdigest() == download.sha256


def begin(services: Services, download_id: int, task_id: str | None) -> FetchJob | None:
    """Mark a delivery; None if nothing is to be done. Fails a download whose worker keeps dying."""
    settings = services.settings
    with services.db.session() as session:
        download = session.get(Download, download_id)
        if download is None or not state.legal(download, "begin"):
            return None
        if download.state == DownloadState.SUCCEEDED and already_done(settings, download):
            return None
        row = state.begin(session, download_id, task_id)  # None: canceled a moment ago
        if row is None:
            return None
        if row.state == DownloadState.RUNNING:
            return FetchJob.of(row)
        payloads.record_download(session, settings, row)  # failed: its worker kept dying
    remove_partials(settings, download_id)  # a final failure, as in fail()
    return None


def succeed(services: Services, download_id: int, fetched: Fetched) -> None:
    """Record the finished file and forget the work in progress."""
    settings = services.settings
    facts = catalog_link.facts_of(fetched.path)
    found = download_tracks.read(fetched.path)
    file_path = fetched.path.relative_to(settings.download_dir).as_posix()
    with services.db.session() as session:
        row = state.succeed(
            session, download_id, file_path=file_path, size=fetched.size,
            sha256=fetched.sha256, title=fetched.title,
        )  # fmt: skip
        if row is None:  # canceled at the last moment: keep that outcome
            fetched.path.unlink(missing_ok=True)
            return
        catalog_link.link(session, row, facts)  # in the same transaction: found once it ended
        download_tracks.write(session, row.item_id, found)  # subtitles and chapters, likewise
        payloads.record_download(session, settings, row)
    remove_partials(settings, download_id)


def fail(services: Services, download_id: int, error: BaseException, *, final: bool) -> None:
    """Record a failure: final ones end the download; others wait for the retry."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    settings = services.settings
    with services.db.session() as session:
        if not final:
            state.requeue(session, download_id, message)
            return
        row = state.fail(session, download_id, message)
        if row is None:  # canceled: that outcome stays
            return
        catalog_link.unlink(session, row)
        payloads.record_download(session, settings, row)
    remove_partials(settings, download_id)


def release(db: Database, download_id: int) -> None:
    """A shutting-down worker hands the download back: queued again, partial file kept for the
    next delivery to resume, and this delivery not counted as a worker that died."""
    with db.session() as session:
        state.release(session, download_id)


def is_final(error: BaseException, retries: int, max_retries: int) -> bool:
    """Permanent errors end at once; transient ones once the retries are spent."""
    return (
        isinstance(error, PermanentError)
        or not isinstance(error, TransientError)
        or (retries >= max_retries)
    )


# ---------------------------------------------------------------- one delivery of the task


@dataclass(frozen=True)
class Attempt:
    """The task delivery running a download: its id and how many retries it has had and has."""

    task_id: str | None
    retries: int
    max_retries: int


class Meter(Protocol):
    """Where a download run is counted (tasks.metrics)."""

    def download_started(self) -> None: ...
    def download_finished(self) -> None: ...
    def download_bytes(self, count: int) -> None: ...
    def download_ended(self, state: str, seconds: float) -> None: ...


class Stopped(Exception):
    """The worker is shutting down: the download was handed back for a later delivery."""


def execute(
    services: Services,
    download_id: int,
    attempt: Attempt,
    *,
    should_stop: Callable[[], bool],
    meter: Meter,
    announce: Callable[[], object],
) -> dict[str, Any]:
    """One delivery of a download, from begin to its end; the task's answer.

    Stops when the download is canceled, or (raising Stopped, the download released) when
    `should_stop()` turns true. Errors are recorded, final or to retry, and raised again.
    `announce()` sends the events that a download which ended has recorded."""
    job = begin(services, download_id, attempt.task_id)
    if job is None:
        announce()  # a download that failed here was announced
        return {"download_id": download_id, "skipped": True}
    tracker = ProgressTracker(
        services.db, download_id, services.settings.progress_interval_s, meter.download_bytes
    )

    def report(done: int, total: int | None, speed: float | None, eta: float | None) -> bool:
        return tracker(done, total, speed, eta) and not should_stop()

    started = time.monotonic()

    def ended(outcome: str) -> None:
        meter.download_ended(outcome, time.monotonic() - started)

    meter.download_started()
    try:
        result = _once(services, job, attempt, report, should_stop, ended, announce)
    finally:
        meter.download_finished()
    if result is None:
        return {"download_id": download_id, "canceled": True}
    succeed(services, download_id, result)
    announce()
    ended("succeeded")
    return {"download_id": download_id, "size_bytes": result.size, "sha256": result.sha256}


def _once(
    services: Services,
    job: FetchJob,
    attempt: Attempt,
    report: Progress,
    should_stop: Callable[[], bool],
    ended: Callable[[str], None],
    announce: Callable[[], object],
) -> Fetched | None:
    try:
        with _cookies_for(services, job) as cookies:
            return run(services.settings, job, engines_for(services, job, cookies), report)
    except Canceled:
        if should_stop():  # not a cancel: the worker is shutting down; resume elsewhere
            release(services.db, job.id)
            ended("released")
            raise Stopped() from None
        ended("canceled")
        return None
    except Exception as error:
        final = is_final(error, attempt.retries, attempt.max_retries)
        fail(services, job.id, error, final=final)
        ended("failed" if final else "retried")
        if final:
            announce()
        raise


def _cookies_for(services: Services, job: FetchJob) -> AbstractContextManager[Path | None]:
    return nullcontext() if job.kind == DownloadKind.DRIVE else cookies_file(services)
