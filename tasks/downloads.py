"""The downloads.fetch task: one download, resumable, cancelable, retried on transient errors."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import fetch
from core.errors import NotFound, TransientError
from core.google import DriveClient
from core.settings import Settings, get_settings
from core.vault import Vault
from tasks import metrics
from tasks.app import AulaTask, app
from tasks.shutdown import WorkerStopping, stop_requested


@contextmanager
def cookies_file(settings: Settings) -> Iterator[Path | None]:
    """The stored cookies.txt as a mode-0600 file that exists only inside this block."""
    try:
        secret = Vault(settings.database_url, settings.fernet_keys).get("cookies")
    except NotFound:
        yield None
        return
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="cookies-", suffix=".txt", dir=settings.temp_dir)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _until_shutdown(tracker: fetch.Progress) -> fetch.Progress:
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
    download = fetch.begin(settings, download_id, self.request.id)
    if download is None:
        return {"download_id": download_id, "skipped": True}
    tracker: fetch.Progress = fetch.ProgressTracker(
        settings.database_url, download_id, settings.progress_interval_s, metrics.download_bytes
    )
    tracker = _until_shutdown(tracker)
    started = time.monotonic()
    metrics.download_started()
    try:
        if download.kind == "drive":
            result = fetch.run_drive(
                settings, download, DriveClient.from_settings(settings), tracker
            )
        else:
            with cookies_file(settings) as cookies:
                result = fetch.run_url(settings, download, cookies, tracker)
    except fetch.Canceled:
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
        raise
    finally:
        metrics.download_finished()
    fetch.succeed(settings, download, result)
    metrics.download_ended("succeeded", time.monotonic() - started)
    return {"download_id": download_id, "size_bytes": result.size, "sha256": result.sha256}
