"""Netscape cookies.txt: validated before it is stored for yt-dlp."""

from __future__ import annotations

from core.errors import ValidationFailed

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
