"""core.notify.notifications and core.notify.webhooks against a real loopback receiver: signing,
outcomes, retries and their backoff, the address guard, order per subject."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from core.base.db import database, session_scope
from core.base.models import Delivery, utcnow
from core.base.settings import load_settings
from core.jobs import records as jobs
from core.notify import notifications
from tests.fakes.webhooks import Receiver
from tests.helpers import private_redis_db
from tests.services import services_of

SECRET = "webhook-secret-for-tests-0123456789"


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def _settings(settings, receiver, **extra):
    values = {
        "webhook_urls": [receiver.url],
        "webhook_secret": SecretStr(SECRET),
        # The receiver listens on loopback, which the guard refuses unless this is set.
        "download_allow_private_hosts": True,
        "redis_url": private_redis_db(settings.redis_url),
        **extra,
    }
    return settings.model_copy(update=values)


def _record(settings, event="download.succeeded", subject="download:1", data=None):
    with session_scope(settings.database_url) as session:
        notifications.record(session, settings, event, subject, data or {"id": 1})
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))[-1].id


def _row(settings, delivery_id):
    return notifications.get_delivery(database(settings.database_url), delivery_id)


def test_a_delivery_is_signed_and_says_which_event_it_is(settings, receiver):
    config = _settings(settings, receiver)
    services = services_of(config)
    delivery_id = _record(config, data={"id": 7, "state": "succeeded"})
    assert notifications.attempt(services, delivery_id).outcome == "delivered"
    [got] = receiver.received
    body = got.json
    assert set(body) == {"event", "id", "occurred_at", "data"}
    assert body["event"] == "download.succeeded" and body["data"] == {"id": 7, "state": "succeeded"}
    assert got.headers["x-aula-delivery"] == body["id"]
    assert got.headers["content-type"] == "application/json"
    assert got.signed_by(SECRET) and not got.signed_by(SECRET + "x")
    row = _row(config, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 204)
    # Delivered already: a repeat of the task sends nothing.
    assert notifications.attempt(services, delivery_id).outcome == "gone"
    assert len(receiver.received) == 1
    assert receiver.url not in json.dumps(row.body) and "t1" not in row.host


@pytest.mark.parametrize(
    ("status", "retry_after", "outcome"),
    [(500, None, "retry"), (503, None, "retry"), (429, "7", "retry"), (404, None, "failed"),
     (400, None, "failed"), (410, None, "failed")],
)  # fmt: skip
def test_answers_that_retry_and_answers_that_are_final(
    settings, receiver, status, retry_after, outcome
):
    config = _settings(settings, receiver)
    services = services_of(config)
    receiver.status, receiver.retry_after = status, retry_after
    delivery_id = _record(config)
    result = notifications.attempt(services, delivery_id)
    assert (result.outcome, result.status) == (outcome, status)
    row = _row(config, delivery_id)
    assert row.state == ("pending" if outcome == "retry" else "failed")
    if retry_after:
        assert result.countdown >= 7, "Retry-After is honoured"
    if outcome == "retry":
        assert row.next_attempt_at is not None and result.countdown > 0


def test_a_receiver_that_is_down_is_retried_until_attempts_run_out(settings, receiver):
    config = _settings(settings, receiver, webhook_max_attempts=3)
    services = services_of(config)
    receiver.stop()
    delivery_id = _record(config)
    outcomes = [notifications.attempt(services, delivery_id).outcome for _ in range(3)]
    assert outcomes == ["retry", "retry", "failed"]
    row = _row(config, delivery_id)
    assert row.state == "failed" and row.attempts == 3
    assert "could not be reached" in (row.last_error or "")


def test_the_address_guard_refuses_loopback_unless_private_hosts_are_allowed(settings, receiver):
    config = _settings(settings, receiver, download_allow_private_hosts=False)
    services = services_of(config)
    delivery_id = _record(config)
    assert notifications.attempt(services, delivery_id).outcome == "failed"
    assert receiver.answered == [], "nothing reached the receiver"
    assert "forbidden" in (_row(config, delivery_id).last_error or "")


def test_deliveries_of_one_subject_go_one_after_the_other(settings, receiver):
    config = _settings(settings, receiver)
    services = services_of(config)
    first = _record(config, "download.failed", "download:9")
    second = _record(config, "download.succeeded", "download:9")
    other = _record(config, "download.succeeded", "download:10")
    assert notifications.dispatch(services) == 2  # the first of each subject
    sent = [r.args["delivery_id"] for r in jobs.list_records(database(config.database_url)).items]
    assert sorted(sent) == sorted([first, other])
    assert notifications.dispatch(services) == 0, "a claimed delivery is not sent twice"
    assert notifications.attempt(services, second).outcome == "waiting"
    assert receiver.received == []
    assert notifications.attempt(services, first).outcome == "delivered"
    assert notifications.dispatch(services) == 1
    assert notifications.attempt(services, second).outcome == "delivered"
    assert [e["event"] for e in receiver.events()] == ["download.failed", "download.succeeded"]


def test_a_delivery_whose_task_was_lost_is_sent_again_but_a_long_retry_after_is_kept(
    settings, receiver
):
    config = _settings(settings, receiver)
    services = services_of(config)
    lost, waiting = _record(config, subject="download:1"), _record(config, subject="download:2")
    assert notifications.dispatch(services) == 2
    assert notifications.dispatch(services) == 0
    long_ago = utcnow() - timedelta(hours=1)
    with session_scope(config.database_url) as session:
        # An attempt began an hour ago and never ended: its worker died with the task.
        session.get_one(Delivery, lost).dispatched_at = long_ago
        # A receiver asked (Retry-After) for two hours: its task waits, it is not lost.
        row = session.get_one(Delivery, waiting)
        row.dispatched_at, row.next_attempt_at = long_ago, utcnow() + timedelta(hours=1)
    assert notifications.dispatch(services) == 1
    sent = [r.args["delivery_id"] for r in jobs.list_records(database(config.database_url)).items]
    assert sorted(sent) == sorted([lost, waiting, lost])


def test_ended_deliveries_past_retention_are_pruned(settings, receiver):
    config = _settings(settings, receiver)
    services = services_of(config)
    old, recent, waiting = (_record(config, subject=f"download:{n}") for n in range(3))
    notifications.attempt(services, old)
    notifications.attempt(services, recent)
    with session_scope(config.database_url) as session:
        for delivery_id in (old, waiting):
            session.get_one(Delivery, delivery_id).created_at = utcnow() - timedelta(days=31)
    assert notifications.prune(services) == 1
    left = [row.id for row in notifications.list_deliveries(database(config.database_url)).items]
    assert sorted(left) == sorted([recent, waiting]), "pending ones are kept, however old"


def test_the_default_backoff_outlasts_a_ten_minute_outage():
    defaults = load_settings()
    waits = [
        notifications.backoff(defaults, attempt, None)
        for attempt in range(1, defaults.webhook_max_attempts)
    ]
    assert sum(waits) > 30 * 60
    assert max(waits) <= defaults.webhook_retry_max_s
    assert notifications.backoff(defaults, 1, 120.0) >= 120.0
