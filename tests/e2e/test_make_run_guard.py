"""`make run` refuses, with one line and before it starts anything, a second Aula on the same
DATA_DIR and a port already taken; the lock outlives a crashed launcher while its children run."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psutil
import pytest

from tests.e2e.support import ROOT, Launched, clean_env, free_port, wait_until
from tests.e2e.web_process import start_web
from tests.helpers import stop_process_group

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
REFUSE_S = 60  # a refusal comes before anything starts: only Python's and the settings' imports


def _run_guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_guard", ROOT / "scripts" / "run_guard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_guard"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run_guard = _run_guard()


def launcher_env(data: Path, **settings: object) -> dict[str, str]:
    """What `make run` sees: free ports, DATA_DIR in `data`, REDIS_URL unset."""
    values: dict[str, object] = {
        "PORT": free_port(),
        "FLOWER_PORT": free_port(),
        "WORKER_METRICS_PORT": free_port(),
        "DATA_DIR": data,
        "WEB_CONCURRENCY": 1,
        "WORKER_CONCURRENCY": 1,
    }
    return clean_env(**{**values, **settings})


def refused(tree: Path, env: dict[str, str], status: int = 1) -> list[str]:
    """Run the launcher, which must refuse: its output lines (after checking its exit status)."""
    done = subprocess.run(
        [sys.executable, "scripts/run.py"],
        cwd=tree,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=REFUSE_S,
        check=False,
    )
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == status, lines
    return lines


def assert_nothing_started(tree: Path, data: Path) -> None:
    """No key written, no migration ran (no database file), no Redis started (no data folder)."""
    assert not (data / "encryption.key").exists()
    assert not (tree / "var" / "aula.db").exists()
    assert not (data / "redis").exists()


@pytest.fixture
def listener() -> Iterator[int]:
    """A port something listens on, on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("variable", ["PORT", "FLOWER_PORT", "WORKER_METRICS_PORT"])
def test_a_taken_port_is_refused_with_one_line_naming_it(
    app_tree: Path, tmp_path: Path, listener: int, variable: str
) -> None:
    data = tmp_path / "data"

    lines = refused(app_tree, launcher_env(data, **{variable: listener}))

    assert lines == [
        f"run: {variable}={listener} is in use: something already listens on port {listener};"
        f" stop it or set {variable} to a free port"
    ]
    assert_nothing_started(app_tree, data)


def test_a_bad_setting_stops_the_launcher_with_one_line(app_tree: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"

    lines = refused(app_tree, launcher_env(data, HTTP_READ_TIMEOUT="abc"), status=2)

    assert len(lines) == 1 and lines[0].startswith("run: configuration error: HTTP_READ_TIMEOUT")
    assert_nothing_started(app_tree, data)


def test_an_address_not_on_this_machine_is_refused(app_tree: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"

    lines = refused(app_tree, launcher_env(data, WEB_ADDRESS="192.0.2.7"))  # TEST-NET-1

    assert lines == [
        "run: WEB_ADDRESS=192.0.2.7: cannot listen there (Cannot assign requested address)"
    ]
    assert_nothing_started(app_tree, data)


def test_two_settings_on_one_port_are_refused(app_tree: Path, tmp_path: Path) -> None:
    port = free_port()

    lines = refused(app_tree, launcher_env(tmp_path / "data", PORT=port, FLOWER_PORT=port))

    assert lines == [f"run: FLOWER_PORT={port} is also PORT: choose another"]


def test_a_second_launcher_on_the_same_data_dir_is_refused_naming_the_first(
    app_tree: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = launcher_env(data)
    first = Launched([sys.executable, "scripts/run.py"], app_tree, env, tmp_path / "first.log")
    try:

        def announced() -> dict[str, object] | None:
            first.running()
            text = (data / "aula.lock").read_text()
            return json.loads(text) if text else None

        holder = wait_until(announced, REFUSE_S, "the first launcher to take the lock")
        assert holder["pid"] == first.process.pid
        address = f"http://127.0.0.1:{env['PORT']}/"
        assert holder["address"] == address

        # The same command in the same folder, as a second `make run` would be.
        lines = refused(app_tree, env)

        assert lines == [
            f"run: Aula is already running on DATA_DIR={data} (pid {first.process.pid},"
            f" {address}); stop it first"
        ]
        assert first.running()
        left = first.interrupt(timeout=40)
        assert not left, first.tail()
    finally:
        first.kill()
    # p.info, not p.cmdline(): process_iter fills None for a zombie (another test's gunicorn
    # being reaped) instead of raising ZombieProcess.
    redis_servers = [
        p for p in psutil.process_iter(["cmdline"]) if str(data) in str(p.info["cmdline"])
    ]
    assert not redis_servers


def test_another_data_dir_on_the_same_sqlite_file_is_refused(
    app_tree: Path, tmp_path: Path
) -> None:
    database = tmp_path / "shared.db"
    holder = _hold(database.with_name("shared.db.lock"), "http://127.0.0.1:8123/")
    try:
        env = launcher_env(tmp_path / "other", DATABASE_URL=f"sqlite:///{database}")

        lines = refused(app_tree, env)

        assert lines == [
            f"run: Aula is already running on the database {database} (pid {holder.pid},"
            " http://127.0.0.1:8123/); stop it first"
        ]
        assert not database.exists()
    finally:
        holder.kill()
        holder.wait()


HOLD = """
import os, subprocess, sys
sys.path.insert(0, sys.argv[1])
import run_guard
from pathlib import Path
with run_guard.exclusive(Path(sys.argv[2]), "test") as held:
    held.announce(sys.argv[3])
    if sys.argv[4] == "child":  # hand the lock to a child that outlives us, as to redis-server
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 pass_fds=(held.fd,), start_new_session=True)
        print(child.pid, flush=True)
        os._exit(0)
    print(os.getpid(), flush=True)
    sys.stdin.read()
"""


def _hold(path: Path, address: str, mode: str = "self") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(ROOT / "scripts"), str(path), address, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip()  # announced
    return process


def test_the_lock_is_held_while_a_crashed_launchers_children_run(tmp_path: Path) -> None:
    path = tmp_path / "aula.lock"
    launcher = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(ROOT / "scripts"), str(path), "http://x:1/", "child"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdout is not None
    child = psutil.Process(int(launcher.stdout.readline()))
    assert launcher.wait(timeout=30) == 0
    try:
        with pytest.raises(run_guard.Refused) as caught, run_guard.exclusive(path, "DATA_DIR=x"):
            pass
        assert caught.value.line == (
            f"Aula is already running on DATA_DIR=x (pid {launcher.pid} has exited, the"
            " processes it started still run; http://x:1/); stop it first"
        )
    finally:
        child.kill()
        child.wait(timeout=30)
    # Gone with the last process that held it, with no pid file to clean up.
    with run_guard.exclusive(path, "DATA_DIR=x") as held:
        held.announce("http://127.0.0.1:8000/")
    assert json.loads(path.read_text())["address"] == "http://127.0.0.1:8000/"


@pytest.mark.parametrize(
    ("address", "ui", "warns"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000/", True),
        ("::", "http://[::1]:8000/", True),
        ("127.0.0.1", "http://127.0.0.1:8000/", False),
        ("192.0.2.7", "http://192.0.2.7:8000/", False),
    ],
)
def test_the_address_and_the_network_warning(address: str, ui: str, warns: bool) -> None:
    assert run_guard.ui_address(address, 8000) == ui
    warning = run_guard.network_warning(address, 8000, reads_open=True)
    assert (warning is not None) == warns
    if warning:
        assert "reads are open" in warning and f"{ui}#/setup" in warning
    assert run_guard.network_warning(address, 8000, reads_open=False) is None


def test_a_port_in_time_wait_counts_as_free() -> None:
    # A stopped Aula leaves its accepted connections in TIME_WAIT; the servers bind anyway.
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn's listener
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end waits in TIME_WAIT
        client.close()
    assert run_guard.port_free(run_guard.Port("PORT", port, "0.0.0.0", "WEB_ADDRESS"))


@pytest.mark.parametrize(("address", "listens"), [("127.0.0.1", "127.0.0.1"), (None, "0.0.0.0")])
def test_web_listens_on_web_address(
    base_env: dict[str, str], tmp_path: Path, address: str | None, listens: str
) -> None:
    env = {**base_env, **({"WEB_ADDRESS": address} if address else {})}
    web = start_web(env, tmp_path / "web.log", workers=1)
    try:
        sockets = psutil.Process(web.process.pid).net_connections(kind="tcp")
        bound = {conn.laddr.ip for conn in sockets if conn.status == psutil.CONN_LISTEN}
        assert bound == {listens}
    finally:
        stop_process_group(web.process)


def test_a_lock_taken_but_not_yet_announced_says_so(tmp_path: Path) -> None:
    path = tmp_path / "aula.lock"
    # Taken, nothing written yet (flock: a second open file conflicts even in one process).
    with (
        run_guard.exclusive(path, "DATA_DIR=x"),
        pytest.raises(run_guard.Refused) as caught,
        run_guard.exclusive(path, "DATA_DIR=x"),
    ):
        pass
    assert "(pid unknown: it is still starting)" in caught.value.line


def test_the_network_warning_ends_once_a_user_exists(tmp_path) -> None:
    from core.base.db import migrate, session_scope
    from core.people.models import User

    url = f"sqlite:///{tmp_path / 'people.db'}"
    assert run_guard.people_exist(url) is False  # no schema yet: cannot say, so warn
    migrate(url)
    assert run_guard.people_exist(url) is False
    with session_scope(url) as session:
        session.add(User(username="alice", password_hash="x", role="admin"))
    assert run_guard.people_exist(url) is True
