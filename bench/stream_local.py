"""Local Range streaming of one big file: the Procfile's gunicorn against nginx, in the same run.

    .venv/bin/python bench/stream_local.py [--dir /tmp/aula-bench] [--rounds 5] [--breakdown]
        [--range-mib 1]

Starts `gunicorn --config gunicorn.conf.py` (gthread, WEB_CONCURRENCY=2) serving
`tests.api.streaming_app:app` (the real app plus a route calling `local_file_response`) and nginx
(`sendfile on`, 2 workers) on loopback ports, checks that both answer byte-exact, then times the
whole file and 1 MiB ranges at 0%, 50% and 99% with 1 and 8 keep-alive connections. Prints MB/s
(10^6 bytes/s) for both, ours/nginx, and the 99%-vs-0% time per range. `--breakdown` also times
one connection's 1-byte and 1 MiB ranges on the same gunicorn config serving `bench/stream_apps.py`
(no Flask; bare Flask; Flask's `send_file`) to show where a request's time goes. Needs nginx.
`--via-proxy`: the compose stack's proxy against bare nginx instead (bench/stream_via_proxy.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stream_client import FILE_NAME, MIB, Client, make_file

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = """
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/nginx-access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location /stream-test/ {{ alias {root}/; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Case:
    name: str
    start: int | None  # None: the whole file
    requests: dict[int, int]  # connections -> requests per connection
    length: int = MIB

    def header(self) -> str | None:
        return None if self.start is None else f"bytes={self.start}-{self.start + self.length - 1}"


def wait_ready(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            client = Client(port)
            try:
                if client.get(f"/stream-test/{FILE_NAME}", "bytes=0-0")[0] == 206:
                    return
            finally:
                client.close()
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer on port {port} within {timeout}s")


@contextlib.contextmanager
def process(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def gunicorn(
    port: int, root: Path, tmp: Path, app: str = "tests.api.streaming_app:app"
) -> contextlib.AbstractContextManager[None]:
    """The Procfile's web command on `app`, bound to loopback, logging as in production."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": f"sqlite:///{tmp / 'aula.db'}",
        "DATA_DIR": str(tmp),
        "DOWNLOAD_DIR": str(tmp / "downloads"),
        "STREAM_ROOT": str(root),
        "WEB_CONCURRENCY": "2",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",  # the request log line stays on, as nginx's access log does
    }
    executable = str(Path(sys.executable).parent / "gunicorn")
    args = [executable, "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    args += ["--pythonpath", str(ROOT / "bench"), app]
    return process(args, tmp / f"gunicorn-{port}.log", env)


def nginx(port: int, root: Path, tmp: Path) -> contextlib.AbstractContextManager[None]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx is not installed: apt-get update && apt-get install -y nginx")
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
    return process(
        [binary, "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)],
        tmp / "nginx.log",
    )


def verify(port: int, path: Path, cases: list[Case]) -> None:
    """Every case answers the file's exact bytes (outside the timed part)."""
    client = Client(port)
    with path.open("rb") as handle:
        for case in cases:
            handle.seek(case.start or 0)
            mismatch: list[int] = []

            def compare(data: bytes) -> None:
                if handle.read(len(data)) != data:
                    mismatch.append(1)  # noqa: B023  (the closure runs before the loop moves on)

            status, length = client.get(f"/stream-test/{FILE_NAME}", case.header(), compare)
            want = (200, path.stat().st_size) if case.start is None else (206, case.length)
            if (status, length) != want or mismatch:
                raise SystemExit(f"port {port}: {case.name} answered wrong bytes")
    client.close()


def measure(port: int, case: Case, connections: int) -> tuple[float, float]:
    """(MB/s, mean seconds per request) for `connections` clients each making its requests."""
    per_connection = case.requests[connections]
    clients = [Client(port) for _ in range(connections)]
    barrier = threading.Barrier(connections + 1)
    total = [0] * connections
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            for _ in range(per_connection):
                status, length = clients[index].get(f"/stream-test/{FILE_NAME}", case.header())
                if status not in (200, 206):
                    raise RuntimeError(f"status {status}")
                total[index] += length
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    if errors:
        raise SystemExit(f"port {port}: {case.name} failed: {errors[0]!r}")
    requests = connections * per_connection
    return sum(total) / elapsed / 1e6, elapsed * connections / requests


Results = dict[tuple[str, int, str], list[tuple[float, float]]]
BREAKDOWN = {
    "raw WSGI (no Flask)": "stream_apps:raw_app",
    "bare Flask": "stream_apps:flask_app",
    "Werkzeug send_file": "stream_apps:werkzeug_app",
}
SLOW = "Werkzeug send_file"  # reads up to the range's start: a few requests only


def run(args: argparse.Namespace) -> tuple[Results, Results]:
    size, length = args.size_mib * MIB, args.range_mib * MIB
    path = make_file(Path(args.dir), size)
    ranges = {1: args.range_requests, 8: args.range_requests // 4}
    cases = [
        Case("whole file", None, {1: args.whole_requests, 8: 1}),
        Case(f"{args.range_mib} MiB at 0%", 0, ranges, length),
        Case(f"{args.range_mib} MiB at 50%", size // 2, ranges, length),
        # A range longer than the last 1% starts where it still fits.
        Case(f"{args.range_mib} MiB at 99%", min(int(size * 0.99), size - length), ranges, length),
    ]
    servers = {"ours": free_port(), "nginx": free_port()}
    extra = {name: free_port() for name in BREAKDOWN} if args.breakdown else {}
    with (
        tempfile.TemporaryDirectory(prefix="aula-bench-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(scratch)
        stack.enter_context(gunicorn(servers["ours"], path.parent, tmp))
        stack.enter_context(nginx(servers["nginx"], path.parent, tmp))
        for name, port in extra.items():
            stack.enter_context(gunicorn(port, path.parent, tmp, BREAKDOWN[name]))
        for name, port in {**servers, **extra}.items():
            wait_ready(port, name)
            verify(port, path, cases)
        main = time_cases(servers, cases, (1, 8), args.rounds)
        detail: Results = {}
        if extra:
            fast = {name: port for name, port in {**servers, **extra}.items() if name != SLOW}
            small = [Case("1 byte at 0%", 0, {1: args.range_requests}, 1), *cases[1::2]]
            detail = time_cases(fast, small, (1,), args.rounds)
            few = [Case(case.name, case.start, {1: 3}, case.length) for case in small]
            detail.update(time_cases({SLOW: extra[SLOW]}, few, (1,), args.rounds))
    return main, detail


def time_cases(
    servers: dict[str, int], cases: list[Case], connections: tuple[int, ...], rounds: int
) -> Results:
    """Each case on each server `rounds` times; a round visits every case and every server in
    turn, so that the machine's drift (a shared 2-core VM is noisy) hits all cells alike."""
    results: Results = {}
    for count in connections:
        for _ in range(rounds):
            for case in cases:
                for name, port in servers.items():
                    key = (case.name, count, name)
                    results.setdefault(key, []).append(measure(port, case, count))
    return results


def median(results: Results, case: str, connections: int, server: str, index: int) -> float:
    return statistics.median(value[index] for value in results[(case, connections, server)])


def report(results: Results, label: str) -> None:
    cases = list(dict.fromkeys(case for case, _, _ in results))
    print("| case | connections | ours MB/s | nginx MB/s | ours/nginx | ours ms/request |")
    print("|---|---:|---:|---:|---:|---:|")
    for connections in (1, 8):
        for case in cases:
            ours = median(results, case, connections, "ours", 0)
            ref = median(results, case, connections, "nginx", 0)
            latency = median(results, case, connections, "ours", 1) * 1000
            print(
                f"| {case} | {connections} | {ours:,.0f} | {ref:,.0f} | {ours / ref:.2f} "
                f"| {latency:.2f} |"
            )
    print()
    print("| connections | ours: 99% / 0% time per range | nginx: 99% / 0% |")
    print("|---:|---:|---:|")
    for connections in (1, 8):
        ratios = [
            median(results, f"{label} at 99%", connections, server, 1)
            / median(results, f"{label} at 0%", connections, server, 1)
            for server in ("ours", "nginx")
        ]
        print(f"| {connections} | {ratios[0]:.2f} | {ratios[1]:.2f} |")


def report_breakdown(results: Results, label: str) -> None:
    servers = list(dict.fromkeys(server for _, _, server in results))
    print(f"| server, 1 connection | ms per 1-byte range | ms per {label} at 0% | at 99% |", end="")
    print(f" {label} at 0%: nginx time / this |")
    print("|---|---:|---:|---:|---:|")
    reference = median(results, f"{label} at 0%", 1, "nginx", 1)
    for server in servers:
        tiny, first, last = (
            median(results, case, 1, server, 1)
            for case in ("1 byte at 0%", f"{label} at 0%", f"{label} at 99%")
        )
        print(
            f"| {server} | {tiny * 1000:.2f} | {first * 1000:.2f} | {last * 1000:.2f} "
            f"| {reference / first:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/aula-bench", help="where the big file lives")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5, help="measurements per cell (median)")
    parser.add_argument("--whole-requests", type=int, default=2, help="whole-file GETs, 1 conn")
    parser.add_argument("--range-mib", type=int, default=1, help="size of the timed ranges")
    parser.add_argument("--range-requests", type=int, default=400, help="range GETs, 1 conn")
    parser.add_argument("--breakdown", action="store_true", help="also time stripped-down apps")
    parser.add_argument(
        "--via-proxy", action="store_true", help="the compose stack's proxy vs bare nginx (Docker)"
    )
    args = parser.parse_args()
    if args.via_proxy:  # bench/stream_via_proxy.py
        sys.path.insert(0, str(ROOT))
        from stream_via_proxy import run_via_proxy

        run_via_proxy(args)
        return
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, file {args.size_mib} MiB\n")
    main_results, detail = run(args)
    label = f"{args.range_mib} MiB"
    report(main_results, label)
    if detail:
        print()
        report_breakdown(detail, label)


if __name__ == "__main__":
    main()
