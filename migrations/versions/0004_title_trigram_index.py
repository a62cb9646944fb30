"""A trigram index for title search on PostgreSQL (SQLite scans; fast enough at 100k rows).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
log = logging.getLogger(__name__)
INDEX = "ix_catalog_items_title_trgm"  # PostgreSQL only: migrations/env.py leaves it out of diffs


def _trgm_schema(bind: sa.Connection) -> str | None:
    # pg_trgm ships with PostgreSQL, but creating it needs a privilege, and it may already live
    # in another schema of the database: find where its operator class is.
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        savepoint.commit()
    except sa.exc.DBAPIError:
        savepoint.rollback()
    return bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        )
    ).scalar()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = _trgm_schema(bind)
    if schema is None:
        log.warning("pg_trgm is unavailable; title search will scan")
        return
    quoted = bind.dialect.identifier_preparer.quote_identifier(schema)
    op.execute(f"CREATE INDEX {INDEX} ON catalog_items USING gin (title_key {quoted}.gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
