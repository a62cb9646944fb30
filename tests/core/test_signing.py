"""Signed media URLs as pure functions: derivation, expiry, signing and every way to fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from core.base.signing import (
    Verdict,
    derive_key,
    expiry,
    sign_url,
    signature,
    url_signer,
    verify,
)

NOW = 1_800_000_000
KEY = derive_key("an-admin-token-for-signing-tests")
PATH = "/api/catalog/items/7/stream"


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["exp"][0], query["sig"][0]


def test_a_signed_url_verifies_until_it_expires() -> None:
    path, exp, sig = _parts(sign_url(KEY, PATH, NOW + 600))

    assert path == PATH
    assert verify(KEY, path, exp, sig, NOW) is Verdict.VALID
    assert verify(KEY, path, exp, sig, NOW + 599) is Verdict.VALID
    assert verify(KEY, path, exp, sig, NOW + 600) is Verdict.EXPIRED
    assert verify(KEY, path, exp, sig, NOW + 10**6) is Verdict.EXPIRED


def test_the_key_is_derived_not_the_secret() -> None:
    secret = "an-admin-token-for-signing-tests"

    assert len(KEY) == 32
    assert secret.encode() not in KEY
    assert derive_key(secret) == KEY
    assert derive_key(secret + "x") != KEY
    # A signature made with the raw secret as the HMAC key does not verify.
    raw = hmac.new(secret.encode(), f"{PATH}\n{NOW + 600}".encode(), hashlib.sha256).hexdigest()
    assert verify(KEY, PATH, str(NOW + 600), raw, NOW) is Verdict.BAD_SIGNATURE
    assert signature(KEY, PATH, NOW) != signature(secret.encode(), PATH, NOW)
    with pytest.raises(ValueError):
        derive_key("")


@pytest.mark.parametrize(
    "change",
    ["path", "item", "exp-later", "exp-earlier", "sig-char", "sig-short", "sig-long", "key"],
)
def test_any_change_is_a_bad_signature(change: str) -> None:
    path, exp, sig = _parts(sign_url(KEY, PATH, NOW + 600))
    key = KEY
    if change == "path":
        path = "/api/catalog/items/7/thumbnail"
    elif change == "item":
        path = "/api/catalog/items/8/stream"
    elif change == "exp-later":
        exp = str(int(exp) + 3600)
    elif change == "exp-earlier":
        exp = str(int(exp) - 1200)  # even one already past: the signature is checked first
    elif change == "sig-char":
        sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    elif change == "sig-short":
        sig = sig[:-1]
    elif change == "sig-long":
        sig = sig + "A"
    else:
        key = derive_key("another-token-entirely-000")

    assert verify(key, path, exp, sig, NOW) is Verdict.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("exp", "sig", "verdict"),
    [
        (None, None, Verdict.MISSING),
        ("", "", Verdict.MISSING),
        ("1800000600", None, Verdict.BAD_SIGNATURE),
        (None, "abc", Verdict.BAD_SIGNATURE),
        ("-5", "abc", Verdict.BAD_SIGNATURE),
        ("1e9", "abc", Verdict.BAD_SIGNATURE),
        ("١٢٣", "abc", Verdict.BAD_SIGNATURE),  # Arabic-Indic digits: isdigit(), not ASCII
        ("9" * 40, "abc", Verdict.BAD_SIGNATURE),
        ("1800000600", "ü" * 43, Verdict.BAD_SIGNATURE),
    ],
)
def test_malformed_queries_are_refused(exp: str | None, sig: str | None, verdict: Verdict) -> None:
    assert verify(KEY, PATH, exp, sig, NOW) is verdict


def test_the_expiry_is_at_least_the_lifetime_and_stable_for_a_while() -> None:
    ttl = 4 * 3600
    start = NOW + 17
    first = expiry(start, ttl)

    assert start + ttl <= first <= start + ttl + 300
    assert first % 300 == 0
    assert expiry(start + 60, ttl) == first  # the same URL on the next polls
    short = expiry(NOW + 7, 60)
    assert NOW + 67 <= short <= NOW + 67 + 6


def test_the_signature_covers_the_decoded_path() -> None:
    encoded = "/api/drive/files/a%2Fb%20c/thumbnail"
    path, exp, sig = _parts(sign_url(KEY, encoded, NOW + 600))

    assert path == encoded
    assert verify(KEY, "/api/drive/files/a/b c/thumbnail", exp, sig, NOW) is Verdict.VALID
    assert verify(KEY, encoded, exp, sig, NOW) is Verdict.BAD_SIGNATURE


def test_signatures_are_url_safe() -> None:
    for item in range(200):
        sig = signature(KEY, f"/api/catalog/items/{item}/stream", NOW)
        assert len(sig) == 43
        assert set(sig) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_links_signed_before_itsdangerous_still_verify_and_no_alias_does() -> None:
    # The hand-written signature (HMAC-SHA256 over "path\nexp", URL-safe base64 without padding)
    # that links already handed out carry.
    exp = NOW + 600
    digest = hmac.new(KEY, f"{PATH}\n{exp}".encode(), hashlib.sha256).digest()
    before = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    assert signature(KEY, PATH, exp) == before
    assert verify(KEY, PATH, str(exp), before, NOW) is Verdict.VALID
    # The 43rd character carries two unused bits: a string that decodes to the same bytes (which
    # itsdangerous's verify_signature accepts) is still not this URL's signature.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    twin = before[:-1] + alphabet[alphabet.index(before[-1]) ^ 1]
    assert base64.urlsafe_b64decode(twin + "=") == digest
    for alias in (twin, before + "=", before[:20] + "!" + before[20:]):
        assert verify(KEY, PATH, str(exp), alias, NOW) is Verdict.BAD_SIGNATURE, alias


@pytest.mark.parametrize(
    "path",
    ["/api/catalog/items/1/stream", "/api/drive/files/a%20b/stream", "/api/x/%C3%A9t%C3%A9/y", "/"],
)
def test_the_many_urls_signer_signs_as_sign_url(path: str) -> None:
    key, exp = derive_key("a secret"), 1_900_000_000
    sign = url_signer(key, exp)
    assert sign(path) == sign_url(key, path, exp)
    assert sign(path) == sign(path)  # the keyed HMAC is copied, never used up
    signed, got_exp, sig = _parts(sign(path))
    assert verify(key, unquote(signed), got_exp, sig, exp - 1) is Verdict.VALID
