"""The media.convert task: an item's video remuxed or transcoded into a playable MP4."""

from __future__ import annotations

from typing import Any

from core.downloads import playable
from core.jobs.taskdefs import TaskName
from core.media.ffmpeg import Stopped
from tasks.app import AulaTask, app, services
from tasks.shutdown import WorkerStopping, stop_requested


@app.task(name=TaskName.MEDIA_CONVERT, bind=True, autoretry_for=(), max_retries=0)
def convert(self: AulaTask, item_id: int) -> dict[str, Any]:
    """Convert item `item_id`'s file into the converted-file cache (queue `media`).

    Idempotent: a cached conversion of the same original is kept. Never retried: a file
    ffmpeg cannot convert, or one that outruns the time, CPU or memory limits, fails at once
    with `media.error` set on the item. A cancel kills ffmpeg's process group at once.
    """
    try:
        return playable.run(services, item_id, self.progress, should_stop=stop_requested)
    except Stopped:  # the worker is shutting down: the conversion runs again elsewhere
        raise WorkerStopping() from None
