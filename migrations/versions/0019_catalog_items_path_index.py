"""PostgreSQL: catalog items by path in byte (C) order, with their id and updated_at, so that a
local course's fingerprint is an index-only range scan (core.catalog.courses.fingerprint) and
its layout walks only its own items: a LIKE on source_id walks no index there (the database's
collation is not C, and a bound pattern is unknown when a prepared plan is made), so each
course's read scanned every local item. SQLite's GLOB already walks uq_catalog_items_source.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 06:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_catalog_items_source_path ON catalog_items "
            '(source, source_id COLLATE "C") INCLUDE (id, updated_at)'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_catalog_items_source_path")
