"""Subscriptions: a Classroom course or an indexed Drive folder tree whose new videos download.

Each check claims the subscription's videos in `subscription_items` (one row per video, unique,
inserted with ON CONFLICT DO NOTHING: overlapping checks claim a video once), then makes a
download for every claim that has none yet. That step is deduplicated by the downloads' own
unique key, so a claim whose check died before its download existed is finished by the next
check, and two checks finishing the same claim still enqueue one download.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import downloads
from core.base.db import Database
from core.base.errors import (
    InsufficientStorage,
    NotFound,
    PermanentError,
)
from core.base.models import CatalogItem, Download, Subscription, SubscriptionItem, utcnow
from core.base.pagination import Page, keyset_page
from core.base.services import Services
from core.base.sources import Source
from core.catalog import store as catalog
from core.catalog.sources.courses import course_videos
from core.downloads import payloads
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName
from core.notify import notifications
from core.subscriptions import library as sub_library
from core.subscriptions import targets

log = logging.getLogger(__name__)
SOURCES = (Source.CLASSROOM, Source.DRIVE)


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as the API shows it, with how many downloads it brought."""

    id: int
    source: str
    course_id: str | None
    folder_id: str | None
    format: str | None
    created_at: datetime
    last_checked_at: datetime | None
    downloads: int
    template: str | None = None  # the library (CONTRACT 8.5)
    retention: dict[str, Any] | None = None


def _view(sub: Subscription, brought: int) -> SubscriptionView:
    course = sub.source_key if sub.source == Source.CLASSROOM else None
    folder = sub.source_key if sub.source == Source.DRIVE else None
    return SubscriptionView(sub.id, sub.source, course, folder, sub.format, sub.created_at,
                            sub.last_checked_at, brought, sub.template, sub.retention)  # fmt: skip


def _counts(session: Session, ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(SubscriptionItem.subscription_id, func.count())
        .where(SubscriptionItem.subscription_id.in_(ids), SubscriptionItem.brought.is_(True))
        .group_by(SubscriptionItem.subscription_id)
    )
    return {int(sub_id): int(count) for sub_id, count in rows}


# ---------------------------------------------------------------- create, read, delete


def subscribe(
    services: Services, *, source: str, key: str, fmt: str | None = None, **library: Any
) -> tuple[SubscriptionView, bool]:
    """Subscribe a course or folder (created, True) or return the existing one (False); a new
    subscription enqueues every video of its source not downloaded yet. `library`: its own
    naming `template` and `retention` (core.subscriptions.library checks them)."""
    library = sub_library.checked(library)
    db, broker = services.db, services.broker
    with contextlib.suppress(NotFound):  # subscribed already: no need to ask Google again
        return get(db, _find(db, source, key)), False
    if source == Source.CLASSROOM:
        synced = targets.check_course(services, key)
    else:
        synced = targets.check_folder(services, key)
    try:
        with db.session() as session:
            sub = Subscription(source=source, source_key=key, format=fmt, **library)
            session.add(sub)
    except IntegrityError:
        return get(db, _find(db, source, key)), False
    if synced:
        check(services, sub.id)
    elif source == Source.CLASSROOM:  # this sync enqueues its videos, once it has catalogued them
        jobs.enqueue(db, broker, TaskName.CLASSROOM_SYNC, {}, single="classroom.sync")
    else:
        drive = {"source": Source.DRIVE.value}
        jobs.enqueue(db, broker, TaskName.CATALOG_SYNC, drive, single="catalog.sync:drive")
    return get(db, sub.id), True


def _find(db: Database, source: str, key: str) -> int:
    with db.session() as session:
        found = session.scalar(
            select(Subscription.id).where(
                Subscription.source == source, Subscription.source_key == key
            )
        )
    if found is None:
        raise NotFound(f"No subscription of {source} {key!r}.")
    return int(found)


def get(db: Database, subscription_id: int) -> SubscriptionView:
    """One subscription, or NotFound."""
    with db.session() as session:
        sub = session.get(Subscription, subscription_id)
        if sub is None:
            raise NotFound(f"No subscription with id {subscription_id}.")
        return _view(sub, _counts(session, [sub.id]).get(sub.id, 0))


def list_subscriptions(
    db: Database, *, limit: int = 50, cursor: str | None = None
) -> Page[SubscriptionView]:
    """Subscriptions, newest first."""
    with db.session() as session:
        page = keyset_page(session, select(Subscription), (Subscription.id,), limit=limit,
                           cursor=cursor)  # fmt: skip
        counts = _counts(session, [sub.id for sub in page.items])
        return Page([_view(s, counts.get(s.id, 0)) for s in page.items], page.next_cursor)


def unsubscribe(db: Database, subscription_id: int) -> None:
    """Forget a subscription; its downloads and their files stay."""
    with db.session() as session:
        sub = session.get(Subscription, subscription_id)
        if sub is None:
            raise NotFound(f"No subscription with id {subscription_id}.")
        session.execute(
            delete(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription_id)
        )
        session.delete(sub)


# ---------------------------------------------------------------- checking for new videos


def item_key(item: CatalogItem) -> str:
    """What identifies a video across syncs (its catalog row may be replaced)."""
    return hashlib.sha256(f"{item.source}\n{item.source_id}".encode()).hexdigest()


def videos(services: Services, sub: Subscription) -> list[CatalogItem]:
    """The videos of a subscription's course or folder tree, oldest first."""
    db = services.db
    if sub.source == Source.CLASSROOM:
        return course_videos(db, sub.source_key)
    tree = sorted(targets.folder_tree(db, services.settings, sub.source_key))
    with db.session() as session:
        return list(
            session.scalars(
                select(CatalogItem)
                .where(CatalogItem.source == Source.DRIVE, CatalogItem.is_video.is_(True))
                .where(CatalogItem.folder_id.in_(tree))
                .order_by(CatalogItem.id)
            )
        )


def _claim(session: Session, sub_id: int, items: list[CatalogItem]) -> None:
    claimed = set(
        session.scalars(
            select(SubscriptionItem.item_key).where(SubscriptionItem.subscription_id == sub_id)
        )
    )
    rows = [
        {"subscription_id": sub_id, "item_key": key, "item_id": item.id, "brought": False,
         "created_at": utcnow()}
        for item in items
        if (key := item_key(item)) not in claimed
    ]  # fmt: skip
    if not rows:
        return
    # Another check may claim the same videos meanwhile: the unique key decides, not the read.
    stmt = catalog._insert(session)(SubscriptionItem).on_conflict_do_nothing(
        index_elements=["subscription_id", "item_key"]
    )
    session.execute(stmt, rows)


def _download(services: Services, item_id: int, fmt: str | None) -> tuple[Download, bool]:
    for attempt in range(2):
        try:
            return downloads.create(services, item_id=item_id, fmt=fmt)
        except IntegrityError:  # another check created the same download a moment earlier
            if attempt:
                raise
    raise AssertionError("unreachable")


def _open_claims(db: Database, sub_id: int) -> list[tuple[int, int]]:
    """(claim id, item id) of the claims no download settled yet."""
    with db.session() as session:
        rows = session.execute(
            select(SubscriptionItem.id, SubscriptionItem.item_id)
            .where(SubscriptionItem.subscription_id == sub_id)
            .where(SubscriptionItem.download_id.is_(None), SubscriptionItem.error.is_(None))
            .where(SubscriptionItem.item_id.is_not(None))
            .order_by(SubscriptionItem.id)
        )
        return [(claim_id, item_id) for claim_id, item_id in rows if item_id is not None]


def _settle(db: Database, claim_id: int, **values: Any) -> None:
    with db.session() as session:
        session.execute(
            update(SubscriptionItem).where(SubscriptionItem.id == claim_id).values(**values)
        )


def _enqueue_claims(services: Services, sub: Subscription) -> list[Download]:
    created: list[Download] = []
    db = services.db
    for claim_id, item_id in _open_claims(db, sub.id):
        try:
            download, new = _download(services, item_id, sub.format)
        except (InsufficientStorage, NotFound):
            break  # the disk is full (or the item went): the next check carries on
        except PermanentError as error:  # one bad video must not hold up the others
            _settle(db, claim_id, error=error.message[:2000])
            continue
        values: dict[str, Any] = {"download_id": download.id}
        if new:
            values["brought"] = True
            created.append(download)
        _settle(db, claim_id, **values)
    return created


def as_dict(view: SubscriptionView) -> dict[str, Any]:
    """The API's JSON shape of a subscription."""
    last = view.last_checked_at.isoformat() if view.last_checked_at else None
    return {"id": view.id, "source": view.source, "course_id": view.course_id,
            "folder_id": view.folder_id, "format": view.format,
            "created_at": view.created_at.isoformat(), "last_checked_at": last,
            "downloads": view.downloads}  # fmt: skip


def check(services: Services, subscription_id: int) -> list[Download]:
    """Enqueue every video of the subscription that it has not enqueued yet; idempotent.

    Announces what it brought (subscription.new_items). A transient failure (broker down)
    leaves the remaining claims for the next check.
    """
    db = services.db
    with db.session() as session:
        sub = session.get(Subscription, subscription_id)
    if sub is None:
        return []
    items = videos(services, sub)
    with db.session() as session:
        _claim(session, sub.id, items)
    try:
        created = _enqueue_claims(services, sub)
    finally:
        with db.session() as session:
            session.execute(
                update(Subscription)
                .where(Subscription.id == sub.id)
                .values(last_checked_at=utcnow())
            )
    if created:
        log.info("subscription %d brought %d new videos", sub.id, len(created))
        data = {"subscription": as_dict(get(db, sub.id)),
                "downloads": [payloads.download(d) for d in created]}  # fmt: skip
        notifications.emit(services, "subscription.new_items", f"subscription:{sub.id}", data)
    return created


def refresh(services: Services, source: str) -> dict[str, int]:
    """Check every subscription of `source` (after a sync of it); how many downloads it made."""
    with services.db.session() as session:
        ids = list(session.scalars(select(Subscription.id).where(Subscription.source == source)))
    brought = 0
    for sub_id in ids:
        brought += len(check(services, sub_id))
    return {"subscriptions": len(ids), "new_downloads": brought}
