"""Signed, expiring media URLs: HMAC-SHA256 over a path and an expiry, as pure functions."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import math
from urllib.parse import unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Binds derived keys to this one use: a key derived for anything else never verifies here.
_INFO = b"aula media-url signing v2"  # v2: keyed from ENCRYPTION_KEY, no longer ADMIN_TOKEN
# Expiries are rounded up to this many seconds at most, so a URL stays the same for a while
# (browser caches and the JSON answers' ETags see the same URL on every poll).
_GRANULARITY_S = 300


class Verdict(enum.Enum):
    """The outcome of checking a signed URL."""

    VALID = "valid"
    MISSING = "missing"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


def derive_key(secret: str) -> bytes:
    """A 32-byte signing key derived from `secret` with HKDF-SHA256 (never the secret itself)."""
    if not secret:
        raise ValueError("a signing key needs a non-empty secret")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return hkdf.derive(secret.encode())


def expiry(now: float, ttl_s: int) -> int:
    """The expiry for a URL made at `now`: at least `ttl_s` seconds later, rounded up."""
    step = max(1, min(_GRANULARITY_S, ttl_s // 10))
    return math.ceil((now + ttl_s) / step) * step


def signature(key: bytes, path: str, exp: int) -> str:
    """The URL-safe signature of a decoded `path` valid until `exp` (unix seconds)."""
    message = f"{path}\n{exp}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_url(key: bytes, url_path: str, exp: int) -> str:
    """`url_path` (percent-encoded, no query) with `?exp=...&sig=...` appended."""
    return f"{url_path}?exp={exp}&sig={signature(key, unquote(url_path), exp)}"


def verify(key: bytes, path: str, exp: str | None, sig: str | None, now: float) -> Verdict:
    """Check a decoded `path` and the `exp` and `sig` query values it came with, at `now`.

    The signature is checked (in constant time) before the expiry, so an altered `exp` is a bad
    signature, not an expired URL.
    """
    if not exp and not sig:
        return Verdict.MISSING
    if not exp or not sig or not (exp.isascii() and exp.isdigit()) or len(exp) > 12:
        return Verdict.BAD_SIGNATURE
    expected = signature(key, path, int(exp))
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
        return Verdict.BAD_SIGNATURE
    if int(exp) <= now:
        return Verdict.EXPIRED
    return Verdict.VALID
