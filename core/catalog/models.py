"""Tables of an item's tracks: subtitles, their cues (the searchable transcript), chapters, and
the Drive subtitle files they are read from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base.models import Base, utcnow

ID = BigInteger().with_variant(Integer(), "sqlite")
# Full-text search lives beside these tables, in what the models cannot describe: an FTS5 table
# (SQLite), a generated tsvector column with a GIN index (PostgreSQL), made by migration 0014.
FTS_TABLE = "subtitle_cues_fts"
PG_FTS_INDEX = "ix_subtitle_cues_tsv"
PG_TSV_COLUMN = "tsv"


class Subtitle(Base):
    """One subtitle track of an item: a sidecar file, a stream inside it, or a download's."""

    __tablename__ = "subtitles"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("catalog_items.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # sidecar | embedded | download
    # Where it came from, unique per item: a sidecar's path or Drive id, "stream:N", a file.
    origin: Mapped[str] = mapped_column(String(1024))
    fingerprint: Mapped[str] = mapped_column(String(128), default="")  # unchanged: no reindex
    language: Mapped[str] = mapped_column(String(35))  # BCP 47, "und" when unknown
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("item_id", "origin", name="uq_subtitles_item_origin"),)


class SubtitleCue(Base):
    """One cue: its times, its WebVTT payload (already made safe) and its plain text (searched)."""

    __tablename__ = "subtitle_cues"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    subtitle_id: Mapped[int] = mapped_column(ForeignKey("subtitles.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ID)  # denormalized: search joins items, not subtitles
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    markup: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_subtitle_cues_subtitle", "subtitle_id", "id"),
        Index("ix_subtitle_cues_item", "item_id", "id"),  # search within a course's items
    )


class Chapter(Base):
    """A chapter of an item, from its container or from yt-dlp's metadata."""

    __tablename__ = "item_chapters"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("catalog_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_item_chapters_item", "item_id", "position"),)


class CatalogSidecar(Base):
    """A subtitle file in an indexed folder: no item (CONTRACT 8.4), yet a child the folder's
    listing shows as Drive does (section 4); its track lives as long as this row."""

    __tablename__ = "catalog_sidecars"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(1024))
    folder_id: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(1024))
    mime_type: Mapped[str | None] = mapped_column(String(255), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    modified_at: Mapped[datetime | None] = mapped_column(default=None)
    thumbnail_link: Mapped[str | None] = mapped_column(String(2048), default=None)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_catalog_sidecars_source"),
        Index("ix_catalog_sidecars_folder", "source", "folder_id", "name", "id"),
    )
