"""The peer of bench/poll_bench.py: what a user would build instead of Aula's task poll.

A Flask app shaped like the Flask documentation's Celery example (pallets/flask, examples/celery:
`celery_init_app` making a Celery app from `app.config["CELERY"]`, and a view that returns a
task's `AsyncResult` state): broker and result backend on the bench's Redis (`REDIS_URL`), no
request hooks, no database. Served by the same `gunicorn --config gunicorn.conf.py` as Aula.
`seed(task_id)` stores a running task's PROGRESS meta in the result backend, as a task calling
`update_state` would, so the poll reads the same kind of record Aula's poll reads.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.result import AsyncResult
from flask import Blueprint, Flask


def celery_init_app(app: Flask) -> Celery:
    """The docs' helper: a Celery app whose tasks run inside the Flask app context."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.get("/result/<id>")
def result(id: str) -> dict[str, object]:
    """The docs' view: ready, successful and the value (the meta while it runs)."""
    found = AsyncResult(id)
    ready = found.ready()
    return {
        "ready": ready,
        "successful": found.successful() if ready else None,
        "value": found.get() if ready else found.result,
    }


def create_app() -> Flask:
    app = Flask("task_app")
    redis_url = os.environ.get("REDIS_URL", "redis://localhost")
    app.config.from_mapping(
        CELERY={"broker_url": redis_url, "result_backend": redis_url, "task_ignore_result": True}
    )
    celery_init_app(app)
    app.register_blueprint(bp)
    return app


app = create_app()


def seed(redis_url: str, task_id: str) -> None:
    """A running task's state in the result backend, as `update_state("PROGRESS")` leaves it."""
    meta: dict[str, Any] = {"current": 40, "total": 100, "percent": 40.0, "message": "indexing"}
    Celery("seed", backend=redis_url, broker=redis_url).backend.store_result(
        task_id, meta, "PROGRESS"
    )
