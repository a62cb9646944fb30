"""GET /api/notifications: recent deliveries, paginated, without the URLs' tokens."""

from __future__ import annotations

from core.base.db import session_scope
from core.base.logging import redact
from core.notify import notifications
from tests.api.envelope import assert_envelope

URLS = ["https://hooks.example.org/services/T0KEN-1", "https://other.example.net:8443/h?k=T0KEN-2"]


def test_deliveries_are_listed_newest_first_without_their_urls(make_app, settings):
    client = make_app(webhook_urls=",".join(URLS)).test_client()
    hooked = settings.model_copy(update={"webhook_urls": URLS})
    with session_scope(settings.database_url) as session:
        for number in range(3):
            notifications.record(
                session, hooked, "download.succeeded", f"download:{number}", {"id": number}
            )
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/notifications", query_string=query)
        assert response.status_code == 200
        seen += response.get_json()["items"]
        if not (cursor := response.get_json()["next_cursor"]):
            break
    assert [row["id"] for row in seen] == sorted((row["id"] for row in seen), reverse=True)
    assert len(seen) == 6 and {row["host"] for row in seen} == {
        "hooks.example.org", "other.example.net:8443"
    }  # fmt: skip
    assert all(row["state"] == "pending" and row["attempts"] == 0 for row in seen)
    assert {row["data"]["id"] for row in seen} == {0, 1, 2}
    assert len({row["event_id"] for row in seen}) == 3, "one id per event, shared by its URLs"
    assert "T0KEN" not in client.get("/api/notifications").get_data(as_text=True)
    one = client.get(f"/api/notifications/{seen[0]['id']}")
    assert one.status_code == 200 and one.get_json() == seen[0]
    assert client.get("/api/notifications?state=delivered").get_json()["items"] == []
    assert_envelope(client.get("/api/notifications/999999"), 404, "not_found")
    bad = client.get("/api/notifications?state=lost")
    assert_envelope(bad, bad.status_code, "validation_error")
    shown = client.get("/api/health").get_json()["settings"]
    assert shown["webhook_urls"] == "set" and "T0KEN" not in str(shown)


def test_the_webhook_secret_and_urls_are_redacted_from_logs(make_app):
    secret = "webhook-secret-for-redaction-5d1c"
    make_app(webhook_secret=secret, webhook_urls=URLS[0])
    line = redact(f"signing with {secret} for {URLS[0]}")
    assert secret not in line and "T0KEN" not in line, line
