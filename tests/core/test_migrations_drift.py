"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.base.db import get_engine
from core.base.models import Base
from core.catalog import models as _track_models  # noqa: F401

PG_ONLY_INDEXES = {"ix_catalog_items_title_trgm"}  # see migrations/versions/0004
PG_ONLY_INDEXES |= {"ix_subtitle_cues_tsv"}  # 0014
PG_ONLY_INDEXES |= {"ix_catalog_items_source_path"}  # 0019


def include_object(obj, name, type_, *_):
    if type_ == "table" and str(name).startswith("subtitle_cues_fts"):
        return False  # SQLite's FTS5 table and its shadow tables (0014)
    if type_ == "column" and name == "tsv":
        return False  # PostgreSQL's generated tsvector of subtitle_cues (0014)
    return not (type_ == "index" and name in PG_ONLY_INDEXES)


def test_models_and_migrations_agree(settings):
    with get_engine(settings.database_url).connect() as connection:
        opts = {"compare_type": True, "include_object": include_object}
        context = MigrationContext.configure(connection, opts=opts)
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
