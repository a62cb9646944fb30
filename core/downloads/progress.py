"""How an engine reports progress, how it is told to stop, and where progress is written."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.base.db import Database
from core.base.models import Download
from core.downloads.state import DownloadState

Progress = Callable[[int, int | None, float | None, float | None], bool]
"""on_progress(done_bytes, total_bytes, speed_bps, eta_s): False asks the engine to stop."""


class Canceled(Exception):
    """The progress callback answered stop (a cancel, or a worker shutting down)."""


class ProgressTracker:
    """Throttled progress writes; tells the runner to stop once the download is canceled."""

    def __init__(
        self,
        db: Database,
        download_id: int,
        interval: float,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self.db, self.download_id, self.interval = db, download_id, interval
        self.on_bytes = on_bytes
        self._last_write = float("-inf")
        self._last_bytes: int | None = None
        self._peak = 0
        self._canceled = False

    def __call__(
        self, done: int, total: int | None, speed: float | None, eta: float | None
    ) -> bool:
        if self._last_bytes is not None and done > self._last_bytes and self.on_bytes:
            self.on_bytes(done - self._last_bytes)
        self._last_bytes = done
        now = time.monotonic()
        finished = total is not None and done >= total
        if finished or now - self._last_write >= self.interval:
            self._last_write = now
            self._write(max(done, self._peak), total, speed, eta)
        return not self._canceled

    def _write(self, done: int, total: int | None, speed: float | None, eta: float | None) -> None:
        self._peak = done  # progress only rises, even when a resumed run starts lower
        percent = round(min(100.0, 100.0 * done / total), 1) if total else None
        with self.db.session() as session:
            row = session.get(Download, self.download_id)
            if row is None or row.state == DownloadState.CANCELED:
                self._canceled = True
                return
            row.progress = {
                "downloaded_bytes": done,
                "total_bytes": total,
                "percent": percent,
                "speed_bps": round(speed) if speed else None,
                "eta_s": round(eta) if eta is not None else None,
            }
