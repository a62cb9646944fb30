"""What the WSGI fast paths share (api/fast_poll.py, api/fast_progress.py, ADRs 0009 and 0010): a
request either answered in front of Flask, with what the request pipeline's own stages would add
(security headers, X-Request-ID, Server-Timing, the request metric and log line), or passed to
Flask untouched."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from api import headers, metrics, security
from core.base.logging import request_id_var

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Key = TypeVar("Key")
# The security stage's headers for a response that is neither media nor the API docs.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", headers.CSP),
    *headers.HEADERS.items(),
)

# The pipeline's stages whose work `Begun.now` and `FastPath.finish` do, as each fast path's
# HONOURED table says of them.
FINISHED = {
    "request id and clocks": "the same id rule and clocks (Begun.now)",
    "request metrics": "the same metric, labels and clock",
    "security headers": "the same headers (neither media nor docs)",
    "request id header and log line": "the same header, Server-Timing and log line",
}


@dataclass(frozen=True)
class Begun:
    """A request's clocks and id, as the pipeline's first stage sets them."""

    started: float
    cpu_started: float
    request_id: str

    @classmethod
    def now(cls, environ: dict[str, Any]) -> Begun:
        return cls(
            time.perf_counter(),
            time.thread_time(),
            security.request_id_from(environ.get("HTTP_X_REQUEST_ID", "")),
        )


class FastPath(Generic[Key]):
    """A WSGI wrapper: a request `plain` recognises (its key) is offered to `answer`; whatever
    either declines (None) goes to `inner`, untouched."""

    def __init__(self, inner: WsgiApp, request_metrics: metrics.RequestMetrics, rule: str) -> None:
        self.inner = inner
        self.metrics = request_metrics
        self.rule = rule  # the URL rule the metric is labelled with

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        key = self.plain(environ)
        if key is not None:
            answered = self.answer(environ, key, start_response)
            if answered is not None:
                return answered
        return self.inner(environ, start_response)

    def plain(self, environ: dict[str, Any]) -> Key | None:
        """The request's key if this path may answer it; None: Flask's."""
        raise NotImplementedError

    def answer(
        self, environ: dict[str, Any], key: Key, start_response: StartResponse
    ) -> list[bytes] | None:
        """The answer's body, started with `finish`; None: Flask's after all."""
        raise NotImplementedError

    def finish(
        self,
        begun: Begun,
        environ: dict[str, Any],
        start_response: StartResponse,
        answer: tuple[str, str, list[tuple[str, str]], bytes],
    ) -> list[bytes]:
        """Start `answer` (method, status line, headers, body) with what the pipeline's later
        stages add, in their order: the metric, the security headers, X-Request-ID,
        Server-Timing and the log line."""
        method, status, head, body = answer
        code = status[:3]
        duration, total = self.metrics.labelled(method, self.rule, code)
        duration.observe(time.perf_counter() - begun.started)
        total.inc()
        head = [*head, *SECURITY_HEADERS, ("X-Request-ID", begun.request_id)]
        cpu_now, now = time.thread_time(), time.perf_counter()
        head.append(("Server-Timing", security.server_timing(begun.cpu_started, cpu_now)))
        token = request_id_var.set(begun.request_id)
        try:
            security.log_line(method, environ["PATH_INFO"], int(code), begun.started, now)
        finally:
            request_id_var.reset(token)
        start_response(status, head)
        return [body]
