"""A download's states and the transitions between them, each checking it is legal."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from core.base.errors import Conflict
from core.base.models import Download, utcnow


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


def begin(download: Download, task_id: str | None) -> bool:
    """Count a delivery and mark it running; False (and failed) once the worker kept dying."""
    require(download, "begin")
    download.deliveries += 1
    download.attempts += 1
    if download.deliveries > MAX_DELIVERIES:
        _end_failed(
            download,
            f"The worker stopped {download.deliveries - 1} times while fetching"
            " this download; giving up. Retry it once the cause is fixed.",
        )
        return False
    download.state, download.started_at = R, download.started_at or utcnow()
    download.task_id = task_id or download.task_id
    return True


def succeed(download: Download, *, file_path: str, size: int, sha256: str) -> None:
    """The file is in place: record it, with progress at 100%."""
    require(download, "succeed")
    download.state, download.finished_at, download.error, download.deliveries = S, utcnow(), None, 0
    download.file_path, download.file_size, download.sha256 = file_path, size, sha256
    download.progress = {
        "downloaded_bytes": size,
        "total_bytes": size,
        "percent": 100.0,
        "speed_bps": None,
        "eta_s": 0,
    }


def fail(download: Download, message: str) -> None:
    """End the download with an error; it gives up its dedupe key."""
    require(download, "fail")
    download.deliveries = 0
    _end_failed(download, message)


def _end_failed(download: Download, message: str) -> None:
    download.state, download.error, download.dedupe_key = F, message, None
    download.finished_at = utcnow()


def requeue(download: Download, message: str) -> None:
    """A transient failure: queued again for the task's own retry."""
    require(download, "requeue")
    download.state, download.error, download.deliveries = Q, f"Will retry: {message}", 0


def release(download: Download) -> None:
    """A stopping worker hands a running download back, not counting this delivery."""
    require(download, "release")
    download.state, download.deliveries = Q, max(download.deliveries - 1, 0)


def cancel(download: Download) -> None:
    """Stop a queued or running download at the user's request."""
    require(download, "cancel")
    download.state, download.dedupe_key = C, None
    download.finished_at, download.error = utcnow(), "Canceled by request."


def retry(download: Download, dedupe_key: str) -> None:
    """Queue a failed or canceled download again, taking back its dedupe key."""
    require(download, "retry")
    download.state, download.dedupe_key, download.error = Q, dedupe_key, None
    download.deliveries, download.finished_at, download.task_id = 0, None, None


def resend(download: Download) -> None:
    """A queued or running download whose task was lost: queued again to be sent anew."""
    require(download, "resend")
    download.state = Q
