"""The credential vault keeps only Fernet tokens and survives key rotation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from core.base.db import database, session_scope
from core.base.errors import ConfigurationError, NotFound
from core.base.models import Credential
from core.base.vault import Vault
from core.google import connections

SECRET = b'{"client_secret": "cs-9f8e7d", "refresh_token": "1//rt-secret-value"}'


def test_put_get_list_delete(settings):
    vault = Vault(database(settings.database_url), [Fernet.generate_key().decode()])
    info = vault.put("google", SECRET)
    assert info.configured and info.fingerprint.startswith("sha256:")
    assert vault.get("google") == SECRET
    listed = {item.kind: item for item in vault.list()}
    assert listed["google"].configured and not listed["cookies"].configured
    assert listed["google"].fingerprint == info.fingerprint
    vault.delete("google")
    with pytest.raises(NotFound):
        vault.get("google")
    with pytest.raises(NotFound):
        vault.delete("google")


def test_no_plaintext_reaches_the_database(settings):
    vault = Vault(database(settings.database_url), [Fernet.generate_key().decode()])
    vault.put("google", SECRET)
    with session_scope(settings.database_url) as session:
        stored = session.scalars(select(Credential.token)).one()
    assert b"rt-secret-value" not in stored and b"cs-9f8e7d" not in stored
    if settings.database_url.startswith("sqlite:///"):
        path = settings.database_url.removeprefix("sqlite:///")
        for suffix in ("", "-wal"):
            file = Path(path + suffix)
            if file.exists():
                assert b"rt-secret-value" not in _read_elsewhere(file)


def _read_elsewhere(file: Path) -> bytes:
    """The file's bytes, read by another process. Closing a descriptor of the database file here
    would drop every POSIX lock this process's SQLite connections hold on it (sqlite.org's "How
    to corrupt", 2.2): a worker opening the database later would then rebuild the WAL index under
    them, and each side would go on seeing only its own writes."""
    return subprocess.run(["cat", str(file)], capture_output=True, check=True).stdout


def test_rotation_keeps_old_secrets_readable(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    Vault(database(settings.database_url), [old]).put("google", SECRET)
    with pytest.raises(ConfigurationError, match="cannot be decrypted") as refused:
        Vault(database(settings.database_url), [new]).get("google")
    assert refused.value.details == {"setting": "ENCRYPTION_KEY"}
    rotating = Vault(database(settings.database_url), [new, old])
    assert rotating.get("google") == SECRET
    assert rotating.rotate() == 1
    assert Vault(database(settings.database_url), [new]).get("google") == SECRET


def test_without_a_key_the_vault_refuses_clearly(settings):
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEY") as refused:
        Vault(database(settings.database_url), []).put("google", SECRET)
    assert refused.value.details == {"setting": "ENCRYPTION_KEY"}


def test_rotation_reaches_google_connections(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    db = database(settings.database_url)
    connections.save(
        db, Vault(db, [old]), kind="oauth", email="a@b.example", scopes=[],
        secret={"refresh_token": "1//rotated"}, folders=["root"],
    )  # fmt: skip
    (connection,) = connections.list_connections(db).items
    assert Vault(db, [new, old]).rotate() == 1
    assert connections.secret_of(db, Vault(db, [new]), connection.id) == {
        "refresh_token": "1//rotated"
    }
