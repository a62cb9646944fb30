"""The task contract (core.jobs.taskdefs) against a real worker: every name sent is one it runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api import create_app
from api.extensions import make_celery_client
from celeryconfig import make_config
from core.jobs import records as jobs
from core.jobs.taskdefs import QueueName, TaskName, TestTaskName, queue_for
from tests.conftest import settings_from_env
from tests.helpers import own_worker_env, wait_for
from tests.workers import running_worker


def api_task_names(env: dict[str, str]) -> set[str]:
    """The task names the API's OpenAPI document lets a client name (GET /api/tasks?name=)."""
    app = create_app({key.lower(): value for key, value in env.items()})
    spec = app.test_client().get("/api/openapi.json").get_json()
    (param,) = [p for p in spec["paths"]["/api/tasks"]["get"]["parameters"] if p["name"] == "name"]
    return set(param["schema"]["enum"])


@pytest.fixture(scope="module")
def production_worker(
    base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], set[str]]]:
    """A worker with the settings a user gets (no test tasks), and the names it registered."""
    env = {**own_worker_env(base_env), "ENABLE_TEST_TASKS": "false"}
    log = tmp_path_factory.mktemp("contract") / "worker.log"
    celery = make_celery_client(settings_from_env(env))

    def registered() -> Any:
        replies = celery.control.inspect(timeout=2).registered() or {}
        return next(iter(replies.values()), None)

    try:
        with running_worker(env, log, "-Q", ",".join(QueueName)):
            names = wait_for(registered, 60, interval=0.5, what="the worker's registered tasks")
            yield env, {name.split(" ", 1)[0] for name in names}
    finally:
        celery.close()


def test_the_worker_registers_every_task_name_and_no_test_task(production_worker) -> None:
    env, registered = production_worker
    schedule = make_config(settings_from_env(env))["beat_schedule"]
    beat = {entry["task"] for entry in schedule.values()}
    assert beat == {"catalog.sync", "catalog.rebuild", "maintenance.cleanup", "classroom.sync"}
    sendable = set(jobs.TASK_NAMES) | api_task_names(env) | beat
    assert sendable == {str(name) for name in TaskName}
    assert sendable <= registered, sendable - registered
    assert not {name for name in registered if name.startswith("testing.")}


def test_every_task_is_routed_to_its_queue(base_env: dict[str, str]) -> None:
    celery = make_celery_client(settings_from_env(base_env))
    routed = {
        str(name): celery.amqp.router.route({}, str(name), args=(), kwargs={})["queue"].name
        for name in (*TaskName, *TestTaskName)
    }
    celery.close()
    assert routed == {name: str(queue_for(name)) for name in routed}
    assert routed["downloads.fetch"] == "downloads" == jobs.queue_for("downloads.fetch")
    assert routed["media.convert"] == "media" == jobs.queue_for("media.convert")
    assert set(routed.values()) == set(jobs.QUEUES) == {"default", "downloads", "media"}


def test_test_tasks_are_registered_when_enabled(worker: Any, celery_client: Any) -> None:
    # The session's shared worker runs with ENABLE_TEST_TASKS=true, as every test worker does.
    replies = celery_client.control.inspect(timeout=5).registered() or {}
    names = {name.split(" ", 1)[0] for tasks in replies.values() for name in tasks}
    assert {str(name) for name in TestTaskName} <= names
