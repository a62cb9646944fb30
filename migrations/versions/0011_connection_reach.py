"""Items and courses carry the Google connection that syncs them; which connection reaches what.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.base.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("catalog_items") as batch:
        batch.add_column(sa.Column("connection_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("connection_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "catalog_reach",
        sa.Column("id", ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=1024), nullable=False),
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["google_connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_id", "connection_id", name="uq_catalog_reach"),
    )
    op.create_index(
        "ix_catalog_reach_connection", "catalog_reach", ["connection_id", "source", "seen_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_catalog_reach_connection", table_name="catalog_reach")
    op.drop_table("catalog_reach")
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("connection_id")
    with op.batch_alter_table("catalog_items") as batch:
        batch.drop_column("connection_id")
