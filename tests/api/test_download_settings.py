"""GET|PATCH /api/settings/downloads (CONTRACT 8.5): defaults, changes, and bad input."""

from __future__ import annotations

import pytest

from tests.api.envelope import assert_envelope

URL = "/api/settings/downloads"


def test_the_defaults_come_from_the_settings(client):
    body = client.get(URL).get_json()
    assert body == {"paused": False, "windows": [], "rate_limit_bps": None, "concurrency": 2}


def test_a_patch_changes_only_what_it_names_and_is_what_get_answers(client):
    changed = client.patch(URL, json={"windows": ["07:00-01:00", "12:00-13:00"]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["windows"] == ["07:00-01:00", "12:00-13:00"]  # over midnight: valid
    client.patch(URL, json={"rate_limit_bps": 1048576, "concurrency": 3, "paused": True})
    body = client.get(URL).get_json()
    assert body == {
        "paused": True,
        "windows": ["07:00-01:00", "12:00-13:00"],
        "rate_limit_bps": 1048576,
        "concurrency": 3,
    }
    client.patch(URL, json={"rate_limit_bps": None, "windows": [], "paused": False})
    assert client.get(URL).get_json()["rate_limit_bps"] is None


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        ({"windows": ["25:00-26:00"]}, 400),
        ({"windows": ["01:00-01:00"]}, 400),
        ({"windows": ["1:00-7:00"]}, 400),
        ({"windows": ["01:00-07:00", "nightly"]}, 400),
        ({"rate_limit_bps": -1}, 400),
        ({"rate_limit_bps": 0}, 400),
        ({"concurrency": 0}, 400),
        ({"concurrency": 65}, 400),
        ({"windows": "01:00-07:00"}, 422),  # not the right type at all: the schema's answer
        ({"rate_limit_bps": "fast"}, 422),
        ({"paused": "maybe"}, 422),
        ({"unknown": 1}, 422),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(client, bad, status):
    response = client.patch(URL, json=bad)
    assert_envelope(response, status, "validation_error")
    body = client.get(URL).get_json()
    assert body == {"paused": False, "windows": [], "rate_limit_bps": None, "concurrency": 2}
