"""When downloads run (CONTRACT 8.5): pause, windows, rate and concurrency, read by every process
from one database row (settings give the defaults), and the reasons a queued download waits."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import case
from sqlalchemy.orm import Session

from core.base import schedule_values
from core.base.db import Database
from core.base.errors import ValidationFailed
from core.base.models import Download
from core.base.schedule_model import DownloadSchedule
from core.base.settings import Settings
from core.base.transitions import transition
from core.downloads.state import DownloadState

ROW_ID = 1
MAX_RATE = 1 << 40
MAX_CONCURRENCY = 64


class WaitingReason(StrEnum):
    """Why a queued download is not running (downloads.waiting_reason)."""

    PAUSED = "paused"
    OUTSIDE_WINDOW = "outside_window"
    CONCURRENCY = "concurrency"


@dataclass(frozen=True)
class Schedule:
    """The download schedule as GET /api/settings/downloads shows it."""

    paused: bool
    windows: list[str]
    rate_limit_bps: int | None
    concurrency: int

    def gate(self, now: datetime) -> WaitingReason | None:
        """Why a download may not start at `now` (paused, outside every window), or None."""
        if self.paused:
            return WaitingReason.PAUSED
        if not schedule_values.in_windows(self.windows, now):
            return WaitingReason.OUTSIDE_WINDOW
        return None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape."""
        return asdict(self)


def defaults(settings: Settings) -> Schedule:
    """The schedule from DOWNLOAD_WINDOWS, DOWNLOAD_RATE_LIMIT and DOWNLOAD_CONCURRENCY."""
    return Schedule(
        False,
        list(settings.download_windows),
        settings.download_rate_limit,
        settings.download_concurrency,
    )


def current(db: Database, settings: Settings) -> Schedule:
    """The schedule now: the stored row, else the settings' defaults."""
    with db.session() as session:
        row = session.get(DownloadSchedule, ROW_ID)
        if row is None:
            return defaults(settings)
        return Schedule(row.paused, list(row.windows), row.rate_limit_bps, row.concurrency)


def validated(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes of a PATCH, checked: ValidationFailed (400) names the field."""
    checked = dict(changes)
    if "windows" in changes:
        try:
            checked["windows"] = schedule_values.check_windows(list(changes["windows"]))
        except ValueError as error:
            raise ValidationFailed(f"windows: {error}.", {"field": "windows"}) from None
    rate = changes.get("rate_limit_bps")
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise ValidationFailed(
            "rate_limit_bps: a positive number of bytes per second, or null for no limit.",
            {"field": "rate_limit_bps"},
        )
    if "concurrency" in changes and not 1 <= changes["concurrency"] <= MAX_CONCURRENCY:
        raise ValidationFailed(
            f"concurrency: 1 to {MAX_CONCURRENCY} downloads at once.", {"field": "concurrency"}
        )
    return checked


def update(db: Database, settings: Settings, changes: dict[str, Any]) -> tuple[Schedule, Schedule]:
    """Store the changed fields; (before, after)."""
    checked = validated(changes)
    before = current(db, settings)
    after = replace(before, **checked)
    with db.session() as session:
        row = session.get(DownloadSchedule, ROW_ID) or DownloadSchedule(id=ROW_ID)
        row.paused, row.windows = after.paused, list(after.windows)
        row.rate_limit_bps, row.concurrency = after.rate_limit_bps, after.concurrency
        session.add(row)
    return before, after


def hold(
    session: Session, download_id: int, reason: WaitingReason, *, stopped: bool = False
) -> Download | None:
    """A queued (or picked up) download waits for `reason`, queued, its partial files kept.
    With `stopped`, a running one that was stopped: this delivery not counted as one whose
    worker died (as a shutting-down worker's release)."""
    values: dict[str, Any] = {"state": DownloadState.QUEUED, "waiting_reason": str(reason)}
    if stopped:
        values["deliveries"] = case((Download.deliveries > 0, Download.deliveries - 1), else_=0)
        return transition(session, Download, download_id, {DownloadState.RUNNING}, values)
    sources = {DownloadState.QUEUED, DownloadState.RUNNING}
    return transition(session, Download, download_id, sources, values)


def claim(session: Session, download_id: int, reason: str) -> Download | None:
    """A waiting download taken to be sent: one sender only (its reason is cleared)."""
    return transition(
        session, Download, download_id, {DownloadState.QUEUED}, {"waiting_reason": None},
        where=[Download.waiting_reason == reason],
    )  # fmt: skip


class PauseWatch:
    """Whether downloads were paused, read from the database at most every `interval_s`."""

    def __init__(self, db: Database, settings: Settings, interval_s: float = 1.0) -> None:
        self.db, self.settings, self.interval_s = db, settings, interval_s
        self._checked = float("-inf")
        self._paused = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._checked >= self.interval_s:
            self._checked = now
            self._paused = current(self.db, self.settings).paused
        return self._paused


def utc_now() -> datetime:
    """The clock the gate reads by default."""
    return datetime.now(UTC)
