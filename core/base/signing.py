"""Signed, expiring media URLs: itsdangerous's HMAC-SHA256 Signer over a path and an expiry."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import math
from collections.abc import Callable
from urllib.parse import unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import Signer

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
    # key_derivation="none": `key` is already derived for this one use (derive_key). The result is
    # the unpadded URL-safe base64 of HMAC-SHA256 over "path\nexp", as before itsdangerous, so
    # links handed out before an upgrade still verify. TimestampSigner does not fit: its
    # timestamp is the signing second, so a URL would change on every poll; ours rounds `exp`.
    signer = Signer(key, digest_method=hashlib.sha256, key_derivation="none")
    return signer.get_signature(f"{path}\n{exp}".encode()).decode()


def sign_url(key: bytes, url_path: str, exp: int) -> str:
    """`url_path` (percent-encoded, no query) with `?exp=...&sig=...` appended."""
    return f"{url_path}?exp={exp}&sig={signature(key, unquote(url_path), exp)}"


def url_signer(key: bytes, exp: int) -> Callable[[str], str]:
    """sign_url(key, ., exp) for many paths (a course page signs thousands): the HMAC keyed
    once and copied for each path, the same signatures at about a third of the cost."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    tail = f"\n{exp}".encode()

    def sign(url_path: str) -> str:
        mac = keyed.copy()
        mac.update(unquote(url_path).encode())
        mac.update(tail)
        sig = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
        return f"{url_path}?exp={exp}&sig={sig}"

    return sign


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
    # Compared as text, not with Signer.verify_signature: that compares decoded bytes, so other
    # strings (the last character's unused bits changed, a "=" added) pass for the same one.
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
        return Verdict.BAD_SIGNATURE
    if int(exp) <= now:
        return Verdict.EXPIRED
    return Verdict.VALID
