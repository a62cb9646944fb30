"""Errors a person can act on: no API call to make, the setting or the page that fixes it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flask.testing import FlaskClient

from core.base.settings import Settings
from core.catalog.indexing import rebuild_local
from tests.api.envelope import assert_envelope
from tests.helpers import ROOT
from tests.media import make_video
from tests.services import services_of

# Raising these (or building an envelope) hands the first string argument to a person.
MESSAGE_CALLS = re.compile(
    r"^(envelope|unauthorized|[A-Z]\w*(Error|Failed|Missing|Refused|Timeout|Storage|Large|Busy"
    r"|Unavailable|Conflict|NotFound))$"
)
HTTP_CALL = re.compile(r"\b(GET|PUT|POST|PATCH|DELETE)\s+/|/api/")


def _message_texts(path: Path) -> list[tuple[int, str]]:
    """The literal text of every message argument given to an error or an envelope in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
        if not MESSAGE_CALLS.match(name):
            continue
        for arg in node.args:
            parts = [n.value for n in ast.walk(arg) if isinstance(n, ast.Constant)]
            text = "".join(p for p in parts if isinstance(p, str))
            if text:
                found.append((node.lineno, text))
    return found


def test_no_error_message_tells_a_person_to_make_an_http_call() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for folder in ("core", "api", "tasks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, text in _message_texts(path)
        if HTTP_CALL.search(text)
    ]
    assert offending == []


def test_the_scan_sees_a_message_that_names_an_api_call(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('raise CredentialsMissing("Not set up; PUT /api/credentials/google first.")')
    assert [t for _, t in _message_texts(sample) if HTTP_CALL.search(t)]


def test_a_local_item_has_nothing_to_download(client: FlaskClient, settings: Settings) -> None:
    make_video(settings.media_roots[0] / "lesson.webm", seconds=1, codec="libvpx")
    rebuild_local(services_of(settings))
    item = client.get("/api/catalog/items?source=local").get_json()["items"][0]
    response = client.post("/api/downloads", json={"item_id": item["id"]})
    details = assert_envelope(response, 409, "conflict")
    assert details == {"reason": "local_file"}
    message = response.get_json()["error"]["message"]
    assert "nothing to download" in message and "stream" not in message


def test_a_refused_mutation_names_admin_token(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app().test_client()
    response = client.post("/api/maintenance/cleanup", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    details = assert_envelope(response, 403, "forbidden")
    assert details["setting"] == "ADMIN_TOKEN"
    assert "ADMIN_TOKEN" in response.get_json()["error"]["message"]
