"""Sign-in timing: an unknown user against a known user's wrong password, same run.

    .venv/bin/python bench/sign_in_bench.py [--rounds 40]

Builds a migrated SQLite database with one user in a temporary folder and calls
core.people.accounts.authenticate (what POST /api/session runs) in interleaved rounds: an unknown
username, the known username with a wrong password, and the right password. Prints the medians
and the ratio unknown / wrong password, which should be within noise of 1 (target 0.8..1.25): a
caller cannot tell from the time whether a username exists.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    from core.base.db import database, migrate
    from core.people import accounts

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        migrate(url)
        db = database(url)
        accounts.set_up(db, "alice", "the right password")
        cases = {
            "unknown user": ("mallory", "the right password"),
            "wrong password": ("alice", "the wrong password"),
            "right password": ("alice", "the right password"),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, (username, password) in cases.items():
                started = time.perf_counter()
                accounts.authenticate(db, username, password)
                times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:>15}: median {value:.1f} ms")
    ratio = medians["unknown user"] / medians["wrong password"]
    print(f"unknown / wrong password: {ratio:.2f} (target 0.8..1.25)")
    return 0 if 0.8 <= ratio <= 1.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
