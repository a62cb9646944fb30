"""Task records count deliveries that started and never ended (a worker that died).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 18:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_records") as batch:
        batch.add_column(sa.Column("deliveries", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("task_records") as batch:
        batch.drop_column("deliveries")
