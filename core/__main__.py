"""Command line: `python -m core migrate | check-config | gen-key`."""

from __future__ import annotations

import argparse
import sys

from cryptography.fernet import Fernet

from core.base.db import current_revision, migrate
from core.base.settings import settings_or_exit


def main(argv: list[str] | None = None) -> int:
    """Run one maintenance command."""
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    parser.add_argument("command", choices=("migrate", "check-config", "gen-key", "revision"))
    args = parser.parse_args(argv)
    if args.command == "gen-key":
        print(Fernet.generate_key().decode())
        return 0
    settings = settings_or_exit()
    if args.command == "migrate":
        migrate(settings.database_url)
        print(f"database at revision {current_revision(settings.database_url)}")
    elif args.command == "revision":
        print(current_revision(settings.database_url))
    else:
        print("configuration ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
