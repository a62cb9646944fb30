"""Under real gunicorn, a request built to make log redaction backtrack is answered at once and
/api/health stays responsive meanwhile."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.web_process import Web, start_web
from tests.helpers import stop_process_group

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# Raw request targets: the pentest's path (a JSON-looking secret then a run of encoded
# backslashes: 40 cost a minute before the fix), a longer run that still fits gunicorn's request
# line, and 10,000 literal backslashes (gunicorn refuses a line that long itself).
TARGETS = (
    "/%22token%22:%22" + "%5C" * 40,
    "/api/%22token%22:%22" + "%5C" * 1300,
    "/'token':'" + "\\" * 4000,
    "/" + "\\" * 10_000,
)


@pytest.fixture
def one_worker(base_env: dict[str, str], tmp_path: Path) -> Iterator[Web]:
    # One worker process (the default is 2): a request holding its GIL would stall every other
    # request, /api/health included, so the test sees any such request.
    web = start_web(base_env, tmp_path / "web.log", workers=1)
    yield web
    stop_process_group(web.process)


def _answer(base: str, target: str) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.settimeout(20)  # bounds the wait only: a linear redaction answers in milliseconds
        request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b"\r\n", 1)[0].split()[1]), body


def _status_of(base: str, target: str) -> int:
    return _answer(base, target)[0]


def test_a_backtracking_path_is_answered_while_health_stays_responsive(one_worker: Web) -> None:
    statuses: dict[str, int | str] = {}

    def send(target: str) -> None:
        try:
            statuses[target] = _status_of(one_worker.base, target)
        except OSError as error:
            statuses[target] = repr(error)

    threads = [threading.Thread(target=send, args=(target,)) for target in TARGETS]
    for thread in threads:
        thread.start()
    healths = [
        requests.get(f"{one_worker.base}/api/health", timeout=10).status_code for _ in range(5)
    ]
    for thread in threads:
        thread.join(timeout=60)

    assert healths == [200] * 5
    assert set(statuses) == set(TARGETS), statuses
    assert all(isinstance(status, int) and status < 500 for status in statuses.values()), statuses
    assert one_worker.process.poll() is None


def test_gunicorns_own_refusals_are_in_the_envelope(one_worker: Web) -> None:
    # A request line over gunicorn's limit never reaches the app: gunicorn answers it itself.
    status, body = _answer(one_worker.base, "/" + "\\" * 10_000)

    assert status == 414
    answer = json.loads(body)
    assert set(answer) == {"error", "request_id"}
    assert answer["error"]["code"] == "validation_error" and answer["error"]["details"] is None
    assert "\\" * 50 not in answer["error"]["message"]
