"""People: users, sessions, API tokens and the audit trail.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.base.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("setup_slot", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        sa.UniqueConstraint("setup_slot"),
    )
    for table, secret in (("user_sessions", "id_hash"), ("api_tokens", "token_hash")):
        extra = (
            [sa.Column("expires_at", UTCDateTime(), nullable=False)]
            if table == "user_sessions"
            else [
                sa.Column("name", sa.String(length=100), nullable=False),
                sa.Column("expires_at", UTCDateTime(), nullable=True),
                sa.Column("last_used_at", UTCDateTime(), nullable=True),
            ]
        )
        op.create_table(
            table,
            sa.Column("id", ID, nullable=False),
            sa.Column(secret, sa.String(length=64), nullable=False),
            sa.Column("user_id", ID, nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            *extra,
            sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(secret),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_user_id", ["user_id"], unique=False)
    op.create_table(
        "audit_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_at", ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_entries")
    op.drop_table("api_tokens")
    op.drop_table("user_sessions")
    op.drop_table("users")
