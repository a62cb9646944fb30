"""Helpers for the web UI's browser tests: a private web + worker stack, and a watched page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from api.extensions import make_celery_client
from tests.conftest import read_log, settings_from_env
from tests.e2e.web_process import start_web
from tests.helpers import (
    ROOT,
    STARTUP_TIMEOUT_S,
    private_redis_db,
    start_worker,
    stop_process_group,
    wait_for,
)

# The policy the app is to send on every response (see the security work); injected here so the
# UI is held to it whether or not the server sends it yet.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ARTIFACTS = ROOT / "test-artifacts" / "ui"
WAIT_MS = 30_000  # the longest any single browser wait may take

WATCH_SCRIPT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


@dataclass
class Stack:
    """A gunicorn web and a Celery worker on a Redis database of their own."""

    base: str
    env: dict[str, str]
    logs: list[Path]

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", timeout=10, **kwargs)


@contextmanager
def web_process(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The Procfile's web command (gunicorn) with `env` on a free port; its base URL."""
    web = start_web(env, log_path)
    try:
        yield web.base
    finally:
        stop_process_group(web.process)
        print(f"--- {log_path.name}\n{read_log(log_path)[-2000:]}")


@contextmanager
def ui_stack(base_env: dict[str, str], logs: Path) -> Iterator[Stack]:
    """Web and worker that may download from loopback (the media servers live there)."""
    env = {
        **base_env,
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
        "DOWNLOAD_ALLOW_PRIVATE_HOSTS": "true",
    }
    web_log, worker_log = logs / "web.log", logs / "worker.log"
    worker = start_worker(env, worker_log)
    celery = make_celery_client(settings_from_env(env))
    try:
        with web_process(env, web_log) as base:
            wait_for(lambda: celery.control.ping(timeout=0.5), STARTUP_TIMEOUT_S, what="the worker")
            yield Stack(base, env, [web_log, worker_log])
    finally:
        stop_process_group(worker)
        celery.close()
        print(f"--- {worker_log.name}\n{read_log(worker_log)[-2000:]}")


@dataclass
class Watched:
    """A page with what went wrong on it: console errors, page errors, CSP violations."""

    page: Any
    base: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)
    csp_headers: list[str] = field(default_factory=list)

    def goto(self, view: str) -> None:
        """Open `#/view` and wait for its heading."""
        if self.page.url.startswith(self.base):
            self.page.evaluate("(hash) => { location.hash = hash; }", f"#/{view}")
        else:
            self.page.goto(f"{self.base}/#/{view}", timeout=WAIT_MS)
        self.page.locator("main h1").first.wait_for(timeout=WAIT_MS)

    def violations(self) -> list[str]:
        return list(self.page.evaluate("() => window.__csp || []"))

    def shot(self, name: str) -> Path:
        """A full-page screenshot under test-artifacts/ui/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True, timeout=WAIT_MS)
        return path


@contextmanager
def watched_page(browser: Any, base: str, **context_args: Any) -> Iterator[Watched]:
    """A fresh context and page whose documents carry the strict CSP; closed on exit."""
    context = browser.new_context(**{"viewport": {"width": 1200, "height": 900}, **context_args})
    context.set_default_timeout(WAIT_MS)
    context.add_init_script(WATCH_SCRIPT)
    page = context.new_page()
    watched = Watched(page, base)

    def with_csp(route: Any) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": CSP}
        watched.csp_headers.append(headers["content-security-policy"])
        route.fulfill(response=response, headers=headers)

    context.route(f"{base}/", with_csp)
    page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
    page.on("pageerror", lambda e: watched.page_errors.append(str(e)))
    page.on("response", lambda r: watched.responses.append(r))
    try:
        yield watched
    finally:
        context.close()
