"""Celery tasks: `celery -A tasks worker|beat|flower` finds `tasks.app` here."""

from core.settings import get_settings
from tasks import catalog, classroom, downloads, liveness, maintenance, signals  # noqa: F401
from tasks.app import app

if get_settings().enable_test_tasks:
    from tasks import testing  # noqa: F401

__all__ = ["app"]
