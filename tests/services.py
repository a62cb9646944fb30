"""The services a test hands to core, as a process's composition root would build them."""

from __future__ import annotations

from api.extensions import make_celery_client
from core.services import Services
from core.settings import Settings


def services_of(settings: Settings) -> Services:
    """Services for `settings`, sending tasks through a Celery client like the API's."""
    return Services.build(settings, broker=make_celery_client(settings))
