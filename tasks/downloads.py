"""The downloads.fetch task: one download, resumable, cancelable, retried on transient errors."""

from __future__ import annotations

from typing import Any

from celery import signals

from core.base.errors import TransientError
from core.downloads import run
from core.downloads.cookies import remove_stale_cookies
from core.jobs.taskdefs import TaskName
from core.notify import notifications
from tasks import metrics
from tasks.app import AulaTask, app, services
from tasks.shutdown import WorkerStopping, stop_requested


@signals.worker_init.connect
def _remove_stale_cookies(**_: Any) -> None:
    remove_stale_cookies(services.settings)


@app.task(
    name=TaskName.DOWNLOADS_FETCH,
    bind=True,
    autoretry_for=(TransientError,),
    max_retries=4,
    retry_backoff=5,
    retry_backoff_max=300,
    count_crashes=False,  # run.begin bounds a download's deliveries, across task ids
)
def fetch_download(self: AulaTask, download_id: int) -> dict[str, Any]:
    """Fetch one download into DOWNLOAD_DIR.

    Idempotent: a finished file with the recorded checksum is not fetched again, and a partial
    file is resumed. Transient errors retry with backoff; a download whose worker keeps dying
    (redelivered without ever ending) fails after a few deliveries.
    """
    attempt = run.Attempt(self.request.id, self.request.retries, self.max_retries or 0)
    try:
        return run.execute(
            services,
            download_id,
            attempt,
            should_stop=stop_requested,
            meter=metrics,
            announce=lambda: notifications.dispatch(services),
        )
    except run.Stopped:  # the worker is shutting down: the download resumes elsewhere
        raise WorkerStopping() from None
