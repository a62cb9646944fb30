"""NUL characters are bad input (400/422), never a database error (found by the fuzz on PostgreSQL:
GET /api/catalog/items?course_id=%00 answered 500)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.api.envelope import assert_envelope


@pytest.mark.parametrize(
    "url",
    [
        "/api/catalog/items?source=classroom&folder_id=&course_id=%F1%B6%A6%A3%06%C3%8A2%C3%8F%00",
        "/api/catalog/items?q=aula%00",
        "/api/tasks?name=catalog.rebuild%00",
        "/api/downloads?state=%00",
        "/api/drive/files?folder_id=x%00y",
        "/api/drive/files/abc%00def",
    ],
)
def test_nul_in_a_query_or_path_is_a_validation_error(client: FlaskClient, url: str) -> None:
    details = assert_envelope(client.get(url), 400, "validation_error")
    assert details == {"reason": "nul"}


def test_nul_in_a_json_body_is_a_validation_error(client: FlaskClient) -> None:
    response = client.post(
        "/api/downloads",
        data='{"url": "https://videos.example/a\\u0000b.mp4"}',
        content_type="application/json",
    )
    assert response.status_code in (400, 422)
    assert response.get_json()["error"]["code"] == "validation_error"


def test_ordinary_text_passes(client: FlaskClient) -> None:
    assert client.get("/api/catalog/items?q=aula%2000%201").status_code == 200
