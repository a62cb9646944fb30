"""A subscription's own template and retention (CONTRACT 8.5): kept, shown, and bad ones a 400."""

from __future__ import annotations

import pytest

from core.base.db import database
from core.catalog.sources.sync import sync_classroom
from tests.api.envelope import assert_envelope
from tests.fakes.google import drive_file
from tests.services import classroom_client, drive_client


def _course(settings, classroom):
    video = classroom.add_file("aula.mp4", size=1000, seed=1)
    course = classroom.add_course("Química")
    classroom.add_coursework(course, "Semana 1", [drive_file(video, "Aula")])
    sync_classroom(
        database(settings.database_url), classroom_client(settings), drive_client(settings)
    )
    return course


def test_a_template_and_retention_are_kept_and_shown(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    course = _course(settings, classroom)
    template = "{source}/{course}/{upload_date} {title:.40} [{id}].{ext}"
    retention = {"keep_latest": 5, "delete_watched_after_days": 0}
    created = client.post("/api/subscriptions", json={
        "source": "classroom", "course_id": course, "template": template, "retention": retention,
    })  # fmt: skip
    assert created.status_code == 201, created.get_json()
    body = client.get(f"/api/subscriptions/{created.get_json()['id']}").get_json()
    assert body["template"] == template and body["retention"] == retention


@pytest.mark.parametrize(
    ("library", "field"),
    [
        ({"template": "../{id}.{ext}"}, "template"),
        ({"template": "/srv/{id}.{ext}"}, "template"),
        ({"template": "{course}/{password} [{id}].{ext}"}, "template"),
        ({"template": "{course/{id}.{ext}"}, "template"),
        ({"template": "{course}}/{id}.{ext}"}, "template"),
        ({"template": "{title}.{ext}"}, "template"),
        ({"retention": {"keep_latest": 0}}, "retention.keep_latest"),
        ({"retention": {"delete_watched_after_days": -1}}, "retention.delete_watched_after_days"),
    ],
)
def test_a_bad_template_or_retention_is_a_400_and_nothing_is_subscribed(
    quiet_app, settings, classroom, library, field
):
    client = quiet_app.test_client()
    course = _course(settings, classroom)
    response = client.post(
        "/api/subscriptions", json={"source": "classroom", "course_id": course, **library}
    )
    details = assert_envelope(response, 400, "validation_error")
    assert details["field"] == field
    assert client.get("/api/subscriptions").get_json()["items"] == []


def test_patch_changes_or_clears_the_template_and_retention(quiet_app, settings, classroom):
    client = quiet_app.test_client()
    course = _course(settings, classroom)
    sub = client.post("/api/subscriptions", json={"source": "classroom", "course_id": course})
    url = f"/api/subscriptions/{sub.get_json()['id']}"
    changed = client.patch(
        url, json={"retention": {"keep_latest": 3}, "template": "{title} [{id}].{ext}"}
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["retention"] == {"keep_latest": 3, "delete_watched_after_days": None}
    assert body["template"] == "{title} [{id}].{ext}"
    cleared = client.patch(url, json={"template": None}).get_json()
    assert cleared["template"] is None and cleared["retention"]["keep_latest"] == 3
    details = assert_envelope(
        client.patch(url, json={"template": "../x [{id}]"}), 400, "validation_error"
    )
    assert details["field"] == "template"
    assert client.get(url).get_json()["template"] is None, "a refused change changes nothing"
    assert_envelope(
        client.patch("/api/subscriptions/999999", json={"template": None}), 404, "not_found"
    )
