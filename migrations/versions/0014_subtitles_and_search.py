"""Subtitles, their cues with full-text search (SQLite FTS5, PostgreSQL tsvector + GIN), chapters.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-04 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.base.models import UTCDateTime

revision = "0014"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FTS = "subtitle_cues_fts"  # core.catalog.models.FTS_TABLE; migrations/env.py leaves it out
PG_INDEX = "ix_subtitle_cues_tsv"  # core.catalog.models.PG_FTS_INDEX
PG_COLUMN = "tsv"  # PostgreSQL only, generated: migrations/env.py leaves it out of diffs

# External-content FTS5: the cues table holds the text once, triggers keep the index in step
# (cues are only ever inserted and deleted; a changed track is deleted and written again).
SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(text, content='subtitle_cues', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER subtitle_cues_ai AFTER INSERT ON subtitle_cues BEGIN"  # noqa: S608
    f" INSERT INTO {FTS}(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER subtitle_cues_ad AFTER DELETE ON subtitle_cues BEGIN"  # noqa: S608
    f" INSERT INTO {FTS}({FTS}, rowid, text) VALUES ('delete', old.id, old.text); END",
]


def upgrade() -> None:
    op.create_table(
        "subtitles",
        sa.Column("id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=1024), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["catalog_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "origin", name="uq_subtitles_item_origin"),
    )
    op.create_table(
        "subtitle_cues",
        sa.Column("id", ID, nullable=False),
        sa.Column("subtitle_id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("markup", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["subtitle_id"], ["subtitles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subtitle_cues", schema=None) as batch_op:
        batch_op.create_index("ix_subtitle_cues_subtitle", ["subtitle_id", "id"], unique=False)
        batch_op.create_index("ix_subtitle_cues_item", ["item_id", "id"], unique=False)
    op.create_table(
        "item_chapters",
        sa.Column("id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["catalog_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("item_chapters", schema=None) as batch_op:
        batch_op.create_index("ix_item_chapters_item", ["item_id", "position"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Stored once per cue: a search that walks cues in id order reads it, never recomputes.
        op.execute(
            f"ALTER TABLE subtitle_cues ADD COLUMN {PG_COLUMN} tsvector"
            " GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED"
        )
        op.execute(f"CREATE INDEX {PG_INDEX} ON subtitle_cues USING gin ({PG_COLUMN})")
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
    else:
        op.execute("DROP TRIGGER IF EXISTS subtitle_cues_ad")
        op.execute("DROP TRIGGER IF EXISTS subtitle_cues_ai")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    op.drop_table("item_chapters")
    op.drop_table("subtitle_cues")
    op.drop_table("subtitles")
