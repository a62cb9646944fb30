"""Netscape cookies.txt: validated before it is stored, and the private file yt-dlp reads."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.base.errors import NotFound, ValidationFailed
from core.base.logging import register_secret
from core.base.services import Services
from core.base.settings import Settings
from core.base.vault import Vault

MAX_BYTES = 1024 * 1024
_BOOLS = ("TRUE", "FALSE")


def _line_error(number: int, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"Line {number} of the cookies file is not in Netscape format: {reason}.",
        {"line": number, "reason": reason},
    )


def _check_line(number: int, line: str) -> None:
    fields = line.split("\t")
    if len(fields) != 7:
        raise _line_error(number, f"expected 7 tab-separated fields, found {len(fields)}")
    domain, subdomains, path, secure, expires, name, _value = fields
    if not domain or " " in domain:
        raise _line_error(number, "the domain is empty or has spaces")
    if subdomains.upper() not in _BOOLS or secure.upper() not in _BOOLS:
        raise _line_error(number, "the include-subdomains and secure fields must be TRUE or FALSE")
    if not path.startswith("/"):
        raise _line_error(number, "the path must start with /")
    if not expires.lstrip("-").isdigit():
        raise _line_error(number, "the expiry must be a number of seconds")
    if not name:
        raise _line_error(number, "the cookie has no name")


def validate_netscape(raw: bytes) -> int:
    """Check a cookies.txt and return how many cookies it holds; ValidationFailed otherwise."""
    if len(raw) > MAX_BYTES:
        raise ValidationFailed("The cookies file is larger than 1 MB.", {"max_bytes": MAX_BYTES})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The cookies file is not UTF-8 text.") from None
    count = 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#HttpOnly_"):
            line = line.removeprefix("#HttpOnly_")
        elif not line.strip() or line.startswith("#"):
            continue
        _check_line(number, line.rstrip("\r"))
        count += 1
    if count == 0:
        raise ValidationFailed("The cookies file holds no cookie.")
    return count


def values(raw: bytes) -> list[str]:
    """The cookie values of a Netscape cookies.txt (to redact them from logs one by one)."""
    found = []
    for line in raw.decode("utf-8", "replace").splitlines():
        fields = line.removeprefix("#HttpOnly_").rstrip("\r").split("\t")
        if len(fields) == 7 and not fields[0].startswith("#") and fields[6]:
            found.append(fields[6])
    return found


# ---------------------------------------------------------------- the file yt-dlp reads

COOKIES_PREFIX = "cookies-"


def _cookies_prefix() -> str:
    # Names its owner, so that a worker starting after a SIGKILL knows which files are orphans.
    return f"{COOKIES_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def _orphaned(name: str, host: str) -> bool:
    # cookies-<host>-<pid>-<random>.txt (mkstemp's random part has no "-")
    parts = name.removeprefix(COOKIES_PREFIX).removesuffix(".txt").rsplit("-", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False  # another host's (or an older name): judged by its age only
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale_cookies(settings: Settings) -> int:
    """Remove cookies files whose worker process is gone (a SIGKILL skips the `finally` that
    removes them), and any older than a task may run. Returns how many were removed."""
    removed, host = 0, socket.gethostname()
    oldest = time.time() - settings.task_time_limit_s
    for path in settings.temp_dir.glob(f"{COOKIES_PREFIX}*.txt"):
        try:
            stale = path.stat().st_mtime < oldest or _orphaned(path.name, host)
            if stale:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


@contextmanager
def cookies_file(services: Services) -> Iterator[Path | None]:
    """The stored cookies.txt as a mode-0600 file that exists only inside this block."""
    settings = services.settings
    try:
        secret = Vault(services.db, settings.fernet_keys).get("cookies")
    except NotFound:
        yield None
        return
    for value in values(secret):
        register_secret(value)  # a bare value in a yt-dlp line is redacted too
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=_cookies_prefix(), suffix=".txt", dir=settings.temp_dir)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
