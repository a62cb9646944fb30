"""Drive subtitle files kept for folder listings (they are no items); what Drive last said of
each folder a Google connection indexes.

Revision ID: 0018
Revises: 0014
Create Date: 2026-12-05 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.base.models import UTCDateTime

revision = "0018"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catalog_sidecars",
        sa.Column("id", ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=1024), nullable=False),
        sa.Column("folder_id", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("mime_type", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("modified_at", UTCDateTime(), nullable=True),
        sa.Column("thumbnail_link", sa.String(length=2048), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_id", name="uq_catalog_sidecars_source"),
    )
    op.create_index(
        "ix_catalog_sidecars_folder", "catalog_sidecars", ["source", "folder_id", "name", "id"]
    )
    with op.batch_alter_table("google_connections") as batch:
        batch.add_column(
            sa.Column("drive_folder_names", sa.JSON(), nullable=False, server_default="{}")
        )
    # Subtitle files listed before this table existed are known only as tracks: forgetting the
    # changes tokens makes the next sync a full listing, which catalogues them (and keeps their
    # tracks, a track living as long as its file's row).
    op.execute(
        "UPDATE source_states SET page_token = NULL WHERE source = 'drive' OR source LIKE 'drive:%'"
    )


def downgrade() -> None:
    with op.batch_alter_table("google_connections") as batch:
        batch.drop_column("drive_folder_names")
    op.drop_index("ix_catalog_sidecars_folder", table_name="catalog_sidecars")
    op.drop_table("catalog_sidecars")
