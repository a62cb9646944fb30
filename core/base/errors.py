"""Typed errors: the API maps them onto the envelope, tasks decide retries by family."""

from __future__ import annotations

import errno
from typing import Any


class AulaError(Exception):
    """Base of every error Aula raises on purpose; `code` and `status` follow CONTRACT section 3."""

    code = "internal_error"
    status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigurationError(AulaError):
    """A setting is missing or malformed; the process must not start."""


class PermanentError(AulaError):
    """Retrying will not help: bad input, a missing object, a refusal."""


class TransientError(AulaError):
    """May succeed later: a timeout, a 5xx, a dropped connection, a busy broker."""

    code = "upstream_error"
    status = 502


class ValidationFailed(PermanentError):
    code = "validation_error"
    status = 400


class NotFound(PermanentError):
    code = "not_found"
    status = 404


class Conflict(PermanentError):
    code = "conflict"
    status = 409


class InsufficientStorage(PermanentError):
    code = "insufficient_storage"
    status = 507


class Busy(TransientError):
    """Too much of something costly at once on this server; `retry_after_s` in the details."""

    code = "rate_limited"
    status = 429


class BrokerUnavailable(TransientError):
    code = "broker_unavailable"
    status = 503


class UpstreamTimeout(TransientError):
    code = "upstream_timeout"
    status = 504


class UpstreamRefused(PermanentError):
    """The upstream answered with a definite refusal (quota, abuse flag, bad grant)."""

    code = "upstream_error"
    status = 502


class CredentialsMissing(PermanentError):
    """The work needs a credential that is not configured."""

    code = "conflict"
    status = 409


# Where a person connects Google: the web UI's Settings page (an error names it in `page`).
SETTINGS_PAGE = "/#/settings"


def google_not_connected() -> CredentialsMissing:
    """The error for work that needs Google while no Google credentials are stored."""
    return CredentialsMissing(
        "Google is not connected to Aula yet: connect it on the Settings page (/#/settings).",
        {"reason": "google_not_connected", "page": SETTINGS_PAGE},
    )


class PayloadTooLarge(PermanentError):
    code = "payload_too_large"
    status = 413


def write_failed(error: OSError, what: str) -> PermanentError:
    """The error for a failed write of `what`: a full disk is 507, anything else permanent.

    Retrying cannot help until someone frees space or fixes the folder, so neither is transient.
    """
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(
            f"The disk of the download folder is full; {what} stopped. Free space, then retry it."
        )
    reason = error.strerror or type(error).__name__
    return PermanentError(f"Writing {what} to the download folder failed: {reason}.")
