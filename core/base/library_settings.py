"""The settings of the library on disk and of when downloads run (CONTRACT 8.5)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from core.base import naming, schedule_values
from core.base import setting_values as values

DEFAULT_TEMPLATE = "{course}/{section}/{position:03d} - {title} [{id}].{ext}"


class LibrarySettings(BaseSettings):
    """DOWNLOAD_TEMPLATE, WRITE_NFO, the download schedule's defaults (the settings row of
    core.downloads.schedule overrides these at runtime once someone changes them), and
    COURSE_CACHE_SIZE."""

    download_template: str = DEFAULT_TEMPLATE
    write_nfo: bool = False
    # "01:00-07:00,22:00-23:30" in local time (TZ); empty: any time.
    download_windows: Annotated[list[str], NoDecode] = Field(default_factory=list)
    download_rate_limit: int | None = None  # bytes per second per download; empty: none
    download_concurrency: int = Field(2, ge=1, le=64)  # cluster-wide running downloads
    # Course pages kept per web process, the part that is the same for everyone (and 64 times as
    # many list summaries: api/course_cache.py); 0: off.
    course_cache_size: int = Field(8, ge=0, le=1000)

    @field_validator("download_windows", mode="before")
    @classmethod
    def _windows(cls, value: Any) -> Any:
        return schedule_values.check_windows(values.split(value, ","))

    @field_validator("download_rate_limit", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        return schedule_values.rate(value)

    @field_validator("download_template")
    @classmethod
    def _template(cls, value: str) -> str:
        naming.check(value)  # a ValueError naming what is wrong with it
        return value
