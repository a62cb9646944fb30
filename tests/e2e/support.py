"""End-to-end helpers: free ports, HTTP on loopback, clean environments, process trees."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# "12:02:36 worker.1 | message": honcho's prefix on every line a process writes.
HONCHO_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<name>[\w-]+)\.\d+\s*\| (?P<text>.*)$")
# What a fresh clone lacks, and what the processes under test do not need.
COPY_IGNORE = shutil.ignore_patterns(
    *(".git", ".venv", "var", ".env", "__pycache__", "*.pyc", "htmlcov", "test-artifacts"),
    *(".pytest_cache", ".mypy_cache", ".ruff_cache", ".coverage*", "tests", "bench", "docs"),
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Call `check` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception as error:  # what we wait for may not be up yet
            last = error
        else:
            if value:
                return value
            last = value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def http(method: str, url: str, body: Any = None, timeout: float = 5) -> tuple[int, Any]:
    """One request on loopback; return (status, JSON body or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def aula_variables() -> set[str]:
    """Every variable .env.example documents (the settings Aula reads)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def clean_env(**settings: object) -> dict[str, str]:
    """Our environment without Aula's settings or pytest-cov hooks, venv first on PATH."""
    drop = aula_variables() | {"TEST_DATABASE_URL"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in drop and not key.startswith(("COV_CORE", "PYTEST_"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({key: str(value) for key, value in settings.items()})
    return env


def honcho_lines(text: str) -> list[tuple[str, str]]:
    """(process name, line) for every line a Procfile process wrote under honcho."""
    lines = []
    for raw in text.splitlines():
        match = HONCHO_LINE.match(raw)
        if match and match["name"] != "system":
            lines.append((match["name"], match["text"]))
    return lines


def descendants(pid: int) -> list[psutil.Process]:
    """The live processes below `pid`."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def survivors(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` still running (zombies count as gone)."""
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL whatever of `processes` is still running."""
    for process in survivors(processes):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def describe(processes: list[psutil.Process]) -> str:
    names = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            names.append(f"{process.pid} {' '.join(process.cmdline())[:100]}")
    return "; ".join(names)


class Launched:
    """A launcher process (honcho, scripts/run.py) in its own session, with its output in a file."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen: list[psutil.Process] = []
        self.seen_commands: list[str] = []

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def running(self) -> bool:
        """True while the launcher runs; fails the test with its output once it has exited."""
        if self.process.poll() is not None:
            pytest.fail(f"exited early with {self.process.returncode}:\n{self.tail()}")
        return True

    def interrupt(self, timeout: float) -> list[psutil.Process]:
        """Ctrl-C: SIGINT the launcher, wait for it and its tree; return what survived."""
        self.seen = descendants(self.process.pid)
        self.seen_commands = [describe([process]) for process in self.seen]
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        while survivors(self.seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        return survivors(self.seen) + (
            [] if self.process.poll() is not None else [psutil.Process(self.process.pid)]
        )

    def kill(self) -> None:
        """Last resort for teardown: SIGKILL the launcher's tree and session."""
        tree = self.seen + descendants(self.process.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        kill_all(tree)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
