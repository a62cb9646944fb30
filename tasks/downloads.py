"""The downloads.fetch task: one download, resumable, cancelable, retried on transient errors."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from celery import signals

from core import cookies, fetch, notifications
from core.downloads.engine import Job
from core.downloads.progress import Canceled, Progress, ProgressTracker
from core.errors import NotFound, TransientError
from core.logging import register_secret
from core.settings import Settings, get_settings
from core.vault import Vault
from tasks import metrics
from tasks.app import AulaTask, app
from tasks.shutdown import WorkerStopping, stop_requested

COOKIES_PREFIX = "cookies-"


def _cookies_prefix() -> str:
    # Names its owner, so that a worker starting after a SIGKILL knows which files are orphans.
    return f"{COOKIES_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def _orphaned(name: str, host: str) -> bool:
    # cookies-<host>-<pid>-<random>.txt (mkstemp's random part has no "-")
    parts = name.removeprefix(COOKIES_PREFIX).removesuffix(".txt").rsplit("-", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False  # another host's (or an older name): judged by its age only
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale_cookies(settings: Settings) -> int:
    """Remove cookies files whose worker process is gone (a SIGKILL skips the `finally` that
    removes them), and any older than a task may run. Returns how many were removed."""
    removed, host = 0, socket.gethostname()
    oldest = time.time() - settings.task_time_limit_s
    for path in settings.temp_dir.glob(f"{COOKIES_PREFIX}*.txt"):
        try:
            stale = path.stat().st_mtime < oldest or _orphaned(path.name, host)
            if stale:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


@signals.worker_init.connect
def _remove_stale_cookies(**_: Any) -> None:
    remove_stale_cookies(get_settings())


@contextmanager
def cookies_file(settings: Settings) -> Iterator[Path | None]:
    """The stored cookies.txt as a mode-0600 file that exists only inside this block."""
    try:
        secret = Vault(settings.database_url, settings.fernet_keys).get("cookies")
    except NotFound:
        yield None
        return
    for value in cookies.values(secret):
        register_secret(value)  # a bare value in a yt-dlp line is redacted too
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=_cookies_prefix(), suffix=".txt", dir=settings.temp_dir)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _cookies_for(settings: Settings, job: Job) -> AbstractContextManager[Path | None]:
    return nullcontext() if job.kind == "drive" else cookies_file(settings)


def _until_shutdown(tracker: Progress) -> Progress:
    """The progress tracker, also answering "stop" once the worker's shutdown grace is over."""

    def report(done: int, total: int | None, speed: float | None, eta: float | None) -> bool:
        return tracker(done, total, speed, eta) and not stop_requested()

    return report


@app.task(
    name="downloads.fetch",
    bind=True,
    autoretry_for=(TransientError,),
    max_retries=4,
    retry_backoff=5,
    retry_backoff_max=300,
    count_crashes=False,  # core.fetch.begin bounds a download's deliveries, across task ids
)
def fetch_download(self: AulaTask, download_id: int) -> dict[str, Any]:
    """Fetch one download into DOWNLOAD_DIR.

    Idempotent: a finished file with the recorded checksum is not fetched again, and a partial
    file is resumed. Transient errors retry with backoff; a download whose worker keeps dying
    (redelivered without ever ending) fails after a few deliveries.
    """
    settings = get_settings()
    job = fetch.begin(settings, download_id, self.request.id)
    if job is None:
        notifications.dispatch(settings, app)  # a download that failed here was announced
        return {"download_id": download_id, "skipped": True}
    tracker: Progress = ProgressTracker(
        settings.database_url, download_id, settings.progress_interval_s, metrics.download_bytes
    )
    tracker = _until_shutdown(tracker)
    started = time.monotonic()
    metrics.download_started()
    try:
        with _cookies_for(settings, job) as cookies:
            result = fetch.run(settings, job, fetch.engines_for(settings, job, cookies), tracker)
    except Canceled:
        if stop_requested():  # not a cancel: the worker is shutting down; resume elsewhere
            fetch.release(settings, download_id)
            metrics.download_ended("released", time.monotonic() - started)
            raise WorkerStopping() from None
        metrics.download_ended("canceled", time.monotonic() - started)
        return {"download_id": download_id, "canceled": True}
    except Exception as error:
        final = fetch.is_final(error, self.request.retries, self.max_retries or 0)
        fetch.fail(settings, download_id, error, final=final)
        metrics.download_ended("failed" if final else "retried", time.monotonic() - started)
        if final:
            notifications.dispatch(settings, app)
        raise
    finally:
        metrics.download_finished()
    fetch.succeed(settings, download_id, result)
    notifications.dispatch(settings, app)
    metrics.download_ended("succeeded", time.monotonic() - started)
    return {"download_id": download_id, "size_bytes": result.size, "sha256": result.sha256}
