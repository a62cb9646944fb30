"""Catalog tasks: full rebuilds and the Drive changes sync."""

from __future__ import annotations

from typing import Any

from core.base.locks import redis_lock
from core.base.vault import Vault
from core.catalog import indexing
from core.google import connections
from core.google.drive import DriveClient
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
    if source in ("local", "all"):
        result["local"] = indexing.rebuild_local(services, self.progress)
    if source == "drive" or (source == "all" and _google_configured()):
        client = DriveClient.from_settings(settings, services.db)
        with redis_lock(services.redis(), "catalog.drive", settings.task_time_limit_s) as taken:
            if not taken:
                return {**result, "drive": {"skipped": "another Drive rebuild or sync is running"}}
            result["drive"] = indexing.rebuild_drive(services, client, self.progress)
        checked = subscriptions.refresh(services, "drive")
        if checked["subscriptions"]:
            result["subscriptions"] = checked
    elif source == "all":
        result["drive"] = {"skipped": "no Google credentials are configured"}
    return result


@app.task(name=TaskName.CATALOG_SYNC, bind=True, base=AnnouncedSync)
def sync(self: AulaTask, source: str = "drive") -> dict[str, Any]:
    """Apply Drive's changes feed (a full rebuild the first time); one at a time; retried.

    Then enqueues the new videos of Drive folder subscriptions (each once, also when two syncs
    overlap); a final failure is announced as catalog.sync.failed.
    """
    settings = services.settings
    if not _google_configured():
        return {"skipped": "no Google credentials are configured"}
    client = DriveClient.from_settings(settings, services.db)
    with redis_lock(services.redis(), "catalog.drive", settings.task_time_limit_s) as taken:
        if taken:
            result: dict[str, Any] = indexing.sync_drive(services, client, self.progress)
        else:
            result = {"skipped": "another Drive rebuild or sync is running"}
    # Also when skipped: checking is idempotent, and catches up on a check that died.
    checked = subscriptions.refresh(services, "drive")
    return {**result, "subscriptions": checked} if checked["subscriptions"] else result
