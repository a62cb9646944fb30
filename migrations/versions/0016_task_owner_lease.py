"""Task records hold an owner lease: the delivery running the task and until when (seconds
since the epoch on the database's clock) it is known alive.

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-04 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_records") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=160), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_records") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
