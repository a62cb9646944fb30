"""The download schedule's one row: what PATCH /api/settings/downloads changed at runtime."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer
from sqlalchemy.orm import Mapped, mapped_column

from core.base.models import Base, utcnow


class DownloadSchedule(Base):
    """Pause, windows, rate and concurrency; absent until first changed (the settings rule)."""

    __tablename__ = "download_schedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    windows: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rate_limit_bps: Mapped[int | None] = mapped_column(BigInteger, default=None)
    concurrency: Mapped[int] = mapped_column(Integer, default=2)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
