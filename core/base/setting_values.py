"""What a valid setting value is (the checks Settings calls); URLs shown without a password."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import limits
from cryptography.fernet import Fernet

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
MIN_ADMIN_TOKEN = 24


def split(value: Any, sep: str) -> Any:
    """A separated string as its non-empty, stripped parts; anything else unchanged."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(sep) if part.strip()]
    return value


def http_url(value: str) -> str:
    """An http(s) URL without its trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def database_scheme(value: str) -> str:
    """A database URL with SQLAlchemy's psycopg driver named; other schemes are refused."""
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    if scheme not in ("sqlite", "postgresql+psycopg"):
        raise ValueError("unknown scheme: use sqlite:/// or postgresql://")
    return value


def redis_url(value: str) -> str:
    """A Redis URL, checked by its scheme."""
    if urlsplit(value).scheme not in ("redis", "rediss", "unix", "redis+socket"):
        raise ValueError("unknown scheme: use redis://host:port/db")
    return value


def rate_limit(value: str) -> str:
    """A rate limit like "60/minute"; "" or "0" turns it off (returned as "")."""
    value = value.strip()
    if value in ("", "0"):
        return ""
    try:
        limits.parse_many(value)
    except ValueError:
        raise ValueError('is not a rate limit like "60/minute" ("" or 0 disables)') from None
    return value


def proxy_networks(value: list[str]) -> list[str]:
    """Trusted proxies as networks; the old count form is refused with what to write instead."""
    if value == ["0"]:
        return []  # the old "no proxy" count
    networks = []
    for entry in value:
        if entry.isdigit():
            raise ValueError(
                "is a count of proxies; list the proxies' addresses or CIDRs instead"
                " (e.g. 127.0.0.1,10.0.0.0/8)"
            )
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
    return networks


def admin_token_length(token: str) -> None:
    """Refuse an admin token too short to resist guessing."""
    if len(token) < MIN_ADMIN_TOKEN:
        raise ValueError(
            f"must be at least {MIN_ADMIN_TOKEN} characters (make one with: python -c"
            ' "import secrets; print(secrets.token_urlsafe(32))")'
        )


def bind_address(value: str) -> str:
    """An IP address to listen on."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("is not an IP address to listen on (e.g. 127.0.0.1)") from None


def log_level(value: Any) -> Any:
    """A logging level name, upper-cased."""
    if isinstance(value, str) and value.upper() in LOG_LEVELS:
        return value.upper()
    raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")


def fernet_keys(value: str) -> list[str]:
    """Comma-separated Fernet keys, each checked; the first encrypts."""
    keys: list[str] = split(value, ",")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError("is not a valid Fernet key (32 url-safe base64 bytes)") from None
    return keys


def strip_password(url: str) -> str:
    """Replace the password of a URL with `***` (a value that is no URL comes back unchanged)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable>"
    if password:
        netloc = parts.netloc.replace(f":{password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
