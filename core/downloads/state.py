"""A download's states and the transitions between them, each one guarded UPDATE."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, literal
from sqlalchemy.orm import Session

from core.base.errors import Conflict, NotFound
from core.base.models import Download, utcnow
from core.base.transitions import transition


class DownloadKind(StrEnum):
    """How a download is fetched (stored as its value in downloads.kind)."""

    DRIVE = "drive"  # through the Drive API, by file id
    YTDLP = "ytdlp"  # by URL: a direct link, else yt-dlp


class DownloadState(StrEnum):
    """Where a download is in its life (stored as its value in downloads.state)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    PRUNED = "pruned"  # retention removed its file (CONTRACT 8.5); final


Q, R, S, F, C = (DownloadState(s) for s in ("queued", "running", "succeeded", "failed", "canceled"))
STATES: tuple[str, ...] = tuple(s.value for s in DownloadState)
ACTIVE = frozenset({Q, R})
DEDUPED = frozenset({Q, R, S})  # the states that hold the dedupe key
MAX_DELIVERIES = 3  # starts that never ended: the worker died each time

# The states each transition leaves from. A canceled download never moves again until retried;
# succeed and fail also leave from states a redelivered twin of the task may have set meanwhile.
SOURCES: dict[str, frozenset[DownloadState]] = {
    "begin": frozenset({Q, R, S}),
    "succeed": frozenset({Q, R, S, F}),
    "fail": frozenset({Q, R, S, F}),
    "requeue": frozenset({Q, R, S, F}),
    "release": frozenset({R}),
    "cancel": ACTIVE,
    "retry": frozenset({F, C}),
    "resend": ACTIVE,
    "prune": frozenset({S}),
}
_REFUSALS = {
    "cancel": "The download already ended ({state}).",
    "retry": "Only failed or canceled downloads can be retried ({state}).",
}


class IllegalTransition(Conflict):
    """A transition asked of a download in a state it does not leave from."""


def legal(download: Download | None, transition: str) -> bool:
    """True if `download` exists and may take `transition` from its current state."""
    return download is not None and download.state in SOURCES[transition]


def require(download: Download, transition: str) -> None:
    """Raise IllegalTransition (a 409 conflict) unless `download` may take `transition`."""
    if not legal(download, transition):
        template = _REFUSALS.get(transition, "A {state} download cannot {transition}.")
        raise IllegalTransition(template.format(state=download.state, transition=transition))


def create(**fields: Any) -> Download:
    """A new download, queued."""
    return Download(state=Q, **fields)


def take(session: Session, download_id: int, name: str, values: dict[str, Any]) -> Download | None:
    """Apply transition `name` as one guarded UPDATE from its SOURCES; the row, or None if the
    download is gone or (maybe a moment ago, by another process) left those states."""
    return transition(session, Download, download_id, SOURCES[name], values)


def take_or_refuse(
    session: Session, download_id: int, name: str, values: dict[str, Any]
) -> Download:
    """`take`, raising NotFound or IllegalTransition (a 409) when it did not apply."""
    row = take(session, download_id, name, values)
    if row is not None:
        return row
    current = session.get(Download, download_id, populate_existing=True)
    if current is None:
        raise NotFound(f"No download with id {download_id}.")
    require(current, name)
    raise IllegalTransition(f"The download changed meanwhile ({current.state}); try again.")


def begin(session: Session, download_id: int, task_id: str | None) -> Download | None:
    """Count a delivery and mark it running; the row (failed once the worker kept dying), or
    None if the download may not begin."""
    now = literal(utcnow(), Download.started_at.type)
    row = take(session, download_id, "begin", {
        "state": R, "deliveries": Download.deliveries + 1, "attempts": Download.attempts + 1,
        "started_at": func.coalesce(Download.started_at, now),
        "task_id": func.coalesce(literal(task_id, Download.task_id.type), Download.task_id),
    })  # fmt: skip
    if row is None or row.deliveries <= MAX_DELIVERIES:
        return row
    message = (
        f"The worker stopped {row.deliveries - 1} times while fetching"
        " this download; giving up. Retry it once the cause is fixed."
    )
    return transition(session, Download, download_id, {R}, _failed(message))


def succeed(
    session: Session, download_id: int, *, file_path: str, size: int, sha256: str, **more: Any
) -> Download | None:
    """The file is in place: record it, with progress at 100%."""
    progress = {
        "downloaded_bytes": size,
        "total_bytes": size,
        "percent": 100.0,
        "speed_bps": None,
        "eta_s": 0,
    }
    return take(session, download_id, "succeed", {
        "state": S, "finished_at": utcnow(), "error": None, "deliveries": 0,
        "file_path": file_path, "file_size": size, "sha256": sha256, "progress": progress, **more,
    })  # fmt: skip


def fail(session: Session, download_id: int, message: str) -> Download | None:
    """End the download with an error; it gives up its dedupe key."""
    return take(session, download_id, "fail", {**_failed(message), "deliveries": 0})


def _failed(message: str) -> dict[str, Any]:
    return {"state": F, "error": message, "dedupe_key": None, "finished_at": utcnow()}


def requeue(session: Session, download_id: int, message: str) -> Download | None:
    """A transient failure: queued again for the task's own retry."""
    values = {"state": Q, "error": f"Will retry: {message}", "deliveries": 0}
    return take(session, download_id, "requeue", values)


def release(session: Session, download_id: int) -> Download | None:
    """A stopping worker hands a running download back, not counting this delivery."""
    uncounted = case((Download.deliveries > 0, Download.deliveries - 1), else_=0)
    return take(session, download_id, "release", {"state": Q, "deliveries": uncounted})


def cancel(session: Session, download_id: int) -> Download:
    """Stop a queued or running download at the user's request (NotFound, or a 409 if ended)."""
    values = {
        "state": C, "dedupe_key": None, "finished_at": utcnow(), "error": "Canceled by request.",
    }  # fmt: skip
    return take_or_refuse(session, download_id, "cancel", values)


def retry(session: Session, download_id: int, dedupe_key: str) -> Download:
    """Queue a failed or canceled download again, taking back its dedupe key."""
    return take_or_refuse(session, download_id, "retry", {
        "state": Q, "dedupe_key": dedupe_key, "error": None,
        "deliveries": 0, "finished_at": None, "task_id": None,
    })  # fmt: skip


def prune(session: Session, download_id: int) -> Download | None:
    """Retention removed the finished file: pruned (final), no file, its key given up; never a
    download protected meanwhile (the same guarded UPDATE checks it)."""
    values = {"state": DownloadState.PRUNED, "file_path": None, "dedupe_key": None}
    where = [Download.protected.is_(False)]
    return transition(session, Download, download_id, SOURCES["prune"], values, where=where)


def resend(session: Session, download_id: int, seen_at: datetime) -> Download | None:
    """A queued or running download whose task was lost: queued again to be sent anew, if it
    has not changed since `seen_at` (its updated_at when found stuck): one sender only."""
    guard = [Download.updated_at == seen_at]
    return transition(session, Download, download_id, SOURCES["resend"], {"state": Q}, where=guard)
