"""The services a test hands to core, as a process's composition root would build them."""

from __future__ import annotations

from api.extensions import make_celery_client
from core.base.db import database
from core.base.services import Services
from core.base.settings import Settings
from core.google.classroom import ClassroomClient
from core.google.drive import DriveClient


def services_of(settings: Settings) -> Services:
    """Services for `settings`, sending tasks through a Celery client like the API's."""
    return Services.build(settings, broker=make_celery_client(settings))


def drive_client(settings: Settings) -> DriveClient:
    """A Drive client on the credentials stored in the test database."""
    return DriveClient.from_settings(settings, database(settings.database_url))


def classroom_client(settings: Settings) -> ClassroomClient:
    """A Classroom client on the credentials stored in the test database."""
    return ClassroomClient.from_settings(settings, database(settings.database_url))
