"""Extensions, created unbound here and attached to the app in `create_app`."""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import current_app
from flask_smorest import Api as SmorestApi

import celeryconfig
from api.schemas import ErrorSchema
from core.base.db import Database
from core.base.errors import google_not_connected
from core.base.services import Services
from core.base.settings import Settings
from core.base.vault import Vault
from core.google import connections


class Api(SmorestApi):
    """flask-smorest's Api, with our error envelope instead of its own."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: Any) -> Any:
        from api.errors import http_error_response

        return http_error_response(error)


api = Api()
SERVICES = "aula.services"


def make_celery_client(settings: Settings) -> Celery:
    """A Celery app used only to send tasks by name and to talk to workers; no task code."""
    client = Celery("aula-api", set_as_current=False)
    client.conf.update(celeryconfig.make_config(settings))
    # Task state lives in the database: the API needs no result backend (whose reconnect loop
    # would hold a request for ~20 s when Redis is down), and a refused publish fails fast.
    client.conf.update(
        result_backend=None,
        task_ignore_result=True,
        broker_connection_timeout=2,
        broker_connection_max_retries=1,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        # No `task-sent` event per send: a second Redis round trip (PUBLISH) on every enqueue,
        # for Flower's "sent" state alone; a queued task is its record's PENDING (issue 29).
        # Workers still send received/started/succeeded, so Flower lists each task once taken.
        task_send_sent_event=False,
    )
    return client


def services() -> Services:
    """The current app's services (its composition root, built once in `create_app`)."""
    value: Services = current_app.extensions[SERVICES]
    return value


def settings() -> Settings:
    """The settings of the current app."""
    return services().settings


def db() -> Database:
    """The current app's database."""
    return services().db


def celery_client() -> Celery:
    """The current app's Celery client."""
    client = services().broker
    if not isinstance(client, Celery):  # create_app gives the web process a Celery client
        raise TypeError(f"the web process's broker is a {type(client).__name__}, not Celery")
    return client


def require_google() -> None:
    """CredentialsMissing (409) unless Google credentials are stored."""
    vault = Vault(db(), settings().fernet_keys)
    if connections.any_connection(db()):
        return
    if not any(info.kind == "google" and info.configured for info in vault.list()):
        raise google_not_connected()
