"""A unique active key on task records; extras on the sync state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:14:24.756127
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extra", sa.JSON(), nullable=True))

    with op.batch_alter_table("task_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active_key", sa.String(length=128), nullable=True))
        batch_op.create_index("uq_task_records_active_key", ["active_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("task_records", schema=None) as batch_op:
        batch_op.drop_index("uq_task_records_active_key")
        batch_op.drop_column("active_key")

    with op.batch_alter_table("source_states", schema=None) as batch_op:
        batch_op.drop_column("extra")
