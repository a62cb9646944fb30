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


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # pg_trgm ships with PostgreSQL but creating it needs the right privilege: without it,
    # search still works, only by scanning.
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        savepoint.commit()
    except sa.exc.DBAPIError:
        savepoint.rollback()
        log.warning("pg_trgm is unavailable; title search will scan")
        return
    op.create_index(
        "ix_catalog_items_title_trgm",
        "catalog_items",
        ["title_key"],
        postgresql_using="gin",
        postgresql_ops={"title_key": "gin_trgm_ops"},
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_items_title_trgm")
