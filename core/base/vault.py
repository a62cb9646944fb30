"""The credential vault: secrets stored only as Fernet tokens (MultiFernet for key rotation)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select

from core.base.db import Database
from core.base.errors import ConfigurationError, NotFound
from core.base.logging import register_secret
from core.base.models import Credential, GoogleConnection, GoogleOAuthState

KINDS = ("google", "cookies")


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown of a credential: never the secret itself."""

    kind: str
    configured: bool
    updated_at: datetime | None
    fingerprint: str | None


def fingerprint(secret: bytes) -> str:
    """A short, stable identifier of a secret (a truncated SHA-256), to tell two apart."""
    return "sha256:" + hashlib.sha256(secret).hexdigest()[:16]


class Vault:
    """Encrypts with the first key; decrypts with any, so keys can be rotated."""

    def __init__(self, db: Database, keys: list[str]) -> None:
        self.db = db
        self._keys = keys

    def _fernet(self) -> MultiFernet:
        if not self._keys:
            raise ConfigurationError(
                "No ENCRYPTION_KEY is configured, so secrets cannot be stored or read.",
                {"setting": "ENCRYPTION_KEY"},
            )
        return MultiFernet([Fernet(key) for key in self._keys])

    def seal(self, secret: bytes) -> bytes:
        """A Fernet token of `secret`, for a secret kept in another table (Google connections)."""
        return self._fernet().encrypt(secret)

    def open(self, token: bytes, what: str) -> bytes:
        """The plaintext of a token `seal` made; registered for redaction."""
        try:
            secret = self._fernet().decrypt(token)
        except InvalidToken:
            raise ConfigurationError(
                f"The stored {what} cannot be decrypted with ENCRYPTION_KEY; "
                "add the old key after the new one, or connect it again.",
                {"setting": "ENCRYPTION_KEY"},
            ) from None
        register_secret(secret.decode(errors="ignore"))
        return secret

    def put(self, kind: str, secret: bytes) -> CredentialInfo:
        """Store (or replace) the secret of `kind`."""
        token = self._fernet().encrypt(secret)
        with self.db.session() as session:
            row = session.get(Credential, kind)
            if row is None:
                row = Credential(kind=kind, token=token, fingerprint=fingerprint(secret))
                session.add(row)
            else:
                row.token, row.fingerprint = token, fingerprint(secret)
            session.flush()
            return CredentialInfo(kind, True, row.updated_at, row.fingerprint)

    def get(self, kind: str) -> bytes:
        """The plaintext secret of `kind`; NotFound if none is stored."""
        with self.db.session() as session:
            row = session.get(Credential, kind)
            token = row.token if row is not None else None
        if token is None:
            raise NotFound(f"No {kind} credential is configured.")
        try:
            secret = self._fernet().decrypt(token)
        except InvalidToken:
            raise ConfigurationError(
                f"The stored {kind} credential cannot be decrypted with ENCRYPTION_KEY; "
                "add the old key after the new one, or store the credential again.",
                {"setting": "ENCRYPTION_KEY"},
            ) from None
        register_secret(secret.decode(errors="ignore"))
        return secret

    def delete(self, kind: str) -> None:
        """Forget the secret of `kind`; NotFound if none is stored."""
        with self.db.session() as session:
            row = session.get(Credential, kind)
            if row is None:
                raise NotFound(f"No {kind} credential is configured.")
            session.delete(row)

    def list(self) -> list[CredentialInfo]:
        """Every known kind, configured or not."""
        with self.db.session() as session:
            rows = {row.kind: row for row in session.scalars(select(Credential))}
        return [
            CredentialInfo(
                kind,
                kind in rows,
                rows[kind].updated_at if kind in rows else None,
                rows[kind].fingerprint if kind in rows else None,
            )
            for kind in KINDS
        ]

    def rotate(self) -> int:
        """Re-encrypt every stored secret with the first key; return how many."""
        fernet = self._fernet()
        with self.db.session() as session:
            rows = list(session.scalars(select(Credential)))
            for row in rows:
                row.token = fernet.rotate(row.token)
            # Sealed secrets kept beside their rows (Google connections, pending sign-ins).
            connections = list(session.scalars(select(GoogleConnection)))
            for connection in connections:
                if connection.secret is not None:
                    connection.secret = fernet.rotate(connection.secret)
            states = list(session.scalars(select(GoogleOAuthState)))
            for state in states:
                state.verifier = fernet.rotate(state.verifier)
            return len(rows) + len(connections) + len(states)
