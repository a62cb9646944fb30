"""`stream_local.py --via-proxy`: the compose stack's nginx proxy against bare nginx, same file.

Brings up docker-compose.yml (project `aulabench`, stand-in images: deploy/standins/build.sh)
with the bench file in its media folder, indexes it, and times its signed stream URL through the
`proxy` service (nginx → gunicorn, which checks the signature, looks the item up and answers
X-Accel-Redirect → nginx sends the file) against a bare nginx container serving the same file
from the same mount. Both are reached on published loopback ports, so both pass Docker's port
forwarding. Cases: the whole file, and 1 MiB ranges at random offsets (the same seeded offsets
for both), with 1 and 8 keep-alive connections; MB/s medians of `--rounds` and proxy/nginx.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from stream_client import MIB, Client, make_file

from tests.e2e.compose_stack import Stack, rebuild_local
from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
BARE_CONF = "server { listen 80; sendfile on; tcp_nopush on; location /f/ { alias /media/; } }\n"
NAME = "bench.mp4"


def _fetch(port: int, path: str, ranges: list[int | None], length: int) -> int:
    client = Client(port)
    total = 0
    try:
        for start in ranges:
            header = None if start is None else f"bytes={start}-{start + length - 1}"
            status, got = client.get(path, header)
            if status not in (200, 206):
                raise SystemExit(f"port {port}: status {status}")
            total += got
    finally:
        client.close()
    return total


def measure(port: int, path: str, plan: list[list[int | None]], length: int) -> float:
    """MB/s of len(plan) connections, each fetching its list of range starts (None: whole)."""
    totals = [0] * len(plan)
    barrier = threading.Barrier(len(plan) + 1)

    def run(index: int) -> None:
        barrier.wait()
        totals[index] = _fetch(port, path, plan[index], length)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(plan))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if 0 in totals:
        raise SystemExit(f"port {port}: a connection failed")
    return sum(totals) / elapsed / 1e6


def plans(size: int, length: int, args: argparse.Namespace) -> dict[tuple[str, int], list]:
    """Each case's per-connection request lists, seeded so both servers get the same offsets."""
    rng = random.Random(20261128)
    ranges = {1: args.range_requests, 8: args.range_requests // 4}
    found: dict[tuple[str, int], list] = {}
    for connections in (1, 8):
        found[("whole file", connections)] = [
            [None] * (args.whole_requests if connections == 1 else 1) for _ in range(connections)
        ]
        found[(f"{args.range_mib} MiB at random offsets", connections)] = [
            [rng.randrange(0, size - length) for _ in range(ranges[connections])]
            for _ in range(connections)
        ]
    return found


def _bare_nginx(workdir: Path, media: Path) -> tuple[str, int]:
    conf = workdir / "bare"
    conf.mkdir()
    (conf / "bare.conf").write_text(BARE_CONF)
    port = free_port()
    container = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:80",
         "-v", f"{media}:/media:ro", "-v", f"{conf}:/etc/nginx/conf.d:ro", "nginx:1.27"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return container, port


def _verify(port: int, path: str, data_path: Path, start: int, length: int) -> None:
    got: list[bytes] = []
    client = Client(port)
    client.get(path, f"bytes={start}-{start + length - 1}", got.append)
    client.close()
    with data_path.open("rb") as handle:
        handle.seek(start)
        if b"".join(got) != handle.read(length):
            raise SystemExit(f"port {port}: wrong bytes")


def run_via_proxy(args: argparse.Namespace) -> None:
    """Bring the stack up, time both servers, print the table, take everything down."""
    size, length = args.size_mib * MIB, args.range_mib * MIB
    source = make_file(Path(args.dir), size)
    subprocess.run([str(ROOT / "deploy/standins/build.sh")], check=True)
    with tempfile.TemporaryDirectory(prefix="aula-bench-proxy-") as scratch:
        stack = Stack(Path(scratch), project="aulabench")
        os.link(source, stack.media / NAME)  # the cached bench file, no copy
        container = ""
        try:
            stack.compose("up", "-d", "--build", timeout=1500)
            stack.wait_healthy()
            url = rebuild_local(stack)[NAME]["stream_url"]
            container, bare_port = _bare_nginx(Path(scratch), stack.media)
            servers = {"proxy": (stack.ports["proxy"], url), "nginx": (bare_port, f"/f/{NAME}")}
            for port, path in servers.values():
                wait_for(lambda p=port, u=path: _fetch(p, u, [0], 1), 30, what="server")
                _verify(port, path, source, size // 3, length)
            report(time_all(servers, plans(size, length, args), length, args.rounds), args)
        finally:
            if container:
                subprocess.run(["docker", "rm", "-f", container], capture_output=True)
            stack.compose("down", "-v", timeout=300, check=False)


def time_all(servers: dict, cases: dict, length: int, rounds: int) -> dict:
    """Every case on both servers, `rounds` times, interleaved (a loaded machine drifts)."""
    results: dict[tuple[str, int, str], list[float]] = {}
    for _ in range(rounds):
        for (case, connections), plan in cases.items():
            for name, (port, path) in servers.items():
                value = measure(port, path, plan, length)
                results.setdefault((case, connections, name), []).append(value)
    return results


def report(results: dict, args: argparse.Namespace) -> None:
    """The table of medians, as docs/PERFORMANCE.md shows it."""
    print(f"{os.cpu_count()} CPUs, file {args.size_mib} MiB, {args.rounds} rounds (medians)\n")
    print("| case | connections | via proxy MB/s | bare nginx MB/s | proxy/nginx |")
    print("|---|---:|---:|---:|---:|")
    for case, connections, name in results:
        if name != "proxy":
            continue
        ours = statistics.median(results[(case, connections, "proxy")])
        ref = statistics.median(results[(case, connections, "nginx")])
        print(f"| {case} | {connections} | {ours:,.0f} | {ref:,.0f} | {ours / ref:.2f} |")
