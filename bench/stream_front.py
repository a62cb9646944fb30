"""1 MiB ranges through the nginx front (deploy/nginx/aula.conf) against nginx serving the file.

    .venv/bin/python bench/stream_front.py [--size-mib 512] [--rounds 3] [--range-requests 200]

Runs the host's nginx with deploy/nginx/aula.conf (tests/nginx_front.py maps the compose paths
onto a scratch folder) in front of the Procfile's web command (`gunicorn --config
gunicorn.conf.py wsgi:app`, ACCEL_REDIRECT_PREFIX=/_accel, MEDIA_LINK_SECRET set), and a second
front and web without MEDIA_LINK_SECRET (the path before issue 29: every range is a proxied
request that Flask answers with X-Accel-Redirect). The reference is a plain nginx server block in
the same nginx process serving the same file (`location /f/ { alias <media>/; }`).

The file (`--size-mib` of random bytes, kept in --dir between runs) is indexed as a video. Each
connection of the "front" cases first asks the item's stream URL, as a <video> does; with the
secret, Flask answers that one request with a redirect to a link nginx checks itself, and the
timed ranges go to that link; without it, every range goes to the stream URL. Cases: 1 MiB ranges
at seeded random offsets, 1 and 8 keep-alive connections, every case and server in turn per
round; MB/s medians and front/nginx (target >= 0.9). Needs nginx (`apt-get install -y nginx`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from stream_client import MIB, make_file  # noqa: E402
from stream_via_proxy import _verify, measure  # noqa: E402

from tests.helpers import start_redis, stop_process_group  # noqa: E402
from tests.nginx_front import nginx_front  # noqa: E402

NAME = "bench.mp4"
SECRET = os.urandom(16).hex()


def _index(env: dict[str, str]) -> str:
    """Index the media root in-process; the item's stream URL."""
    from api.extensions import make_celery_client
    from core.base.db import migrate
    from core.base.services import Services
    from core.catalog.local_scan import rebuild_local
    from tests.helpers import settings_from_env

    migrate(env["DATABASE_URL"])
    settings = settings_from_env(env)
    rebuild_local(Services.build(settings, broker=make_celery_client(settings)))
    base = f"http://127.0.0.1:{env['PORT']}"
    page = requests.get(f"{base}/api/catalog/items?source=local", timeout=30).json()
    return str(next(item["stream_url"] for item in page["items"])).split("?")[0]


def _web(env: dict[str, str], log: Path) -> contextlib.AbstractContextManager[object]:
    from tests.e2e.web_process import start_web

    @contextlib.contextmanager
    def running() -> object:
        web = start_web(env, log)
        try:
            yield web
        finally:
            stop_process_group(web.process)

    return running()


def _link(port: int, stream: str) -> str:
    """What a player ends up asking for: the redirect's target, or the stream URL itself."""
    first = requests.get(f"http://127.0.0.1:{port}{stream}", allow_redirects=False, timeout=30)
    return first.headers["Location"] if first.status_code == 302 else stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/aula-bench", help="where the big file lives")
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--range-requests", type=int, default=200, help="range GETs, 1 conn")
    args = parser.parse_args()
    size, length = args.size_mib * MIB, MIB
    source = make_file(Path(args.dir), size)
    with tempfile.TemporaryDirectory(prefix="aula-front-") as scratch, contextlib.ExitStack() as st:
        tmp = Path(scratch)
        media = tmp / "media"
        media.mkdir()
        os.link(source, media / NAME)
        redis_process, redis_url = start_redis(tmp / "redis")
        st.callback(stop_process_group, redis_process)
        env = {
            "MEDIA_ROOTS": str(media), "REDIS_URL": redis_url, "DATA_DIR": str(tmp / "var"),
            "DOWNLOAD_DIR": str(tmp / "var/downloads"), "DATABASE_URL": f"sqlite:///{tmp}/a.db",
            "ACCEL_REDIRECT_PREFIX": "/_accel", "LOG_LEVEL": "INFO", "RATE_LIMIT_MUTATIONS": "",
        }  # fmt: skip
        servers: dict[str, tuple[int, str]] = {}
        for name, secret in (("front, signed link", SECRET), ("front, accel per range", None)):
            full = {**env, **({"MEDIA_LINK_SECRET": secret} if secret else {})}
            web = st.enter_context(_web(full, tmp / f"web-{len(servers)}.log"))
            port = int(urlsplit(web.base).port or 0)  # type: ignore[attr-defined]
            full["PORT"] = str(port)
            stream = _index(full)
            folder = tmp / f"nginx-{len(servers)}"
            front = st.enter_context(nginx_front(port, media, tmp / "dl", folder, secret))
            servers[name] = (front.port, _link(front.port, stream))
            servers.setdefault("nginx", (front.direct_port, f"/f/{NAME}"))
        for port, path in servers.values():
            _verify(port, path, source, size // 3, length)
        print(f"links: {', '.join(f'{k}: {v[1][:60]}' for k, v in servers.items())}")
        report(time_all(servers, plans(size, length, args), length, args.rounds), args)


def plans(size: int, length: int, args: argparse.Namespace) -> dict[int, list[list[int | None]]]:
    rng = random.Random(20261204)
    counts = {1: args.range_requests, 8: args.range_requests // 4}
    return {
        connections: [
            [rng.randrange(0, size - length) for _ in range(counts[connections])]
            for _ in range(connections)
        ]
        for connections in (1, 8)
    }


def time_all(servers: dict, cases: dict, length: int, rounds: int) -> dict:
    results: dict[tuple[int, str], list[float]] = {}
    for _ in range(rounds):
        for connections, plan in cases.items():
            for name, (port, path) in servers.items():
                value = measure(port, path, plan, length)
                results.setdefault((connections, name), []).append(value)
    return results


def report(results: dict, args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} CPUs, file {args.size_mib} MiB, 1 MiB ranges, {args.rounds} rounds\n")
    print("| server | connections | MB/s (each round) | median | ratio to nginx | target |")
    print("|---|---:|---:|---:|---:|---:|")
    for (connections, name), values in results.items():
        med = statistics.median(values)
        ref = statistics.median(results[(connections, "nginx")])
        rounds = " / ".join(f"{value:,.0f}" for value in values)
        target = ">= 0.9" if name == "front, signed link" else ""
        print(
            f"| {name} | {connections} | {rounds} | {med:,.0f} | **{med / ref:.2f}** | {target} |"
        )


if __name__ == "__main__":
    main()
