"""Catalog items and folders, credentials and per-source sync state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:10:09.886776
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.base.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_folders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("parent_id", sa.String(length=1024), nullable=True),
        sa.Column("modified_at", UTCDateTime(), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_id", name="uq_catalog_folders_source"),
    )
    with op.batch_alter_table("catalog_folders", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_folders_parent", ["source", "parent_id"], unique=False)

    op.create_table(
        "catalog_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=1024), nullable=False),
        sa.Column("title", sa.String(length=1024), nullable=False),
        sa.Column("title_key", sa.String(length=1024), nullable=False),
        sa.Column("mime_type", sa.String(length=255), nullable=True),
        sa.Column("is_video", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("modified_at", UTCDateTime(), nullable=True),
        sa.Column("folder_id", sa.String(length=1024), nullable=True),
        sa.Column("course_id", sa.String(length=64), nullable=True),
        sa.Column("checksum", sa.String(length=128), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("thumbnail_state", sa.String(length=16), nullable=False),
        sa.Column("thumbnail_link", sa.String(length=2048), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_id", name="uq_catalog_items_source"),
    )
    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_items_course", ["course_id", "id"], unique=False)
        batch_op.create_index(
            "ix_catalog_items_folder", ["source", "folder_id", "id"], unique=False
        )
        batch_op.create_index("ix_catalog_items_source_id", ["source", "id"], unique=False)
        batch_op.create_index("ix_catalog_items_title_key", ["title_key"], unique=False)

    op.create_table(
        "credentials",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind"),
    )
    op.create_table(
        "source_states",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("page_token", sa.String(length=512), nullable=True),
        sa.Column("last_rebuild_at", UTCDateTime(), nullable=True),
        sa.Column("last_sync_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("source_states")
    op.drop_table("credentials")
    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_items_title_key")
        batch_op.drop_index("ix_catalog_items_source_id")
        batch_op.drop_index("ix_catalog_items_folder")
        batch_op.drop_index("ix_catalog_items_course")

    op.drop_table("catalog_items")
    with op.batch_alter_table("catalog_folders", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_folders_parent")

    op.drop_table("catalog_folders")
