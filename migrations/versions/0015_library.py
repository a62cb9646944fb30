"""The library on disk and when downloads run: waiting reasons, protection, templates,
retention and the download schedule (CONTRACT 8.5).

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-04 23:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.base.models import UTCDateTime

revision = "0015"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.add_column(sa.Column("waiting_reason", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("protected", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("template", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("retention", sa.JSON(), nullable=True))
    op.create_table(
        "download_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("rate_limit_bps", sa.BigInteger(), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("download_schedule")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("retention")
        batch.drop_column("template")
    with op.batch_alter_table("downloads") as batch:
        batch.drop_column("protected")
        batch.drop_column("waiting_reason")
