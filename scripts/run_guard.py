"""`make run`'s guards: one Aula per DATA_DIR (a held lock), free ports, and the ready line."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.base.settings import Settings

log = logging.getLogger("run")
READY_POLL_S = 0.5
# Readiness checks that are no reason to withhold the address (logged instead: a full disk, a
# Google account to reconnect; the google check never makes web answer 503 either).
NOT_REQUIRED = frozenset({"disk", "google"})


class Refused(SystemExit):
    """The launcher stops before starting anything, with one line (exit status 1)."""

    def __init__(self, line: str) -> None:
        super().__init__(1)
        self.line = line


@dataclass(frozen=True)
class Held:
    """A lock file held with flock for the launcher's life.

    Not a pid file: the kernel lets go when every process holding the open file is gone (a
    crash too). The launcher hands the descriptor to redis-server and honcho, so a launcher that
    died still keeps a second one out while what it started runs.
    """

    path: Path
    fd: int

    def announce(self, address: str) -> None:
        """Write who holds the lock, for a second launcher's refusal to name."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps({"pid": os.getpid(), "address": address}).encode(), 0)


def holder(path: Path) -> str:
    """Who holds the lock at `path`, as its announcement says: "pid N, address"."""
    try:
        found = json.loads(path.read_text())
        pid, address = int(found["pid"]), str(found["address"])
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown: it is still starting"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"pid {pid} has exited, the processes it started still run; {address}"
    except PermissionError:
        pass  # alive, another user's
    return f"pid {pid}, {address}"


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[Held]:
    """Hold an exclusive lock on `path` (created if missing) or refuse naming its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(
                f"Aula is already running on {what} ({holder(path)}); stop it first"
            ) from None
        os.ftruncate(fd, 0)  # a past holder's pid and address no longer apply
        yield Held(path, fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Port:
    """A port a process of the Procfile will listen on, the variable that sets it, and the one
    that sets its address."""

    variable: str
    port: int
    address: str
    address_variable: str


def port_free(port: Port) -> bool:
    """Whether `port.address`:`port.port` can be bound now, as its server will bind it."""
    family = socket.AF_INET6 if ":" in port.address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the servers do: a port left in TIME_WAIT by a stopped Aula counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((port.address, port.port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise Refused(
                f"{port.address_variable}={port.address}: cannot listen there ({error.strerror})"
            ) from None
    return True


def check_ports(ports: list[Port]) -> None:
    """Refuse, naming the first variable whose port is taken (or shared with another)."""
    seen: dict[int, str] = {}
    for port in ports:
        if port.port in seen:
            raise Refused(f"{port.variable}={port.port} is also {seen[port.port]}: choose another")
        seen[port.port] = port.variable
        if not port_free(port):
            raise Refused(
                f"{port.variable}={port.port} is in use: something already listens on port"
                f" {port.port}; stop it or set {port.variable} to a free port"
            )


def ui_address(address: str, port: int) -> str:
    """The address a browser on this machine opens for web listening on `address`:`port`."""
    ip = ipaddress.ip_address(address)
    if ip.is_unspecified:
        ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"http://{host}:{port}/"


def network_warning(address: str, port: int, reads_open: bool) -> str | None:
    """The warning for a web that anyone on the network reaches, while reads need no sign-in."""
    if not reads_open or not ipaddress.ip_address(address).is_unspecified:
        return None
    # Until the first user exists reads stay open (CONTRACT 8.2); the setup page ends that.
    setup = f"{ui_address(address, port)}#/setup"
    return (
        f"web listens on all interfaces ({address} port {port}): reads are open, so anyone on"
        f" your network can read the library until the first user exists ({setup});"
        " set WEB_ADDRESS=127.0.0.1 to keep it on this machine"
    )


def ready_checks(base: str, timeout: float = 3.0) -> dict[str, str]:
    """web's readiness checks (database, broker, workers, disk); {} while web does not answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    try:
        with opener.open(f"{base}api/health/ready", timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:  # 503: not ready, with the failing checks
        body = error.read()
    except OSError:
        return {}
    try:
        checks = json.loads(body).get("checks", {})
    except (ValueError, AttributeError):
        return {}
    return {str(name): str(value) for name, value in checks.items()}


def people_exist(database_url: str) -> bool:
    """Whether the database holds a user (then reads need a sign-in); False when it cannot say."""
    from sqlalchemy import inspect, text

    from core.base.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("users"):
                return False
            return connection.execute(text("SELECT 1 FROM users LIMIT 1")).first() is not None
    except Exception:  # a warning is never worth failing the start
        return False
    finally:
        engine.dispose()


def announce_when_ready(
    base: str, warning: Callable[[], str | None], stopped: threading.Event
) -> threading.Thread:
    """Poll web until it and a worker answer, then log the address (and the warning, asked for
    then: the schema is migrated by now) once."""

    def watch() -> None:
        while not stopped.wait(READY_POLL_S):
            checks = ready_checks(base)
            if checks and all(v == "ok" for k, v in checks.items() if k not in NOT_REQUIRED):
                said = warning()  # asked first: the two lines come out together
                log.info("Aula is ready: %s", base)
                if said:
                    log.warning("%s", said)
                for name in NOT_REQUIRED & checks.keys():
                    if not checks[name].startswith("ok"):  # "ok: no Google account connected"
                        log.warning("not ready: %s: %s", name, checks[name])
                return

    thread = threading.Thread(target=watch, name="ready-line", daemon=True)
    thread.start()
    return thread


def load_settings(env: dict[str, str], encryption_key: str | None = None) -> Settings:
    """The settings the processes will read from `env` (with the key about to be written, if
    any), or exit 2 with the one-line error."""
    from core.base.errors import ConfigurationError
    from core.base.settings import Settings
    from core.base.settings import load_settings as read_settings

    values = {k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
    if encryption_key:
        values["encryption_key"] = encryption_key
    try:
        return read_settings(**values)
    except ConfigurationError as error:
        log.error("%s", error)
        raise SystemExit(2) from None


def needed_ports(settings: Settings, env: dict[str, str]) -> list[Port]:
    """The ports web, Flower and the worker's metrics will listen on (Redis takes a free one)."""
    flower = env.get("FLOWER_ADDRESS") or "0.0.0.0"  # noqa: S104  # Flower's own default: every interface
    ports = [
        Port("PORT", settings.port, settings.web_address, "WEB_ADDRESS"),
        Port("FLOWER_PORT", settings.flower_port, flower, "FLOWER_ADDRESS"),
    ]
    if settings.worker_metrics_port:  # 0: no metrics server
        metrics = settings.worker_metrics_address
        ports.append(
            Port(
                "WORKER_METRICS_PORT",
                settings.worker_metrics_port,
                metrics,
                "WORKER_METRICS_ADDRESS",
            )
        )
    return ports


def sqlite_file(url: str) -> Path | None:
    """The SQLite database file of `url` (already absolute), or None for another database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def watch_readiness(settings: Settings, stopped: threading.Event) -> None:
    """Print the UI's address once web and a worker answer (and the network warning)."""
    address = ui_address(settings.web_address, settings.port)

    def warning() -> str | None:
        reads_open = not settings.require_auth_for_reads and not people_exist(settings.database_url)
        return network_warning(settings.web_address, settings.port, reads_open=reads_open)

    announce_when_ready(address, warning, stopped)
