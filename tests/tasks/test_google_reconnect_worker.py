"""A real worker meets Google's invalid_grant: the task fails at once with error type
google_reconnect_required and the connection shows needs_reconnect (CONTRACT 8.1)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from api import create_app
from api.extensions import SERVICES, make_celery_client
from core.jobs import records as jobs
from tests.helpers import wait_for_task


def test_a_withdrawn_grant_fails_the_sync_for_good(base_env, settings, worker, fake_google):
    env = {**base_env, **fake_google.consent_env()}
    app = create_app({key.lower(): value for key, value in env.items()})
    client = app.test_client()
    assert client.put("/api/google/client", json=fake_google.client_file()).status_code == 200
    started = client.post("/api/google/connections", json={}).get_json()
    consent = requests.get(started["authorization_url"], allow_redirects=False, timeout=10)
    back = urlsplit(consent.headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 303
    (connection,) = client.get("/api/google/connections").get_json()["items"]
    fake_google.kill_refresh_tokens(connection["email"])
    services = app.extensions[SERVICES]
    try:
        record = jobs.enqueue(
            services.db, make_celery_client(services.settings), "catalog.sync", {"source": "drive"}
        )
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"), 90)
        assert done.state == "FAILURE"
        assert done.error["type"] == "google_reconnect_required", done.error
        assert "reconnect" in done.error["message"]
        shown = client.get(f"/api/google/connections/{connection['id']}").get_json()
        assert shown["status"] == "needs_reconnect"
        ready = client.get("/api/health/ready").get_json()
        assert "need reconnecting" in ready["checks"]["google"]
    finally:
        client.delete(f"/api/google/connections/{connection['id']}")
