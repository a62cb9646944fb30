"""A webhook receiver on loopback: records every POST (raw body and headers), can go down and up."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers import free_port


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    def signed_by(self, secret: str) -> bool:
        """The X-Aula-Signature header is the HMAC-SHA256 of the raw body under `secret`."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-aula-signature", ""), expected)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Receiver:
    """Answers every POST with `status` (and `Retry-After` if set); `stop()` closes the port, so
    senders get connection refused until `start()` listens on the same port again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 204
        self.retry_after: str | None = None
        self.received: list[Received] = []
        self.answered: list[int] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/aula?team=t1"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._lock:
                    status = receiver.status
                    receiver.answered.append(status)
                    if 200 <= status < 300:
                        receiver.received.append(Received(headers, body))
                self.send_response(status)
                if receiver.retry_after is not None and status == 429:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict[str, Any]]:
        """The JSON bodies received (answered 2xx), in arrival order."""
        with self._lock:
            return [item.json for item in self.received]

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()
