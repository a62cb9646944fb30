"""Classroom task: courses and their materials into the catalog."""

from __future__ import annotations

from typing import Any

from core.base.errors import CredentialsMissing
from core.base.locks import redis_lock
from core.base.sources import Source
from core.catalog import accounts
from core.catalog.sources.sync import sync_classroom
from core.google.classroom import ClassroomClient
from core.google.drive import DriveClient
from core.jobs.taskdefs import TaskName
from core.subscriptions import service as subscriptions
from tasks.app import AulaTask, app, services
from tasks.notifications import AnnouncedSync


@app.task(name=TaskName.CLASSROOM_SYNC, bind=True, base=AnnouncedSync)
def sync(self: AulaTask) -> dict[str, Any]:
    """List every course, its courseWork and courseWorkMaterials, and catalog the materials.

    Idempotent: writes only after every listing is complete, removing what vanished. One runs
    at a time (a Redis lock); transient upstream errors are retried with backoff. Skipped when
    no Google credentials are configured. Then enqueues the new videos of subscribed courses
    (each once, also when two syncs overlap); a final failure is announced (catalog.sync.failed).
    """
    settings = services.settings
    try:
        # One client per connection that is ok: each syncs its own courses (CONTRACT 8.1).
        clients = accounts.classroom_clients(settings, services.db)
    except CredentialsMissing:
        return {"skipped": "no Google credentials are configured"}

    def one(client: ClassroomClient) -> dict[str, Any]:
        # Drive answers whether a Drive material is a video; one token serves both APIs.
        drive = DriveClient(settings, client.auth, client.session)
        return sync_classroom(services.db, client, drive, self.progress)

    with redis_lock(services.redis(), "classroom.sync", settings.task_time_limit_s) as taken:
        if taken:
            result: dict[str, Any] = accounts.each(clients, one)
        else:
            result = {"skipped": "another Classroom sync is running"}
    # Also when skipped: checking is idempotent, and catches up on a check that died.
    checked = subscriptions.refresh(services, Source.CLASSROOM)
    return {**result, "subscriptions": checked} if checked["subscriptions"] else result
