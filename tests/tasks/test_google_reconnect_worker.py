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


def test_the_other_account_carries_on_through_the_worker(base_env, settings, worker, fake_google):
    env = {**base_env, **fake_google.consent_env()}
    app = create_app({key.lower(): value for key, value in env.items()})
    client = app.test_client()
    assert client.put("/api/google/client", json=fake_google.client_file()).status_code == 200
    for email in ("school@example.com", "home@example.com"):
        fake_google.account_email = email
        started = client.post("/api/google/connections", json={}).get_json()
        consent = requests.get(started["authorization_url"], allow_redirects=False, timeout=10)
        back = urlsplit(consent.headers["Location"])
        assert client.get(f"{back.path}?{back.query}").status_code == 303
    fake_google.account_email = "student@example.com"
    school, home = client.get("/api/google/connections").get_json()["items"]
    folder = fake_google.add_folder("Carried on")
    fake_google.add_file("still.mp4", folder, size=1000, seed=8)
    for connection in (school, home):
        path = f"/api/google/connections/{connection['id']}"
        assert client.patch(path, json={"drive_folder_ids": [folder]}).status_code == 200
    fake_google.kill_refresh_tokens("school@example.com")
    fake_google.expire_all_tokens()
    services = app.extensions[SERVICES]
    try:
        record = jobs.enqueue(
            services.db, make_celery_client(services.settings), "catalog.rebuild",
            {"source": "drive"},
        )  # fmt: skip
        done = wait_for_task(settings.database_url, record.id, ("SUCCESS", "FAILURE"), 90)
        assert done.state == "SUCCESS", done.error
        per = done.result["drive"]["connections"]
        assert per[str(school["id"])]["error"] == "google_reconnect_required"
        assert per[str(home["id"])]["items"] == 1 and done.result["drive"]["items"] == 1
        items = client.get("/api/catalog/items?source=drive").get_json()["items"]
        assert [(i["title"], i["connection_id"]) for i in items] == [("still.mp4", home["id"])]
        shown = client.get(f"/api/google/connections/{school['id']}").get_json()
        assert shown["status"] == "needs_reconnect"
    finally:
        for connection in (school, home):
            client.delete(f"/api/google/connections/{connection['id']}")
        fake_google.delete(folder)
