"""Password rules and argon2id hashing (argon2-cffi's recommended parameters, RFC 9106)."""

from __future__ import annotations

import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.base.errors import ValidationFailed

MIN_PASSWORD = 10
# Long enough for any passphrase; a megabyte "password" is refused before it is hashed.
MAX_PASSWORD = 256
MAX_USERNAME = 64
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HASHER = PasswordHasher()  # argon2id; the library's defaults follow RFC 9106's second choice


def check_username(username: str) -> str:
    """`username` if it is 1-64 letters, digits, `._@-` (starting with a letter or digit)."""
    if not USERNAME.match(username):
        raise ValidationFailed(
            "A username is 1 to 64 letters, digits, '.', '_', '@' or '-'.",
            {"username": ["Invalid username."]},
        )
    return username


def check_password(password: str, field: str = "password") -> str:
    """`password` if its length is within MIN_PASSWORD..MAX_PASSWORD characters."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(
            f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
            {field: [f"Length must be between {MIN_PASSWORD} and {MAX_PASSWORD}."]},
        )
    return password


def hash_password(password: str) -> str:
    """The argon2id hash of a password that passed check_password."""
    return _HASHER.hash(check_password(password))


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("an unknown user's stand-in password")


def verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; with no stored hash (an unknown user) a dummy hash is
    verified all the same, so both answers take one argon2 run."""
    candidate = password if len(password) <= MAX_PASSWORD else ""
    try:
        return _HASHER.verify(stored or _dummy_hash(), candidate) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether `stored` was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(stored)
