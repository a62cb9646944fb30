"""Catalog tasks: full rebuilds and the Drive changes sync."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.base.locks import redis_lock
from core.base.models import utcnow
from core.base.sources import Source
from core.base.vault import Vault
from core.catalog import accounts, indexing
from core.downloads import playable
from core.google import connections
from core.jobs.taskdefs import TaskName
from core.subscriptions import service as subscriptions
from tasks.app import AulaTask, app, services
from tasks.notifications import AnnouncedSync


def _google_configured() -> bool:
    if connections.any_connection(services.db):
        return True
    vault = Vault(services.db, services.settings.fernet_keys)
    return any(info.kind == "google" and info.configured for info in vault.list())


@app.task(name=TaskName.CATALOG_REBUILD, bind=True, base=AnnouncedSync)
def rebuild(self: AulaTask, source: str = "all") -> dict[str, Any]:
    """Rebuild the catalog of `source` (local, drive or all) in full.

    Idempotent: removes what vanished only after a complete listing. Transient upstream errors
    are retried with backoff; a Drive rebuild for "all" is skipped when no Google credentials
    are configured. A Drive rebuild then enqueues the new videos of folder subscriptions.
    """
    settings = services.settings
    result: dict[str, Any] = {}
    drive = source == Source.DRIVE or (source == "all" and _google_configured())
    # One client per connection that is ok: each indexes its own folders (CONTRACT 8.1).
    clients = accounts.drive_clients(settings, services.db) if drive else None
    # One lock for every rebuild and sync: a "local" and an "all" rebuild never overlap (the
    # older one would put back files the newer one removed); each waits for the other.
    with _catalog_lock(self.progress) as taken:
        if not taken:
            return {"skipped": "another catalog rebuild or sync held the catalog too long"}
        if source in (Source.LOCAL, "all"):
            started = utcnow()
            result[Source.LOCAL] = indexing.rebuild_local(services, self.progress)
            playable.auto_convert_since(services, started)  # AUTO_CONVERT (CONTRACT 8.4)
        if clients is not None:
            result[Source.DRIVE] = accounts.each(
                clients, lambda client: indexing.rebuild_drive(services, client, self.progress)
            )
    if clients is not None:
        checked = subscriptions.refresh(services, Source.DRIVE)
        if checked["subscriptions"]:
            result["subscriptions"] = checked
    elif source == "all":
        result[Source.DRIVE] = {"skipped": "no Google credentials are configured"}
    return result


WAITING = "waiting for the running catalog rebuild or sync to end"


@contextmanager
def _catalog_lock(progress: Callable[[int, int | None, str], object]) -> Iterator[bool]:
    # Waits (up to the task time limit, which also bounds the holder) rather than skipping:
    # a request answered with this task must see the catalog changed after it asked.
    client, ttl = services.redis(), services.settings.task_time_limit_s
    with redis_lock(client, "catalog.drive", ttl) as taken:
        if taken:
            yield True
            return
    progress(0, None, WAITING)  # what the task shows meanwhile
    with redis_lock(client, "catalog.drive", ttl, wait_s=ttl) as taken:
        yield taken


@app.task(name=TaskName.CATALOG_SYNC, bind=True, base=AnnouncedSync)
def sync(self: AulaTask, source: str = Source.DRIVE) -> dict[str, Any]:
    """Apply Drive's changes feed (a full rebuild the first time); one at a time; retried.

    Then enqueues the new videos of Drive folder subscriptions (each once, also when two syncs
    overlap); a final failure is announced as catalog.sync.failed.
    """
    settings = services.settings
    if not _google_configured():
        return {"skipped": "no Google credentials are configured"}
    clients = accounts.drive_clients(settings, services.db)
    with _catalog_lock(self.progress) as taken:
        if taken:
            result: dict[str, Any] = accounts.each(
                clients, lambda client: indexing.sync_drive(services, client, self.progress)
            )
        else:
            result = {"skipped": "another catalog rebuild or sync held the catalog too long"}
    # Also when skipped: checking is idempotent, and catches up on a check that died.
    checked = subscriptions.refresh(services, Source.DRIVE)
    return {**result, "subscriptions": checked} if checked["subscriptions"] else result
