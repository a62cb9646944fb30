"""One webhook POST: signed body, sent only to an address the SSRF guard allows, answer classified.

Plain http.client over core.base.guarded_http's guarded sockets rather than requests or Apprise: the
address checked is the address connected to (no DNS-rebinding gap), which neither requests'
urllib3 pool nor Apprise's plugins (each opens its own connections: requests, smtplib, MQTT)
let us guarantee. Redirects are not followed: a receiver answers where it was configured.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from core.base.errors import ValidationFailed
from core.base.guarded_http import guarded_socket
from core.base.models import utcnow
from core.base.netguard import ForbiddenAddress, Guard

MAX_ANSWER = 64 * 1024  # read (and drop) at most this much of a receiver's answer
RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Answer:
    """What one attempt came to: `retry` says whether another attempt may succeed."""

    delivered: bool
    retry: bool
    status: int | None
    error: str | None
    retry_after_s: float | None = None


def signature(secret: str, body: bytes) -> str:
    """The X-Aula-Signature value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - utcnow()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _connection(
    url: str, guard: Guard, connect_timeout: float, read_timeout: float
) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    if secure:
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=read_timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=read_timeout)
    raw = guarded_socket(host, port, connect_timeout, guard)
    raw.settimeout(read_timeout)
    if isinstance(connection, http.client.HTTPSConnection):
        context: ssl.SSLContext = connection._context  # type: ignore[attr-defined]
        connection.sock = context.wrap_socket(raw, server_hostname=host)
    else:
        connection.sock = raw
    return connection


def classify(status: int, retry_after_header: str | None) -> Answer:
    """2xx delivered; 429, 408, 425 and 5xx worth another try; any other answer final."""
    if 200 <= status < 300:
        return Answer(True, False, status, None)
    retry = status in RETRY_STATUSES or status >= 500
    wait = retry_after(retry_after_header) if retry else None
    return Answer(False, retry, status, f"The receiver answered HTTP {status}.", wait)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    connect_timeout: float,
    read_timeout: float,
) -> Answer:
    """POST `body` to `url` once; never raises for what the network or the receiver does."""
    guard = Guard(allow_private)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = None
    try:
        connection = _connection(url, guard, connect_timeout, read_timeout)
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER)
        return classify(response.status, response.getheader("Retry-After"))
    except ForbiddenAddress:
        return Answer(False, False, None, guard.refusal_error("a forbidden address").message)
    except ValidationFailed as error:
        return Answer(False, False, None, error.message)
    except TimeoutError:
        return Answer(False, True, None, "The receiver did not answer in time.")
    except (OSError, http.client.HTTPException) as error:
        # Refused, reset, unresolvable (DNS may come back): all worth another attempt.
        return Answer(False, True, None, f"The receiver could not be reached: {_reason(error)}.")
    except Exception as error:  # a transient error of ours (TransientError from resolving)
        return Answer(False, True, None, getattr(error, "message", type(error).__name__))
    finally:
        if connection is not None:
            connection.close()


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or type(error).__name__
