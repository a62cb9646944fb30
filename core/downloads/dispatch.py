"""Starting downloads when the schedule lets them: the sending side holds them outside every
window or while paused; the worker side takes a cluster-wide slot (a Redis semaphore) before it
fetches; waiting downloads are sent again (by beat, by a settings change, by a slot freed).

Windows are checked when a download is sent, not when a worker picks it up: a download sent in
its window runs even if the worker reaches it a little after the window closed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select

from core.base.models import Download
from core.base.semaphore import Semaphore
from core.base.services import Services
from core.downloads import schedule
from core.downloads.schedule import WaitingReason
from core.downloads.state import ACTIVE, DownloadState
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName

log = logging.getLogger(__name__)
SLOTS_KEY = "aula:downloads:slots"  # a wire name: every worker shares it
LEASE_S = 120.0  # a dead worker's slot frees itself after this
RENEW_S = 20.0


def slots(services: Services) -> Semaphore:
    """The cluster-wide semaphore of running downloads."""
    return Semaphore(services.redis(), SLOTS_KEY, LEASE_S)


def start(
    services: Services,
    download: Download,
    send: Callable[[Services, Download], Download],
    now: datetime | None = None,
) -> Download:
    """Send a new (or retried) queued download with `send`, or hold it with its reason."""
    current = schedule.current(services.db, services.settings)
    reason = current.gate(now or schedule.utc_now())
    if reason is None:
        if download.waiting_reason is not None:  # a retried one that waited before
            with services.db.session() as session:
                schedule.claim(session, download.id, download.waiting_reason)
        return send(services, download)
    with services.db.session() as session:
        held = schedule.hold(session, download.id, reason)
    if held is not None:
        log.info("download %d waits: %s", download.id, reason)
    return held or download


def _send(services: Services, download_id: int) -> Download | None:
    record = jobs.enqueue(
        services.db, services.broker, TaskName.DOWNLOADS_FETCH, {"download_id": download_id}
    )
    with services.db.session() as session:
        row = session.get(Download, download_id)
        if row is not None:
            row.task_id = record.id
        return row


def dispatch(services: Services, now: datetime | None = None) -> int:
    """Send waiting downloads, oldest first, as many as the concurrency has room for, if the
    schedule lets downloads start at `now`; how many were sent. Idempotent: each waiting
    download is claimed by one guarded UPDATE, so two dispatchers never send one twice."""
    current = schedule.current(services.db, services.settings)
    if current.gate(now or schedule.utc_now()) is not None:
        return 0
    with services.db.session() as session:
        in_flight = session.scalar(
            select(func.count()).select_from(Download).where(
                Download.state.in_(ACTIVE), Download.waiting_reason.is_(None)
            )
        ) or 0  # fmt: skip
        room = current.concurrency - max(in_flight, slots(services).count())
        waiting = list(
            session.execute(
                select(Download.id, Download.waiting_reason)
                .where(Download.state == DownloadState.QUEUED, Download.waiting_reason.is_not(None))
                .order_by(Download.id)
                .limit(max(room, 0))
            )
        )
    sent = 0
    for download_id, reason in waiting:  # reason: never None (selected so)
        with services.db.session() as session:
            if schedule.claim(session, download_id, str(reason)) is None:
                continue  # canceled, or another dispatcher took it
        try:
            _send(services, download_id)
        except Exception:
            with services.db.session() as session:
                schedule.hold(session, download_id, WaitingReason(str(reason)))
            raise
        sent += 1
    if sent:
        log.info("sent %d waiting downloads", sent)
    return sent


class Admission:
    """A worker's slot for one download: taken before it runs, renewed while it runs."""

    def __init__(self, services: Services, download_id: int) -> None:
        self.services, self.holder = services, str(download_id)
        self.download_id = download_id
        self.slots = slots(services)
        self._renewed = time.monotonic()
        self.held = False

    def enter(self) -> WaitingReason | None:
        """Take a slot; the reason to wait instead (the download held with it), or None."""
        current = schedule.current(self.services.db, self.services.settings)
        reason: WaitingReason | None = None
        if current.paused:
            reason = WaitingReason.PAUSED
        elif not self.slots.acquire(self.holder, current.concurrency):
            reason = WaitingReason.CONCURRENCY
        if reason is None:
            self.held = True
            return None
        with self.services.db.session() as session:
            schedule.hold(session, self.download_id, reason)
        return reason

    def renew(self) -> None:
        """Keep the slot's lease (called from the progress callback; cheap between renewals)."""
        now = time.monotonic()
        if self.held and now - self._renewed >= RENEW_S:
            self._renewed = now
            self.slots.acquire(self.holder, 1 << 30)  # ours already: renewing never refuses

    def leave(self) -> None:
        """Give the slot back and start the next waiting download in it."""
        if not self.held:
            return
        self.held = False
        self.slots.release(self.holder)
        try:
            dispatch(self.services)
        except Exception:  # beat's dispatch sends it later: a broker hiccup loses nothing
            log.warning("could not send the next waiting download", exc_info=True)
