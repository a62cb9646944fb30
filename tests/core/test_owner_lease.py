"""Issue 23, 5/1.x: the owner lease in a task record. A twin of a delivery that still runs (its
message handed back anyway) gets Held and changes nothing; a delivery whose owner died (its
lease ran out, nobody renewed it) takes over. An expired lease is made with a negative lease
length, never by sleeping. SQLite and PostgreSQL alike (TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid

import pytest

from core.base.db import Database, database
from core.base.models import TaskRecord
from core.base.settings import Settings
from core.jobs import leases, task_lifecycle
from core.jobs.leases import Held
from tests.core.races import just_before

OWNER_A = "worker-a@host:10:aaaa:"
OWNER_B = "worker-b@host:20:bbbb:"


@pytest.fixture
def db(settings: Settings) -> Database:
    return database(settings.database_url)


def _record(db: Database, state: str = "PENDING") -> str:
    task_id = str(uuid.uuid4())
    with db.session() as session:
        session.add(TaskRecord(id=task_id, name="catalog.sync", state=state))
    return task_id


def _row(db: Database, task_id: str) -> TaskRecord:
    with db.session() as session:
        return session.get_one(TaskRecord, task_id)


def _fields(row: TaskRecord) -> tuple[object, ...]:
    return (row.state, row.deliveries, row.owner, row.lease_until, row.started_at, row.error)


def test_a_twin_of_a_live_delivery_is_held_and_changes_nothing(db: Database) -> None:
    task_id = _record(db)
    assert task_lifecycle.begin_delivery(db, task_id, OWNER_A + "1", 30) == 1
    before = _fields(_row(db, task_id))
    twin = task_lifecycle.begin_delivery(db, task_id, OWNER_B + "2", 30)
    assert isinstance(twin, Held), "a twin of a live delivery must not run"
    assert twin.owner == OWNER_A + "1" and 0 < twin.seconds_left <= 30
    assert _fields(_row(db, task_id)) == before, "the twin changed the record"
    assert task_lifecycle.mark_started(db, task_id) is False


def test_a_dead_owners_lease_runs_out_and_its_redelivery_runs(db: Database) -> None:
    task_id = _record(db)
    assert task_lifecycle.begin_delivery(db, task_id, OWNER_A + "1", -1) == 1  # ran out already
    assert task_lifecycle.begin_delivery(db, task_id, OWNER_B + "2", 30) == 2, "a crash counts"
    assert _row(db, task_id).owner == OWNER_B + "2"


def test_the_owners_worker_renews_only_its_own_leases(db: Database) -> None:
    mine, theirs, ended = _record(db), _record(db), _record(db)
    task_lifecycle.begin_delivery(db, mine, OWNER_A + "1", -1)
    task_lifecycle.begin_delivery(db, theirs, OWNER_B + "2", -1)
    task_lifecycle.begin_delivery(db, ended, OWNER_A + "3", -1)
    task_lifecycle.mark_finished(db, ended, "SUCCESS", result={})
    assert leases.renew(db, OWNER_A, [mine, theirs, ended, "no-such-task"], 30) == 1
    assert isinstance(task_lifecycle.begin_delivery(db, mine, OWNER_B + "9", 30), Held)
    assert task_lifecycle.begin_delivery(db, theirs, OWNER_A + "9", 30) == 2, "not renewed"
    assert task_lifecycle.begin_delivery(db, ended, OWNER_B + "9", 30) is None
    assert leases.renew(db, OWNER_A, [], 30) == 0


def test_a_worker_prefix_with_like_wildcards_renews_nothing_else(db: Database) -> None:
    task_id = _record(db)
    task_lifecycle.begin_delivery(db, task_id, "w@h:1:ab:1", -1)
    assert leases.renew(db, "w@h:%:", [task_id], 30) == 0


def test_progress_renews_the_lease_and_only_its_owner_reports(db: Database) -> None:
    task_id = _record(db)
    task_lifecycle.begin_delivery(db, task_id, OWNER_A + "1", -1)
    stranger = task_lifecycle.ProgressReporter(db, task_id, 0, owner=OWNER_B + "2", lease_s=30)
    stranger(1, 4, "not mine")
    assert _row(db, task_id).progress is None
    task_lifecycle.ProgressReporter(db, task_id, 0, owner=OWNER_A + "1", lease_s=30)(2, 4, "ok")
    assert _row(db, task_id).progress["message"] == "ok"  # type: ignore[index]
    assert isinstance(task_lifecycle.begin_delivery(db, task_id, OWNER_B + "3", 30), Held)


@pytest.mark.parametrize("ending", ["released", "retried", "finished"])
def test_a_delivery_that_ends_frees_its_lease(db: Database, ending: str) -> None:
    task_id = _record(db)
    owner = OWNER_A + "1"
    task_lifecycle.begin_delivery(db, task_id, owner, 30)
    if ending == "released":
        task_lifecycle.mark_released(db, task_id)
    elif ending == "retried":
        task_lifecycle.mark_retry(db, task_id, TimeoutError("later"))
    else:
        task_lifecycle.mark_finished(db, task_id, "FAILURE", error=OSError("x"))
    row = _row(db, task_id)
    assert (row.owner, row.lease_until) == (None, None)
    # The stale delivery's late report is refused: the record is no longer its own.
    task_lifecycle.ProgressReporter(db, task_id, 0, owner=owner, lease_s=30)(3, 4, "late")
    assert _row(db, task_id).progress is None
    if ending != "finished":
        assert task_lifecycle.begin_delivery(db, task_id, OWNER_B + "2", 30) == 1


def test_the_same_delivery_may_begin_again(db: Database) -> None:
    task_id = _record(db)
    task_lifecycle.begin_delivery(db, task_id, OWNER_A + "1", 30)
    assert task_lifecycle.begin_delivery(db, task_id, OWNER_A + "1", 30) == 2


def test_of_two_deliveries_beginning_at_once_one_runs(db: Database, settings: Settings) -> None:
    task_id = _record(db)
    other = database(settings.database_url)
    answers: list[object] = []
    first = lambda: answers.append(task_lifecycle.begin_delivery(other, task_id, OWNER_A + "1", 30))  # noqa: E731
    with just_before(db, "UPDATE task_records", first) as fired:
        answers.append(task_lifecycle.begin_delivery(db, task_id, OWNER_B + "2", 30))
    assert fired
    assert answers[0] == 1 and isinstance(answers[1], Held), answers
    assert _row(db, task_id).owner == OWNER_A + "1"


def test_a_dead_pool_process_lease_is_freed_by_its_worker(db: Database) -> None:
    # The worker's main process frees the lease of a delivery whose pool process died before
    # the message goes back to the queue: the next delivery runs at once (tasks/app.py).
    task_id, other = _record(db), _record(db)
    task_lifecycle.begin_delivery(db, task_id, OWNER_A + "4242:x1", 30)
    task_lifecycle.begin_delivery(db, other, OWNER_A + "4243:x2", 30)
    assert not leases.free(db, task_id, OWNER_A + "4243:"), "another process's delivery"
    assert not leases.free(db, task_id, OWNER_B + "4242:"), "another worker's"
    assert leases.free(db, task_id, OWNER_A + "4242:")
    assert task_lifecycle.begin_delivery(db, task_id, OWNER_B + "1:y", 30) == 2
    assert isinstance(task_lifecycle.begin_delivery(db, other, OWNER_B + "1:y", 30), Held)


def test_a_deliverys_token_names_its_worker_and_pool_process() -> None:
    import os

    token = leases.new_owner()
    assert token.startswith(leases.process_prefix(os.getpid()))
    assert token != leases.new_owner()


def test_a_worker_with_a_very_long_node_name_still_starts_tasks(db: Database) -> None:
    # Bad input: a node name longer than the owner column (PostgreSQL would refuse the write).
    leases.set_worker("celery@" + "n" * 300)
    try:
        owner = leases.new_owner()
        assert len(owner) <= 160
        task_id = _record(db)
        assert task_lifecycle.begin_delivery(db, task_id, owner, 30) == 1
        assert _row(db, task_id).owner == owner
    finally:
        leases.set_worker("test-host")
