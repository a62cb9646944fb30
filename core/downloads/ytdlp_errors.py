"""yt-dlp's errors, however deeply wrapped, mapped to Aula's typed errors."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator

from core.base.errors import (
    AulaError,
    TransientError,
    UpstreamRefused,
    UpstreamTimeout,
    ValidationFailed,
    write_failed,
)
from core.base.netguard import Guard

_PERMANENT_HINTS = (
    "unsupported url", "http error 404", "http error 403", "http error 410", "http error 401",
    "private video", "video unavailable", "not available", "requested format is not available",
    "no video formats found", "sign in to confirm",
)  # fmt: skip
_RETRYABLE_STATUS = frozenset({408, 425, 429})


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and all it wraps: yt-dlp's exc_info and cause, chained errors, URLError reasons."""
    todo, seen = [error], set[int]()
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        wrapped = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        linked = [getattr(current, "cause", None), getattr(current, "reason", None),
                  current.__cause__, current.__context__, wrapped]  # fmt: skip
        todo += [item for item in linked if isinstance(item, BaseException)]


def _clean(message: str) -> str:
    message = re.sub(r"\x1b\[[0-9;]*m", "", message).removeprefix("ERROR: ").strip()
    message = message.split("; please report this issue", 1)[0]
    return message[:300]


def _from_status(status: int, message: str) -> AulaError:
    if status in _RETRYABLE_STATUS or status >= 500:
        return TransientError(f"The server answered HTTP {status}; the download will be retried.")
    return UpstreamRefused(f"The server refused the download (HTTP {status}): {message}")


def _classify_one(cause: BaseException, message: str) -> AulaError | None:
    from yt_dlp.networking import exceptions as net
    from yt_dlp.utils import GeoRestrictedError, UnsupportedError

    if isinstance(cause, AulaError):
        return cause
    if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
        return write_failed(cause, "the download")
    if isinstance(cause, net.HTTPError):
        return _from_status(cause.status, message)
    if isinstance(cause, GeoRestrictedError):
        return UpstreamRefused(f"The video is not available from this server's country: {message}")
    if isinstance(cause, UnsupportedError):
        return UpstreamRefused(f"yt-dlp does not know how to download this URL: {message}")
    if isinstance(cause, net.NoSupportingHandlers):
        return ValidationFailed(
            f"The download led to a URL Aula does not fetch: {message}", {"reason": "forbidden_url"}
        )
    if isinstance(cause, net.CertificateVerifyError):
        return UpstreamRefused(f"The server's TLS certificate is not valid: {message}")
    if isinstance(cause, TimeoutError):
        return UpstreamTimeout(f"The server did not answer in time: {message}")
    if isinstance(cause, (net.TransportError, ConnectionError)):
        return TransientError(f"The connection failed; the download will be retried: {message}")
    return None


def classify(error: Exception, guard: Guard) -> Exception:
    """The typed error (core.base.errors) for what yt-dlp raised: refused, transient, forbidden."""
    if guard.refused:
        return guard.refusal_error()
    from yt_dlp.utils import ExtractorError

    message = _clean(str(error))
    causes = list(_causes(error))
    for cause in causes:
        mapped = _classify_one(cause, message)
        if mapped is not None:
            return mapped
    if any(isinstance(cause, ExtractorError) and cause.expected for cause in causes):
        return UpstreamRefused(f"yt-dlp could not fetch this URL: {message}")
    if any(hint in message.lower() for hint in _PERMANENT_HINTS):
        return UpstreamRefused(f"yt-dlp could not fetch this URL: {message}")
    return TransientError(f"yt-dlp failed, will retry: {message}")
