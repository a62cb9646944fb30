"""Downloads: create (deduplicated), send, cancel, retry, list."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.base.db import Database
from core.base.disk import free_bytes
from core.base.errors import Conflict, InsufficientStorage, NotFound, ValidationFailed
from core.base.models import Download
from core.base.netguard import check_url, normalize_url
from core.base.pagination import Page, newest_first
from core.base.services import Services
from core.base.settings import Settings
from core.base.sources import Source
from core.base.transitions import guarded
from core.catalog import store as catalog
from core.downloads import catalog_link, dispatch, state
from core.downloads.files import remove_partials
from core.downloads.state import DownloadKind, DownloadState
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName

log = logging.getLogger(__name__)
RACE_TRIES = 3
_DRIVE_PATH = re.compile(r"^/file/d/([A-Za-z0-9_-]{10,})")


def dedupe_key(url: str, fmt: str | None) -> str:
    """The natural key of a download: its normalized URL and format."""
    return hashlib.sha256(f"{url}\n{fmt or ''}".encode()).hexdigest()


def drive_file_id(url: str) -> str | None:
    """The file id of a Google Drive file URL (…/file/d/<id>/…, …/open?id=<id>, uc?id=<id>)."""
    parts = urlsplit(url)
    if parts.hostname not in ("drive.google.com", "docs.google.com"):
        return None
    match = _DRIVE_PATH.match(parts.path)
    if match:
        return match.group(1)
    ids = parse_qs(parts.query).get("id")
    return ids[0] if ids and re.fullmatch(r"[A-Za-z0-9_-]{10,}", ids[0]) else None


def drive_url(file_id: str) -> str:
    """The canonical URL of a Drive file (what dedupes Drive downloads)."""
    return f"https://drive.google.com/file/d/{file_id}/view"


def _target(services: Services, url: str | None, item_id: int | None) -> dict[str, Any]:
    if item_id is not None:
        item = catalog.get_item(services.db, item_id)
        if item.source == Source.LOCAL:
            raise Conflict(
                "This item is a file on this server already: there is nothing to download."
                " Play it, or save the file, from its page in the catalog.",
                {"reason": "local_file"},
            )
        file_id = (
            item.source_id
            if item.source == Source.DRIVE
            else (item.extra or {}).get("drive_file_id")
        )
        if file_id:
            return {
                "url": drive_url(file_id),
                "kind": DownloadKind.DRIVE,
                "drive_file_id": file_id,
                "title": item.title,
                "item_id": item.id,
            }
        if not item.url:
            raise Conflict("This item has no link to download from.", {"reason": "no_url"})
        url = item.url
        return {**_target(services, url, None), "title": item.title, "item_id": item.id}
    if url is None:  # the request's schema asks for one of the two
        raise ValidationFailed("Give a url or an item_id.")
    normalized = normalize_url(url)
    file_id = drive_file_id(normalized)
    if file_id:
        return {"url": drive_url(file_id), "kind": DownloadKind.DRIVE, "drive_file_id": file_id}
    check_url(normalized, allow_private=services.settings.download_allow_private_hosts)
    return {"url": normalized, "kind": DownloadKind.YTDLP}


def _check_disk(settings: Settings) -> None:
    free_mb = free_bytes(settings.download_dir) // (1024 * 1024)
    if free_mb < settings.disk_free_floor_mb:
        raise InsufficientStorage(
            f"Only {free_mb} MB are free in the download folder (DOWNLOAD_DIR), below"
            f" DISK_FREE_FLOOR_MB ({settings.disk_free_floor_mb} MB): free some space there, or"
            " lower DISK_FREE_FLOOR_MB.",
            {
                "free_mb": free_mb,
                "floor_mb": settings.disk_free_floor_mb,
                "setting": "DISK_FREE_FLOOR_MB",
            },
        )


def _existing(db: Database, key: str) -> Download | None:
    with db.session() as session:
        return session.scalars(select(Download).where(Download.dedupe_key == key)).first()


def create(
    services: Services,
    *,
    url: str | None = None,
    item_id: int | None = None,
    fmt: str | None = None,
    force: bool = False,
) -> tuple[Download, bool]:
    """A download of `url` or of a catalog item; (download, created). Deduplicated unless force.

    Identical requests at the same moment race on the unique dedupe key: the one whose insert
    wins creates the download, the others answer with it."""
    target = _target(services, url, item_id)
    fmt = fmt if target["kind"] == DownloadKind.YTDLP else None
    key = dedupe_key(target["url"], fmt)
    db = services.db
    for _ in range(RACE_TRIES):
        existing = _existing(db, key)
        if existing is not None and not force:
            return _once_sent(db, existing), False
        _check_disk(services.settings)
        try:
            with db.session() as session:
                if existing is not None:  # force: the old one keeps its file but gives up the key
                    session.get_one(Download, existing.id).dedupe_key = None
                download = state.create(format=fmt, dedupe_key=key, **target)
                session.add(download)
        except IntegrityError:
            force = False  # an identical request won the key: its download is the answer
            continue
        return dispatch.start(services, download, send), True
    raise Conflict("An identical download request is being handled right now; try again.")


# How long an identical request waits for the winner of the race to send its task. The winner
# sends within milliseconds; a machine under load took 2.7 s (a CI run), so the bound is generous:
# it only ends the wait of a request whose winner died between its INSERT and its send.
ONCE_SENT_WAIT_S = 15.0


def _once_sent(db: Database, download: Download, wait_s: float = ONCE_SENT_WAIT_S) -> Download:
    # A download a racing request created a moment ago gets its task id once sent: wait for it,
    # so the answer names the task as the winner's does.
    deadline = time.monotonic() + wait_s
    pause = 0.01
    while download.task_id is None and download.state == DownloadState.QUEUED:
        if download.waiting_reason is not None:  # held by the schedule: never sent until then
            break
        if time.monotonic() > deadline:
            log.warning("download %d: its task was not sent within %.0f s", download.id, wait_s)
            break
        pause = min(pause * 2, 0.25)
        time.sleep(pause)
        again = _existing(db, download.dedupe_key or "")
        if again is None:
            break
        download = again
    return download


def send(services: Services, download: Download) -> Download:
    """Send a queued download's task and record its id; a download never sent is deleted."""
    db = services.db
    try:
        record = jobs.enqueue(
            db, services.broker, TaskName.DOWNLOADS_FETCH, {"download_id": download.id}
        )
    except Exception:
        with db.session() as session:
            row = session.get(Download, download.id)
            if row is not None and row.task_id is None:
                session.delete(row)
        raise
    with db.session() as session:
        row = session.get_one(Download, download.id)
        row.task_id = record.id
        return row


def get(db: Database, download_id: int) -> Download:
    """One download, or NotFound."""
    return db.get(Download, download_id, f"No download with id {download_id}.")


def list_downloads(
    db: Database, *, state: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[Download]:
    """Downloads, newest first, optionally of one state."""
    return newest_first(db, Download.id, Download.state, state=state, limit=limit, cursor=cursor)


def cancel(services: Services, download_id: int) -> Download:
    """Stop a queued or running download and remove its partial files; ended ones conflict."""
    with services.db.session() as session:
        download = state.cancel(session, download_id)
        catalog_link.unlink(session, download)
        task_id = download.task_id
    if task_id:
        with contextlib.suppress(NotFound, Conflict):  # the task ended already: nothing runs
            jobs.cancel(services.db, services.broker, task_id)
    remove_partials(services.settings, download_id)
    return download


def retry(services: Services, download_id: int) -> Download:
    """Queue a failed or canceled download again (resuming what it had fetched).

    The claim is one guarded UPDATE: of two racing retries one wins, the other gets a 409."""
    db = services.db
    with db.session() as session:
        download = session.get(Download, download_id)
        if download is None:
            raise NotFound(f"No download with id {download_id}.")
        state.require(download, "retry")
        key = dedupe_key(download.url, download.format)
    if _existing(db, key) is not None:
        raise Conflict("Another download of the same URL and format is queued, running or done.")
    try:
        with db.session() as session:
            download = state.retry(session, download_id, key)
    except IntegrityError:
        raise Conflict("Another download of the same URL and format is active.") from None
    return dispatch.start(services, download, send)


def protect(db: Database, download_id: int, protected: bool) -> Download:
    """Exempt a download from retention (or not); a pruned one has nothing left to protect."""
    live = [s for s in DownloadState if s != DownloadState.PRUNED]
    with db.session() as session:
        if guarded(session, Download, download_id, live, {"protected": protected}):
            return session.get_one(Download, download_id, populate_existing=True)
        if session.get(Download, download_id) is None:
            raise NotFound(f"No download with id {download_id}.")
    raise Conflict("This download was pruned: its file is gone, there is nothing to protect.")


def latest_for_items(db: Database, item_ids: list[int]) -> dict[int, Download]:
    """The newest download of each of these catalog items (one query for a page of items)."""
    if not item_ids:
        return {}
    with db.session() as session:
        rows = session.scalars(
            select(Download).where(Download.item_id.in_(item_ids)).order_by(Download.id)
        )
        return {row.item_id: row for row in rows if row.item_id is not None}
