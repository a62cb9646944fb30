"""Media facts on items and downloads, and the converted-file cache (CONTRACT 8.4).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-04 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.base.models import UTCDateTime

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: SQLite and PostgreSQL alike, no table rewrite.
    op.add_column("catalog_items", sa.Column("media", sa.JSON(), nullable=True))
    op.add_column("downloads", sa.Column("media", sa.JSON(), nullable=True))
    op.create_table(
        "converted_files",
        sa.Column("item_id", ID, nullable=False),
        sa.Column("source_key", sa.String(length=256), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_played_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["catalog_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("converted_files") as batch:
        batch.create_index("ix_converted_files_played", ["last_played_at"], unique=False)


def downgrade() -> None:
    op.drop_table("converted_files")
    with op.batch_alter_table("downloads") as batch:
        batch.drop_column("media")
    with op.batch_alter_table("catalog_items") as batch:
        batch.drop_column("media")
