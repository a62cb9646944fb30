"""The Flask API: `create_app()` builds it from small register steps."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest.spec.plugins import integerconverter2paramschema
from flask_swagger_ui import get_swaggerui_blueprint

from api import (
    catalog,
    classroom,
    credentials,
    download_settings,
    downloads,
    drive,
    fast_poll,
    fast_progress,
    google,
    health,
    maintenance,
    notifications,
    people,
    pipeline,
    playback,
    subscriptions,
    tasks,
    tokens,
    tracks,
    ui,
)
from api import courses as courses_api
from api import progress as progress_api
from api.access import document_read_access, register_access
from api.errors import register_error_handlers
from api.extensions import SERVICES, api, make_celery_client
from api.headers import register_headers, trust_proxies
from api.limits import register_limits
from api.links import document_links
from api.metrics import instrument
from api.schemas import IdConverter
from core import __version__
from core.base.logging import configure_process_logging
from core.base.services import Services
from core.base.settings import Settings, get_settings, load_settings
from core.notify import notifications as notify_events

BLUEPRINTS = (
    health.blp,
    tasks.blp,
    maintenance.blp,
    credentials.blp,
    catalog.blp,
    drive.blp,
    downloads.blp,
    download_settings.blp,
    classroom.blp,
    subscriptions.blp,
    notifications.blp,
    google.blp,
    people.blp,
    playback.blp,
    tokens.blp,
    courses_api.blp,
    progress_api.blp,
    tracks.blp,
)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app; `overrides` replace settings read from the environment (tests use it)."""
    settings = load_settings(**overrides) if overrides else get_settings()
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_settings(app, settings)
    register_logging(settings)
    register_headers(app)
    register_access(app)
    register_limits(app)
    register_api(app)
    register_error_handlers(app)
    register_metrics(app)
    pipeline.install(app)  # every request hook, in the order api/pipeline.py declares
    # The WSGI stack, inside out: Flask; a plain progress save made as the pipeline would make
    # it; forwarded headers believed from TRUSTED_PROXIES; a plain task poll answered first.
    fast_progress.install(app)
    trust_proxies(app)
    fast_poll.install(app)
    return app


def register_settings(app: Flask, settings: Settings) -> None:
    """Build the web process's services once; views reach them through api.extensions."""
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        API_TITLE="Aula",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.extensions[SERVICES] = Services.build(settings, broker=make_celery_client(settings))
    notify_events.announce_needs_reconnect(app.extensions[SERVICES])
    app.extensions["aula.settings"] = settings  # read by the request hooks as they register


def register_logging(settings: Settings) -> None:
    """Structured logs with every configured secret redacted."""
    configure_process_logging(settings)


def register_api(app: Flask) -> None:
    """Blueprints, the OpenAPI document and its interactive docs (assets served locally)."""
    app.url_map.converters["int"] = IdConverter  # before any route is added
    api.init_app(app)
    api.register_converter(IdConverter, integerconverter2paramschema)
    api.spec.components.security_scheme(
        "adminToken", {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"}
    )
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": "aula_session",
                    "description": "POST /api/session; changes also send X-CSRF-Token"}
    )  # fmt: skip
    api.spec.components.security_scheme(
        "apiToken", {"type": "http", "scheme": "bearer", "description": "POST /api/tokens"}
    )
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    _document_admin_token(api.spec.to_dict())
    document_read_access(api.spec.to_dict())
    document_links(api.spec.to_dict())
    docs = get_swaggerui_blueprint(
        "/api/docs", "/api/openapi.json", config={"app_name": "Aula API"}
    )
    app.register_blueprint(docs)
    app.register_blueprint(ui.blp)  # the web UI at / and /ui/ (not in the OpenAPI document)


def _document_admin_token(spec: dict[str, Any]) -> None:
    # Every mutating operation needs ADMIN_TOKEN (enforced in api.security for all routes).
    for operations in spec.get("paths", {}).values():
        for method, operation in operations.items():
            if method in ("post", "put", "patch", "delete"):
                # Once people exist (CONTRACT 8.2) a session or a personal token does too.
                operation.setdefault(
                    "security", [{"adminToken": []}, {"session": []}, {"apiToken": []}]
                )


def register_metrics(app: Flask) -> None:
    """Request metrics by URL rule and gauges read at scrape time, at /metrics (api.metrics)."""
    instrument(app, app.extensions[SERVICES])
