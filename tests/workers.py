"""A test's own Celery worker: started, answering pings, stopped, its log printed."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from api.extensions import make_celery_client
from tests.helpers import read_log, settings_from_env, start_worker, stop_process_group, wait_for


@contextlib.contextmanager
def running_worker(
    env: dict[str, str], log_path: Path, *args: str, timeout: float = 40
) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A tasks worker *args` on `env`, once it answers a ping; stopped on the way out,
    and the end of its log printed (pytest shows it when the test fails)."""
    name = f"test-{os.getpid()}-{time.monotonic_ns()}@{socket.gethostname()}"
    process = start_worker(env, log_path, *args, "-n", name)
    client = make_celery_client(settings_from_env(env))
    try:
        wait_for(
            lambda: client.control.ping(destination=[name], timeout=0.5),
            timeout,
            what=f"worker {name} to answer a ping",
        )
        yield process
    finally:
        stop_process_group(process)
        client.close()
        print(read_log(log_path)[-4000:])
