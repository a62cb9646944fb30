"""Celery tasks: `celery -A tasks worker|beat|flower` finds `tasks.app` here."""

from tasks import (  # noqa: F401  (registers)
    catalog,
    classroom,
    downloads,
    liveness,
    maintenance,
    media,
    notifications,
    signals,
)
from tasks.app import app, services

if services.settings.enable_test_tasks:
    from tasks import testing  # noqa: F401

__all__ = ["app"]
