"""Alembic environment: the URL and connection come from core.base.db.migrate or from settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from core.base import schedule_model as _schedule_model  # noqa: F401  # registers its table
from core.base.db import make_engine
from core.base.models import Base
from core.catalog import models as _track_models  # noqa: F401  # subtitles, cues, chapters
from core.catalog import reach as _reach  # noqa: F401  # registers catalog_reach
from core.catalog.courses import models as _course_models  # noqa: F401  # courses, progress
from core.media import models as _media_models  # noqa: F401  # registers the converted files
from core.people import models as _people_models  # noqa: F401  # registers the people tables

PG_ONLY_INDEXES = frozenset({"ix_catalog_items_title_trgm", "ix_subtitle_cues_tsv"})
config = context.config
target_metadata = Base.metadata


def include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
    """Leave out of autogenerate what the models cannot describe (PostgreSQL-only indexes)."""
    if type_ == "table" and str(name).startswith("subtitle_cues_fts"):
        return False  # SQLite's FTS5 table of cues and its shadow tables (migration 0014)
    if type_ == "column" and name == "tsv":
        return False  # PostgreSQL's generated tsvector of subtitle_cues (0014)
    return not (type_ == "index" and name in PG_ONLY_INDEXES)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the connection core.base.db.migrate passes in, or open one from the settings."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("database_url")
    if url is None:
        from core.base.settings import settings_or_exit

        url = settings_or_exit().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `python -m core migrate`")
run_migrations_online()
