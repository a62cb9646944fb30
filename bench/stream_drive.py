"""Drive proxy streaming: Aula's /api/drive/files/{id}/stream vs the fake upstream directly.

Starts the fake Google (tests/fakes) in its own process with one generated file, and the
Procfile's web command (gunicorn, gunicorn.conf.py) pointed at it; downloads the file both ways
with curl, prints MB/s and the ratio ours/direct (target >= 0.7), and samples the web worker's
RSS while streaming (target: peak < 150 MB).

    .venv/bin/python bench/stream_drive.py [--size-mib 2048] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.base.db import database, migrate  # noqa: E402
from core.base.vault import Vault  # noqa: E402
from tests.helpers import free_port, process_env, stop_process_group, wait_for  # noqa: E402

CHUNK = 1024 * 1024


FAKE = """
import sys, time
from tests.fakes import FakeGoogle
google = FakeGoogle().start()
google.add_file("big.mp4", size=int(sys.argv[1]), seed=42, file_id="bigfile")
print(google.base_url, google.issue_token(), flush=True)
print(google.credentials()["client_id"], google.credentials()["client_secret"],
      google.credentials()["refresh_token"], flush=True)
time.sleep(3600)
"""


def download(url: str, headers: dict[str, str]) -> tuple[int, float]:
    """Fetch with curl (a C client, so the client costs both sides the same); bytes, seconds."""
    command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    size, seconds = out.split()
    return int(size), float(seconds)


class RssSampler(threading.Thread):
    """Peak RSS of the gunicorn master and its workers, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak_worker = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                workers = self.process.children(recursive=True)
                self.peak_worker = max([self.peak_worker, *(w.memory_info().rss for w in workers)])
            except psutil.Error:
                pass
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    size = args.size_mib * CHUNK
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE, str(size)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert fake.stdout is not None
    base_url, token = fake.stdout.readline().split()
    client_id, client_secret, refresh_token = fake.stdout.readline().split()
    creds = {"client_id": client_id, "client_secret": client_secret,
             "refresh_token": refresh_token}  # fmt: skip
    file_id = "bigfile"
    with tempfile.TemporaryDirectory() as tmp:
        key = Fernet.generate_key().decode()
        db = f"sqlite:///{tmp}/aula.db"
        migrate(db)
        Vault(database(db), [key]).put("google", json.dumps(creds).encode())
        port = free_port()
        env = process_env({
            "DATABASE_URL": db, "ENCRYPTION_KEY": key, "DATA_DIR": tmp, "PORT": str(port),
            "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING", "DRIVE_RATE_PER_S": "100",
            "DRIVE_API_URL": base_url, "GOOGLE_TOKEN_URL": f"{base_url}/token",
        })  # fmt: skip
        web = subprocess.Popen(
            ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: requests.get(f"{base}/api/health", timeout=1).ok, 30, what="web")
            direct_url = f"{base_url}/drive/v3/files/{file_id}?alt=media"
            ours_url = f"{base}/api/drive/files/{file_id}/stream"
            sampler = RssSampler(web.pid)
            sampler.start()
            rows = []
            for _ in range(args.runs):
                got, direct_s = download(direct_url, {"Authorization": f"Bearer {token}"})
                assert got == size
                got, ours_s = download(ours_url, {})
                assert got == size
                rows.append((size / direct_s / CHUNK, size / ours_s / CHUNK))
            sampler.stop.set()
            sampler.join()
        finally:
            stop_process_group(web)
            stop_process_group(fake)
    print(f"Drive proxy, {args.size_mib} MiB file, {args.runs} runs (fake upstream on loopback)")
    for index, (direct, ours) in enumerate(rows, 1):
        print(
            f"  run {index}: direct {direct:7.1f} MB/s  ours {ours:7.1f} MB/s  "
            f"ratio {ours / direct:.2f} (target >= 0.7)"
        )
    print(
        f"  peak RSS of one web worker while streaming: {sampler.peak_worker / CHUNK:.1f} MB "
        "(target < 150 MB)"
    )


if __name__ == "__main__":
    main()
