"""The converted-file cache's table: one playable MP4 per catalog item."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.base.models import Base, utcnow

ID = BigInteger().with_variant(Integer(), "sqlite")


class ConvertedFile(Base):
    """An item's converted MP4 under DATA_DIR/converted; `source_key` names the original it was
    made from, so a changed original is converted again rather than served stale."""

    __tablename__ = "converted_files"

    item_id: Mapped[int] = mapped_column(
        ID, ForeignKey("catalog_items.id", ondelete="CASCADE"), primary_key=True
    )
    source_key: Mapped[str] = mapped_column(String(256))
    file_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(16))  # "remux" or "transcode"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_played_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_converted_files_played", "last_played_at"),)
