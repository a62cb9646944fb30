"""Webhook notifications: events written with the change they announce, sent in order, retried.

An event becomes one `Delivery` row per URL of WEBHOOK_URLS, added in the caller's transaction
where it can (a download's end), so an event is never lost between the change and the send.
`dispatch` sends `notifications.deliver` for the first pending delivery of each subject and URL
(one download's events reach a receiver in the order they happened); a delivery that ends hands
the turn to the next one of its subject. A row whose task was lost (an attempt begun minutes
ago that never ended, a retry overdue by minutes) is sent again by the next dispatch (at the
latest the hourly cleanup's): at least once, with the event's `X-Aula-Delivery` id for
receivers to drop repeats.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session, aliased

from core.base.db import Database
from core.base.errors import AulaError
from core.base.models import Delivery, utcnow
from core.base.pagination import Page, newest_first
from core.base.services import Services
from core.base.settings import Settings
from core.base.transitions import guarded, transition
from core.jobs import records as jobs
from core.jobs.taskdefs import TaskName
from core.notify import webhooks

log = logging.getLogger(__name__)
TASK = TaskName.NOTIFICATIONS_DELIVER
EVENTS = ("download.succeeded", "download.failed", "catalog.sync.failed", "subscription.new_items")


class DeliveryState(StrEnum):
    """Where a webhook delivery is (stored as its value in deliveries.state)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


STATES = tuple(str(state) for state in DeliveryState)
PENDING = frozenset({DeliveryState.PENDING})  # the one state deliveries leave; the others end
DISPATCH_BATCH = 500


# ---------------------------------------------------------------- recording events


def target_of(url: str) -> str:
    """The digest a delivery row keeps instead of its URL (which may hold a token)."""
    return hashlib.sha256(url.encode()).hexdigest()


def record(
    session: Session, settings: Settings, event: str, subject: str, data: dict[str, Any]
) -> str | None:
    """Add the deliveries of one event inside `session`; its id, or None with no WEBHOOK_URLS."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    if not settings.webhook_urls:
        return None
    event_id = uuid.uuid4().hex
    occurred = utcnow()
    body = json.dumps(
        {"event": event, "id": event_id, "occurred_at": occurred.isoformat(), "data": data},
        separators=(",", ":"),
        default=str,
    )
    for url in settings.webhook_urls:
        session.add(
            Delivery(event_id=event_id, event=event, subject=subject[:128], target=target_of(url),
                     host=(urlsplit(url).netloc or "?")[:300], body=body, created_at=occurred)
        )  # fmt: skip
    return event_id


def emit(services: Services, event: str, subject: str, data: dict[str, Any]) -> None:
    """Record an event in a transaction of its own and send what it brought."""
    if not services.settings.webhook_urls:
        return
    with services.db.session() as session:
        record(session, services.settings, event, subject, data)
    dispatch(services)


# ---------------------------------------------------------------- sending


def _unsent(settings: Settings) -> Any:
    """Pending rows no task carries: never sent, or whose task was lost (an attempt that began
    long ago and never ended, or a retry overdue by far; a long Retry-After is not lost)."""
    now = utcnow()
    grace = timedelta(seconds=settings.http_connect_timeout + settings.http_read_timeout + 300)
    return (
        Delivery.dispatched_at.is_(None)
        | (Delivery.next_attempt_at.is_(None) & (Delivery.dispatched_at < now - grace))
        | (Delivery.next_attempt_at < now - grace)
    )


def _heads(session: Session, unsent: Any) -> list[int]:
    earlier = aliased(Delivery)
    blocked = exists().where(
        earlier.target == Delivery.target,
        earlier.subject == Delivery.subject,
        earlier.state == DeliveryState.PENDING,
        earlier.id < Delivery.id,
    )
    rows = session.scalars(
        select(Delivery.id)
        .where(Delivery.state == DeliveryState.PENDING, ~blocked, unsent)
        .order_by(Delivery.id)
        .limit(DISPATCH_BATCH)
    )
    return list(rows)


def _claim(session: Session, delivery_id: int, unsent: Any) -> bool:
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.PENDING, unsent)
        .values(dispatched_at=utcnow())
    )
    return bool(getattr(claimed, "rowcount", 0))


def dispatch(services: Services) -> int:
    """Send a deliver task for each pending delivery whose turn it is and that no task carries.

    The claim is one conditional UPDATE, so two dispatchers never send the same row twice.
    Returns how many were sent; a broker that refuses leaves the rest for the next dispatch.
    """
    db, settings = services.db, services.settings
    with db.session() as session:
        heads = _heads(session, _unsent(settings))
    sent = 0
    for delivery_id in heads:
        with db.session() as session:
            if not _claim(session, delivery_id, _unsent(settings)):
                continue
        try:
            jobs.enqueue(db, services.broker, TASK, {"delivery_id": delivery_id})
        except AulaError:
            with db.session() as session:
                guarded(session, Delivery, delivery_id, PENDING, {"dispatched_at": None})
            log.warning("could not send delivery %d; it waits for the next dispatch", delivery_id)
            break
        sent += 1
    return sent


@dataclass(frozen=True)
class Attempt:
    """What `attempt` did: `outcome` is delivered, failed, retry, waiting or gone."""

    outcome: str
    countdown: float = 0.0
    status: int | None = None


def url_for(settings: Settings, target: str) -> str | None:
    """The configured URL behind a row's digest (None once it left WEBHOOK_URLS)."""
    return next((url for url in settings.webhook_urls if target_of(url) == target), None)


def _turn(session: Session, row: Delivery) -> bool:
    earlier = session.scalar(
        select(Delivery.id).where(
            Delivery.target == row.target, Delivery.subject == row.subject,
            Delivery.state == DeliveryState.PENDING, Delivery.id < row.id,
        ).limit(1)
    )  # fmt: skip
    return earlier is None


def _begin(db: Database, delivery_id: int) -> Delivery | str:
    with db.session() as session:
        row = session.get(Delivery, delivery_id)
        if row is None or row.state != DeliveryState.PENDING:
            return "gone"
        if not _turn(session, row):
            guarded(session, Delivery, delivery_id, PENDING, {"dispatched_at": None})
            return "waiting"  # the delivery before it sends it when it ends
        # The count in SQL, guarded: a late twin of the task cannot lose an increment.
        started = transition(session, Delivery, delivery_id, PENDING, {
            "attempts": Delivery.attempts + 1, "dispatched_at": utcnow(), "next_attempt_at": None,
        })  # fmt: skip
        if started is None:
            return "gone"
        session.expunge(started)
        return started


def backoff(settings: Settings, attempts: int, asked: float | None) -> float:
    """Seconds before the next attempt: doubling from the base, capped, jittered; at least
    what a Retry-After asked for (up to six hours)."""
    doubled = settings.webhook_retry_base_s * 2.0 ** max(attempts - 1, 0)
    wait: float = min(doubled, settings.webhook_retry_max_s)
    wait *= random.uniform(0.8, 1.0)  # noqa: S311  # nosec B311  # spreading retries, not a secret
    return max(wait, min(asked or 0.0, 6 * 3600.0))


def _headers(settings: Settings, row: Delivery, body: bytes) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aula-webhooks/0.1",
        "X-Aula-Event": row.event,
        "X-Aula-Delivery": row.event_id,
    }
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
        headers["X-Aula-Signature"] = webhooks.signature(secret, body)
    return headers


def attempt(services: Services, delivery_id: int) -> Attempt:
    """Try one delivery once and record the outcome; the caller schedules a retry if asked."""
    settings = services.settings
    row = _begin(services.db, delivery_id)
    if isinstance(row, str):
        return Attempt(row)
    url = url_for(settings, row.target)
    if url is None:
        answer = webhooks.Answer(False, False, None, "The URL is no longer in WEBHOOK_URLS.")
    else:
        body = row.body.encode()
        answer = webhooks.post(
            url, body, _headers(settings, row, body),
            allow_private=settings.download_allow_private_hosts,
            connect_timeout=settings.http_connect_timeout,
            read_timeout=settings.http_read_timeout,
        )  # fmt: skip
    return _finish(services, row, answer)


def _finish(services: Services, row: Delivery, answer: webhooks.Answer) -> Attempt:
    retry = answer.retry and row.attempts < services.settings.webhook_max_attempts
    countdown = backoff(services.settings, row.attempts, answer.retry_after_s) if retry else 0.0
    outcome = "delivered" if answer.delivered else ("retry" if retry else "failed")
    values: dict[str, Any] = {"last_status": answer.status, "last_error": answer.error}
    if outcome == "delivered":
        values.update(state=DeliveryState.DELIVERED, delivered_at=utcnow())
    elif outcome == "failed":
        values.update(state=DeliveryState.FAILED)
    else:
        values.update(next_attempt_at=utcnow() + timedelta(seconds=countdown))
    with services.db.session() as session:  # an ended delivery keeps its outcome
        transition(session, Delivery, row.id, PENDING, values)
    if outcome != "retry":
        log.info("delivery %d of %s to %s: %s", row.id, row.event, row.host, outcome)
    return Attempt(outcome, countdown, answer.status)


def prune(services: Services) -> int:
    """Forget ended deliveries older than TASK_RETENTION_DAYS; how many went."""
    before = utcnow() - timedelta(days=services.settings.task_retention_days)
    with services.db.session() as session:
        gone = session.execute(
            delete(Delivery).where(
                Delivery.state.in_((DeliveryState.DELIVERED, DeliveryState.FAILED)),
                Delivery.created_at < before,
            )
        )
        return int(getattr(gone, "rowcount", 0) or 0)


# ---------------------------------------------------------------- reading


def list_deliveries(
    db: Database, *, state: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[Delivery]:
    """Deliveries, newest first, optionally of one state."""
    return newest_first(db, Delivery.id, Delivery.state, state=state, limit=limit, cursor=cursor)


def get_delivery(db: Database, delivery_id: int) -> Delivery:
    """One delivery, or NotFound."""
    return db.get(Delivery, delivery_id, f"No delivery with id {delivery_id}.")
