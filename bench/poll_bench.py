"""Task status polling: the Procfile's gunicorn serving Aula against the Flask docs' Celery peer.

    .venv/bin/python bench/poll_bench.py [--rounds 3] [--seconds 15] [--open-seconds 20]

Starts a private redis-server and three servers under `gunicorn --config gunicorn.conf.py`
(gthread, WEB_CONCURRENCY=2, WEB_THREADS at its default, the request log at INFO into a file):
`wsgi:app` with one running task record in its SQLite database; the peer
(`bench/flask_celery_peer.py`: the Flask documentation's Celery example, a view returning a running
task's `AsyncResult` state from Redis); and, for context, `hello` below, a bare WSGI app answering
a small JSON body. Then, round by round so that the machine's drift hits every cell alike,
`wrk -t2 -c200` on the bare app, on the peer's poll, on `GET /api/tasks/{id}` and on the same with
`If-None-Match` (304; the peer gets the same header and ignores it); prints the medians and the
ratios to the peer (targets: poll >= 1.0, 304 >= 1.2) and to the bare WSGI app. Last, an
open-loop run: 200 pollers each sending one request a second on its own keep-alive connection,
latency counted from when the request was due (so a slow answer cannot hide the ones queued
behind it); prints p50/p99/p99.9/max for Aula and the bare WSGI app (target: Aula's
p99 < 20 ms). Needs wrk (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
WORKERS = 2  # WEB_CONCURRENCY of every server here
SETTLE_S = 3.0
HELLO_BODY = b'{"id": "hello", "state": "PROGRESS", "progress": null}'


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The reference: a bare WSGI app with a body of about the same size as a task's."""
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(HELLO_BODY)))]
    )
    return [HELLO_BODY]


def _setup(tmp: Path) -> tuple[dict[str, str], str, Any]:
    from core.base.db import migrate, session_scope
    from core.base.models import TaskRecord, utcnow
    from tests.helpers import start_redis

    redis_process, redis_url = start_redis(tmp / "redis")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": f"sqlite:///{tmp / 'aula.db'}",
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp),
        "DOWNLOAD_DIR": str(tmp / "downloads"),
        "WEB_CONCURRENCY": str(WORKERS),
        "LOG_LEVEL": "INFO",
    }
    migrate(env["DATABASE_URL"])
    task_id = str(uuid.uuid4())
    from flask_celery_peer import seed

    seed(redis_url, task_id)  # the peer polls the same id, from its result backend
    with session_scope(env["DATABASE_URL"]) as session:
        session.add(
            TaskRecord(
                id=task_id,
                name="catalog.rebuild",
                state="PROGRESS",
                args={"source": "local"},
                progress={"current": 40, "total": 100, "percent": 40.0, "message": "indexing"},
                started_at=utcnow(),
            )
        )
    return env, task_id, redis_process


@contextlib.contextmanager
def gunicorn(port: int, app: str, env: dict[str, str], log: Path) -> Iterator[None]:
    """The Procfile's web command on `app`, bound to loopback."""
    args = [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py"]
    args += ["--bind", f"127.0.0.1:{port}", "--pythonpath", str(ROOT / "bench"), app]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield
    finally:
        from tests.helpers import stop_process_group

        stop_process_group(proc)


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One GET; (status, lower-cased headers)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def wait_ready(port: int, path: str, log: Path, timeout: float = 60) -> None:
    """Until every gunicorn worker serves. One answer is not enough: wrk opens its connections
    at once and keeps them, so a worker still importing the app then gets none of them and the
    round measures one worker (718 against 1,093 req/s in one run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            booted = log.read_text(errors="replace").count("Booting worker")
            if booted >= WORKERS and fetch(port, path)[0] == 200:
                time.sleep(SETTLE_S)  # the last booted worker's import of the app (about 1 s)
                return
        time.sleep(0.2)
    raise SystemExit(f"port {port} did not answer {path} within {timeout}s")


def wrk(port: int, path: str, seconds: int, headers: dict[str, str]) -> float:
    """Requests per second of `wrk -t2 -c200`; fails on any error or unexpected status."""
    # A 10 s timeout (wrk's default is 2 s): on a loaded machine a slow answer is a slow answer,
    # and any timeout still stops the run.
    args = ["wrk", "-t2", "-c200", f"-d{seconds}s", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors on {path}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"no Requests/sec in wrk's output:\n{out}")
    return float(match.group(1))


async def _poller(
    port: int, path: str, offset: float, until: float, latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    due = time.perf_counter() + offset
    try:
        while due < until:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
            latencies.append(time.perf_counter() - due)
            due += 1.0  # open loop: the next one is due a second after this one was due
    finally:
        writer.close()


def open_loop(port: int, path: str, pollers: int, seconds: float) -> list[float]:
    """`pollers` clients, one request a second each, staggered; latencies from when each was due."""
    latencies: list[float] = []

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(
            *(_poller(port, path, i / pollers, until, latencies) for i in range(pollers))
        )

    asyncio.run(run())
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15, help="length of one wrk run")
    parser.add_argument("--open-seconds", type=float, default=20, help="open-loop run length")
    parser.add_argument("--pollers", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")
    from tests.helpers import free_port, stop_process_group

    with tempfile.TemporaryDirectory(prefix="aula-poll-") as tmp, contextlib.ExitStack() as stack:
        env, task_id, redis_process = _setup(Path(tmp))
        stack.callback(stop_process_group, redis_process)
        ports = {"bare": free_port(), "peer": free_port(), "aula": free_port()}
        path = f"/api/tasks/{task_id}"
        apps = ("poll_bench:hello", "flask_celery_peer:app", "wsgi:app")
        for (name, port), app in zip(ports.items(), apps, strict=True):
            stack.enter_context(gunicorn(port, app, env, Path(tmp) / f"{name}.log"))
        logs = {name: Path(tmp) / f"{name}.log" for name in ports}
        wait_ready(ports["bare"], "/", logs["bare"])
        wait_ready(ports["peer"], f"/tasks/result/{task_id}", logs["peer"])
        wait_ready(ports["aula"], path, logs["aula"])
        results, loops = measure(ports, task_id, args)
    report(results, loops, args)


def measure(
    ports: dict[str, int], task_id: str, args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The wrk rounds (each round visits every case) and then the open-loop runs."""
    path = f"/api/tasks/{task_id}"
    etag = fetch(ports["aula"], path)[1]["etag"]
    status = fetch(ports["aula"], path, {"If-None-Match": etag})[0]
    if status != 304:
        raise SystemExit(f"If-None-Match answered {status}, not 304")
    cases = {
        "bare WSGI": (ports["bare"], "/", {}),
        "peer": (ports["peer"], f"/tasks/result/{task_id}", {}),
        "peer, If-None-Match": (ports["peer"], f"/tasks/result/{task_id}", {"If-None-Match": etag}),
        "poll": (ports["aula"], path, {}),
        "poll, 304": (ports["aula"], path, {"If-None-Match": etag}),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (port, target, headers) in cases.items():
            results[name].append(wrk(port, target, args.seconds, headers))
    loops = {
        name: open_loop(port, target, args.pollers, args.open_seconds)
        for name, (port, target, _) in cases.items()
        if name in ("bare WSGI", "peer", "poll")
    }
    return results, loops


def report(
    results: dict[str, list[float]], loops: dict[str, list[float]], args: argparse.Namespace
) -> None:
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, medians of {args.rounds}")
    print(f"rounds of wrk -t2 -c200 -d{args.seconds}s\n")
    print("| case | req/s (each round) | median req/s | ratio to peer | target | ratio to bare |")
    print("|---|---:|---:|---:|---:|---:|")
    bare = statistics.median(results["bare WSGI"])
    peer = statistics.median(results["peer"])
    targets = {"poll": ">= 1.0", "poll, 304": ">= 1.2"}
    for name, values in results.items():
        rounds = " / ".join(f"{value:,.0f}" for value in values)
        med = statistics.median(values)
        # Each round's ratio too: the peer ran in the same round, seconds apart.
        cells = f"{med:,.0f} | **{med / peer:.2f}** | {targets.get(name, '')} | {med / bare:.2f}"
        print(f"| {name} | {rounds} | {cells} |")
    cheaper = all(
        n304 > n200 for n304, n200 in zip(results["poll, 304"], results["poll"], strict=True)
    )
    print(f"\n304 faster than 200 in every round: {'yes' if cheaper else 'NO'}")
    print(f"\nOpen loop: {args.pollers} pollers x 1 request/s for {args.open_seconds:.0f}s\n")
    print("| server | requests | p50 ms | p99 ms | p99.9 ms | max ms | target |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, values in loops.items():
        cells = " | ".join(f"{percentile(values, q) * 1000:.2f}" for q in (0.5, 0.99, 0.999, 1.0))
        print(f"| {name} | {len(values)} | {cells} | {'p99 < 20' if name == 'poll' else ''} |")


if __name__ == "__main__":
    main()
