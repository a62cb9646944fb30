"""Task overhead: Aula's worker against a bare Celery worker with the same broker options, same run.

    .venv/bin/python bench/tasks_bench.py [--tasks 500] [--rounds 3] [--latency 200]

Starts a private redis-server, `celery -A tasks worker -c 2` (the Procfile's worker, test tasks
on, plus bench/aula_probe.py) and `celery -A bare_celery worker -c 2` (bench/bare_celery.py: the
same broker, transport, ack and event options, no Aula code), each on its own Redis database, and
a raw consumer process that BRPOPs a plain list. Then, round by round:
- end to end: the clock starts at the first enqueue of `--tasks` no-op tasks sent one after the
  other to a running worker (Aula's through `core.jobs.records.enqueue`, so each has its task
  record, as the API makes them; the bare ones with `send_task`) and stops when the last one is
  done: for Aula, when every one of their records reads SUCCESS; for bare Celery, when the queue
  and kombu's unacked set are empty. Prints tasks/s and Aula/bare (target >= 0.5). (Before issue
  29 the queue was filled with the consumer off and only the drain was timed, which hid the
  enqueue path.)
- latency, one task at a time: from just before the enqueue call (`jobs.enqueue`, bare
  `send_task`, or a raw LPUSH) to the first line of the task's body (the raw consumer's BRPOP
  return). Prints p50/p99 and Aula's p50 less bare `send_task`'s (target: within 2 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from celery import Celery  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from api.extensions import make_celery_client  # noqa: E402
from core.base.db import Database, database, migrate  # noqa: E402
from core.base.models import TaskRecord  # noqa: E402
from core.base.settings import load_settings  # noqa: E402
from core.jobs import records as jobs  # noqa: E402
from tests.helpers import free_port, process_env, start_redis, stop_process_group, wait_for  # noqa: E402

RAW_CONSUMER = """
import sys, time, redis
client = redis.Redis.from_url(sys.argv[1], socket_timeout=60)
while True:
    if client.brpop("bench:raw", timeout=5) is not None:
        client.rpush("bench:started", repr(time.time()))
"""
NOOP = ("testing.sleep", {"seconds": 0, "steps": 0})


@contextlib.contextmanager
def spawn(args: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield
    finally:
        stop_process_group(proc)


def worker(app: str, name: str, env: dict[str, str], log: Path) -> Any:
    celery = str(Path(sys.executable).parent / "celery")
    args = [celery, "-A", app, "worker", "-c", "2", "-Q", "default", "-n", f"{name}@%h"]
    args += ["--without-mingle", "--without-gossip"]
    if app == "tasks":
        args += ["-I", "aula_probe"]
    return spawn(args, env, log)


def drained(client: redis.Redis) -> bool:
    """The default queue and kombu's unacked set are both empty (late acks: run and acked)."""
    return client.llen("default") == 0 and client.hlen("unacked") == 0


def succeeded(db: Database) -> int:
    """How many no-op task records read SUCCESS."""
    query = select(func.count()).where(TaskRecord.name == NOOP[0], TaskRecord.state == "SUCCESS")
    with db.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def all_succeeded(db: Database, target: int) -> bool:
    return succeeded(db) >= target


def throughput(name: str, send: Callable[[], Any], count: int, done: Callable[[], bool]) -> float:
    """Tasks per second from the first of `count` enqueues to `done()` (the last one finished)."""
    started = time.perf_counter()
    for _ in range(count):
        send()
    deadline = started + 600
    while not done():
        if time.perf_counter() > deadline:
            raise SystemExit(f"{name} did not finish {count} tasks in 600 s")
        time.sleep(0.005)
    return count / (time.perf_counter() - started)


def latencies(
    name: str, send: Callable[[], Any], client: redis.Redis, count: int
) -> list[tuple[float, float]]:
    """(Seconds from the enqueue call to the task body's first line, seconds the enqueue call
    took), one task at a time."""
    values = []
    for _ in range(count):
        began = time.time()
        send()
        sent = time.time()
        popped = client.blpop(["bench:started"], timeout=30)
        if popped is None:
            raise SystemExit(f"a {name} probe task did not start within 30 s")
        values.append((float(popped[1]) - began, sent - began))
        time.sleep(0.02)  # an idle worker, as for a task a user starts now and then
    return values


def settings_env(tmp: Path, redis_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp / 'aula.db'}",
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp),
        "DOWNLOAD_DIR": str(tmp / "downloads"),
        "ENABLE_TEST_TASKS": "true",
        "WORKER_CONCURRENCY": "2",
        "WORKER_METRICS_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT / "bench"),
    }


def run(args: argparse.Namespace, tmp: Path) -> dict[str, list[Any]]:
    redis_process, url = start_redis(tmp / "redis")
    base = url.rpartition("/")[0]
    urls = {"aula": f"{base}/1", "bare": f"{base}/2", "raw": f"{base}/3"}
    envs = {name: settings_env(tmp, value) for name, value in urls.items()}
    migrate(envs["aula"]["DATABASE_URL"])
    aula_settings = load_settings(
        **{k.lower(): v for k, v in envs["aula"].items() if k != "PYTHONPATH"}
    )
    aula = make_celery_client(aula_settings)
    bare = Celery("bare-client", set_as_current=False)
    bare.conf.update(broker_url=urls["bare"], task_default_queue="default")
    clients = {name: redis.Redis.from_url(value, socket_timeout=60) for name, value in urls.items()}
    sends = {
        "aula": lambda: jobs.enqueue(database(aula_settings.database_url), aula, *NOOP),
        "bare": lambda: bare.send_task("bench.noop", queue="default"),
    }
    probes = {
        "aula": lambda: jobs.enqueue(database(aula_settings.database_url), aula, "bench.probe"),
        "bare": lambda: bare.send_task("bench.probe", queue="default"),
        "raw": lambda: clients["raw"].lpush("bench:raw", "go"),
    }
    results: dict[str, list[Any]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(stop_process_group, redis_process)
        stack.enter_context(worker("tasks", "aula", process_env(envs["aula"]), tmp / "aula.log"))
        stack.enter_context(
            worker("bare_celery", "bare", process_env(envs["bare"]), tmp / "bare.log")
        )
        raw = [sys.executable, "-c", RAW_CONSUMER, urls["raw"]]
        stack.enter_context(spawn(raw, process_env(envs["raw"]), tmp / "raw.log"))
        apps = {"bare": bare, "aula": aula}
        for name, app in apps.items():
            wait_for(partial(app.control.ping, [node(name)], timeout=1), 60, what=f"{name} worker")
        aula_db = database(aula_settings.database_url)
        for _ in range(args.rounds):
            target = succeeded(aula_db) + args.tasks
            finished = {
                "bare": partial(drained, clients["bare"]),
                "aula": partial(all_succeeded, aula_db, target),
            }
            for name in apps:
                rate = throughput(name, sends[name], args.tasks, finished[name])
                results.setdefault(f"throughput {name}", []).append(rate)
            for name, probe in probes.items():
                results.setdefault(f"latency {name}", []).extend(
                    latencies(name, probe, clients[name], args.latency)
                )
    return results


def node(name: str) -> str:
    """The Celery node name of the worker started as `name`."""
    return f"{name}@{os.uname().nodename}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(results: dict[str, list[Any]], args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.rounds} rounds\n")
    print(f"End to end, {args.tasks} no-op tasks from the first enqueue, concurrency 2:\n")
    print("| worker | tasks/s (each round) | median | ratio to bare | target |")
    print("|---|---:|---:|---:|---:|")
    bare = statistics.median(results["throughput bare"])
    for name in ("bare", "aula"):
        values = results[f"throughput {name}"]
        rounds = " / ".join(f"{value:,.0f}" for value in values)
        med = statistics.median(values)
        target = ">= 0.5" if name == "aula" else ""
        print(f"| {name} | {rounds} | {med:,.0f} | {med / bare:.2f} | {target} |")
    print(f"\nEnqueue to start, one at a time ({args.latency} per round):\n")
    print("| path | p50 ms | p99 ms | max ms | enqueue call p50 ms | target |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "raw": "raw LPUSH / BRPOP",
        "bare": "bare send_task",
        "aula": "Aula jobs.enqueue",
    }
    for name, label in labels.items():
        values = [total for total, _ in results[f"latency {name}"]]
        calls = [call for _, call in results[f"latency {name}"]]
        cells = " | ".join(f"{percentile(values, q) * 1000:.2f}" for q in (0.5, 0.99, 1.0))
        target = "p50 within 2 ms of bare" if name == "aula" else ""
        print(f"| {label} | {cells} | {statistics.median(calls) * 1000:.2f} | {target} |")
    p50 = {name: percentile([t for t, _ in results[f"latency {name}"]], 0.5) for name in labels}
    print(f"\nAula's p50 less bare send_task's: {(p50['aula'] - p50['bare']) * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=int, default=200, help="probe tasks per path and round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aula-tasks-") as tmp:
        results = run(args, Path(tmp))
    report(results, args)


if __name__ == "__main__":
    main()
