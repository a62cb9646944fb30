"""Retention per subscription (CONTRACT 8.5): keep the latest n downloads (by the source's
publication time, else by when they finished) and delete those watched (by anyone) more than
d days ago; protected downloads are exempt. A pruned download loses its file and never comes
back through its subscription (its claim stays). Every deletion is logged and audited."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, inspect, select, text
from sqlalchemy.orm import Session

from core.base.models import CatalogItem, Download, Subscription, SubscriptionItem, utcnow
from core.base.services import Services
from core.downloads import catalog_link, state
from core.downloads.state import DownloadState
from core.people import audit

log = logging.getLogger(__name__)
Watched = Callable[[Session, list[int]], dict[int, datetime]]
"""watched(session, item_ids) -> {item_id: when someone watched it}."""
PROGRESS_TABLE = "lesson_progress"  # the courses work of issue 26


def progress_watched(session: Session, item_ids: list[int]) -> dict[int, datetime]:
    """When each item was last marked watched by anyone, from the progress table of the courses
    work (issue 26) when it exists: an install without it has nothing watched."""
    if not item_ids or not inspect(session.connection()).has_table(PROGRESS_TABLE):
        return {}
    query = text(
        "SELECT item_id, MAX(updated_at) FROM lesson_progress"  # PROGRESS_TABLE
        " WHERE watched = :yes AND item_id IN :ids GROUP BY item_id"
    ).bindparams(bindparam("ids", expanding=True), yes=True)
    rows = session.execute(query, {"ids": item_ids})
    wanted = set(item_ids)
    found: dict[int, datetime] = {}
    for item_id, at in rows:
        if int(item_id) in wanted and at is not None:
            when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            found[int(item_id)] = when
    return found


def _kept(session: Session, sub_id: int) -> list[tuple[Download, datetime]]:
    """The subscription's finished downloads with their publication (else finishing) time."""
    rows = session.execute(
        select(Download, CatalogItem.modified_at)
        .join(SubscriptionItem, SubscriptionItem.download_id == Download.id)
        .outerjoin(CatalogItem, CatalogItem.id == Download.item_id)
        .where(SubscriptionItem.subscription_id == sub_id)
        .where(Download.state == DownloadState.SUCCEEDED)
    )
    return [(row, published or row.finished_at or row.created_at) for row, published in rows]


def due(
    session: Session, sub: Subscription, now: datetime, watched: Watched
) -> list[tuple[Download, str]]:
    """The downloads `sub`'s retention prunes now, each with why; never a protected one."""
    rule = sub.retention or {}
    kept = sorted(_kept(session, sub.id), key=lambda pair: (pair[1], pair[0].id), reverse=True)
    reasons: dict[int, tuple[Download, str]] = {}
    latest = rule.get("keep_latest")
    if latest is not None:
        for row, _at in kept[int(latest) :]:
            reasons[row.id] = (row, f"beyond the latest {latest}")
    days = rule.get("delete_watched_after_days")
    if days is not None:
        seen = watched(session, [row.item_id for row, _ in kept if row.item_id is not None])
        cutoff = now - timedelta(days=int(days))
        for row, _at in kept:
            at = seen.get(row.item_id) if row.item_id is not None else None
            if at is not None and _aware(at) <= cutoff:
                reasons.setdefault(row.id, (row, f"watched more than {days} days ago"))
    return [(row, why) for row, why in reasons.values() if not row.protected]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


def prune(services: Services, download_id: int, why: str) -> bool:
    """Remove a finished download's file (and its .nfo) and mark it pruned; False if it was
    protected, or left `succeeded`, meanwhile (one guarded UPDATE decides)."""
    with services.db.session() as session:
        before = session.get(Download, download_id)
        path = before.file_path if before is not None else None
        row = state.prune(session, download_id)
        if row is None:
            return False
        catalog_link.unlink(session, row)
    if path:
        _remove(services.settings.download_dir, path)
    log.warning("retention pruned download %d (%s): %s", download_id, why, path)
    audit.record(services.db, "download.pruned", actor="retention",
                 target=f"download {download_id}: {path} ({why})")  # fmt: skip
    return True


def _remove(root: Path, relative: str) -> None:
    base = root.resolve()
    file = (base / relative).resolve()
    if not file.is_relative_to(base):
        return
    for doomed in (file, file.with_suffix(".nfo")):
        doomed.unlink(missing_ok=True)


def apply(
    services: Services, now: datetime | None = None, watched: Watched = progress_watched
) -> int:
    """Prune what every subscription's retention says (the cleanup task runs it); how many."""
    now = now or utcnow()
    with services.db.session() as session:
        ruled = select(Subscription).where(Subscription.retention.is_not(None))
        subs = list(session.scalars(ruled))
        plan = [(row.id, why) for sub in subs for row, why in due(session, sub, now, watched)]
    return sum(prune(services, download_id, why) for download_id, why in _unique(plan))


def _unique(plan: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    return list({download_id: (download_id, why) for download_id, why in plan}.values())
