"""A finished download's media type and duration, shown by the catalog item it plays.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: SQLite and PostgreSQL alike, no table rewrite.
    op.add_column("downloads", sa.Column("mime_type", sa.String(length=255), nullable=True))
    op.add_column("downloads", sa.Column("duration_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.drop_column("duration_s")
        batch.drop_column("mime_type")
