"""Command line: `python -m core migrate | check-config | gen-key | reset-password USER`."""

from __future__ import annotations

import argparse
import getpass
import sys

from cryptography.fernet import Fernet

from core.base.db import current_revision, database, migrate
from core.base.errors import AulaError
from core.base.settings import settings_or_exit
from core.people import accounts


def _reset_password(database_url: str, username: str | None) -> int:
    # The one way back in when every admin password is lost and ADMIN_TOKEN is unset.
    if not username:
        print("reset-password needs a username", file=sys.stderr)
        return 2
    new = getpass.getpass("New password: ") if sys.stdin.isatty() else sys.stdin.readline()
    try:
        accounts.reset_password(database(database_url), username, new.rstrip("\n"))
    except AulaError as error:
        print(error.message, file=sys.stderr)
        return 1
    print(f"password of {username} set; their sessions and tokens ended")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one maintenance command."""
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    parser.add_argument(
        "command", choices=("migrate", "check-config", "gen-key", "revision", "reset-password")
    )
    parser.add_argument("username", nargs="?", help="reset-password: whose (the new one on stdin)")
    args = parser.parse_args(argv)
    if args.command == "gen-key":
        print(Fernet.generate_key().decode())
        return 0
    settings = settings_or_exit()
    if args.command == "migrate":
        migrate(settings.database_url)
        print(f"database at revision {current_revision(settings.database_url)}")
    elif args.command == "reset-password":
        return _reset_password(settings.database_url, args.username)
    elif args.command == "revision":
        print(current_revision(settings.database_url))
    else:
        print("configuration ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
