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
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from core.base.db import Database
from core.base.errors import NotFound, PermanentError, TransientError
from core.base.models import Download
from core.base.netguard import Guard
from core.base.services import Services
from core.base.settings import Settings
from core.catalog import accounts
from core.downloads import (
    catalog_link,
    direct,
    dispatch,
    download_tracks,
    nfo,
    payloads,
    playable,
    schedule,
    state,
    ytdlp,
)
from core.downloads.cookies import cookies_file
from core.downloads.drive import DriveEngine
from core.downloads.engine import Declined, Engine, Fetched, FetchJob, Staged
from core.downloads.files import file_of, hash_file, partial_dir, remove_partials, safe_name
from core.downloads.library import final_path
from core.downloads.progress import Canceled, Progress, ProgressTracker
from core.downloads.state import DownloadKind, DownloadState

log = logging.getLogger(__name__)


def engines_for(
    services: Services, job: FetchJob, cookies: Path | None, rate: int | None = None
) -> list[Engine]:
    """The engines to try for `job`, in order: Drive files by Drive; a URL naming a media file
    straight (core.downloads.direct), and yt-dlp if it answers with a page or a playlist instead.
    Each caps its transfer at `rate` bytes per second (None: no cap)."""
    settings = services.settings
    if job.kind == DownloadKind.DRIVE:
        # Through the account that catalogued the file while it is ok, else the first ok one.
        client = accounts.drive_client_for(settings, services.db, "drive", job.drive_file_id or "")
        return [DriveEngine(client, rate)]
    by_ytdlp = ytdlp.YtdlpEngine(
        settings.download_allow_private_hosts, cookies, rate, settings.subtitle_langs
    )
    if not direct.is_media_url(job.url):
        return [by_ytdlp]
    guard = Guard(settings.download_allow_private_hosts)
    timeouts = (settings.http_connect_timeout, settings.http_read_timeout)
    return [direct.DirectEngine(guard, timeouts, cookies, rate), by_ytdlp]


Namer = Callable[[FetchJob, Staged, "str | None"], Path]
"""Where a staged file goes (core.downloads.library.final_path, bound to its services)."""


def run(
    settings: Settings,
    job: FetchJob,
    engines: list[Engine],
    on_progress: Progress,
    namer: Namer | None = None,
) -> Fetched:
    """The first engine that does not decline fetches `job`; its file renamed into place (where
    `namer` says, else a safe name of its own in DOWNLOAD_DIR)."""
    work = partial_dir(settings, job.id)
    work.mkdir(parents=True, exist_ok=True)
    for engine in engines[:-1]:
        with contextlib.suppress(Declined):
            return _finish(settings, job, engine.fetch(job, work, on_progress), namer)
    return _finish(settings, job, engines[-1].fetch(job, work, on_progress), namer)


def _finish(settings: Settings, job: FetchJob, staged: Staged, namer: Namer | None) -> Fetched:
    title = staged.title if not job.title and staged.title is not None else job.title
    if namer is None:
        final = settings.download_dir / safe_name(title, job.id, staged.path.suffix)
    else:
        final = namer(job, staged, title)
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
        item_id = row.item_id
    remove_partials(settings, download_id)
    if item_id is not None:
        playable.auto_convert(services, [item_id])  # AUTO_CONVERT (CONTRACT 8.4)
    if settings.write_nfo:
        try:
            nfo.write_for(services, download_id)
        except Exception:  # the file is in place: metadata missing is no reason to fail it
            log.warning("could not write the .nfo files of download %d", download_id, exc_info=True)


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


class Paused(Exception):
    """Downloads were paused: this one went back to queued, its partial files kept."""


def execute(
    services: Services,
    download_id: int,
    attempt: Attempt,
    *,
    should_stop: Callable[[], bool],
    meter: Meter,
    announce: Callable[[], object],
) -> dict[str, Any]:
    """One delivery of a download (see _execute), inside a cluster-wide slot: while paused, or
    with every slot taken, it waits queued (`waiting_reason`) for a dispatch to send it again."""
    admission = dispatch.Admission(services, download_id)
    waiting = admission.enter()
    if waiting is not None:
        return {"download_id": download_id, "waiting": str(waiting)}
    try:
        return _execute(
            services, download_id, attempt, admission,
            should_stop=should_stop, meter=meter, announce=announce,
        )  # fmt: skip
    except Paused:
        return {"download_id": download_id, "waiting": str(schedule.WaitingReason.PAUSED)}
    finally:
        admission.leave()


def _execute(
    services: Services,
    download_id: int,
    attempt: Attempt,
    admission: dispatch.Admission,
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

    paused = schedule.PauseWatch(services.db, services.settings)

    def report(done: int, total: int | None, speed: float | None, eta: float | None) -> bool:
        admission.renew()
        return tracker(done, total, speed, eta) and not should_stop() and not paused()

    started = time.monotonic()

    def ended(outcome: str) -> None:
        meter.download_ended(outcome, time.monotonic() - started)

    meter.download_started()
    try:
        stops = (should_stop, paused)
        result = _once(services, job, attempt, report, stops, ended, announce)
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
    stops: tuple[Callable[[], bool], Callable[[], bool]],
    ended: Callable[[str], None],
    announce: Callable[[], object],
) -> Fetched | None:
    should_stop, paused = stops
    rate = schedule.current(services.db, services.settings).rate_limit_bps
    try:
        with _cookies_for(services, job) as cookies:
            engines = engines_for(services, job, cookies, rate)
            return run(services.settings, job, engines, report, partial(final_path, services))
    except Canceled:
        if should_stop():  # not a cancel: the worker is shutting down; resume elsewhere
            release(services.db, job.id)
            ended("released")
            raise Stopped() from None
        if paused() and _hold_paused(services, job.id):  # queued again, partial files kept
            ended("paused")
            raise Paused() from None
        ended("canceled")
        return None
    except Exception as error:
        final = is_final(error, attempt.retries, attempt.max_retries)
        fail(services, job.id, error, final=final)
        ended("failed" if final else "retried")
        if final:
            announce()
        raise


def _hold_paused(services: Services, download_id: int) -> bool:
    with services.db.session() as session:
        reason = schedule.WaitingReason.PAUSED
        return schedule.hold(session, download_id, reason, stopped=True) is not None


def _cookies_for(services: Services, job: FetchJob) -> AbstractContextManager[Path | None]:
    return nullcontext() if job.kind == DownloadKind.DRIVE else cookies_file(services)
