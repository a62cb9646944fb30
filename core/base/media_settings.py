"""The settings of media conversion and subtitles (CONTRACT 8.4)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class MediaSettings(BaseSettings):
    """The converted MP4s' cache, AUTO_CONVERT, and the bounds of every ffmpeg run."""

    converted_cache_bytes: int = Field(10 * 1024**3, ge=0)
    auto_convert: bool = False
    media_time_limit_s: int = Field(3 * 3600, ge=1)  # wall clock per ffmpeg run
    media_cpu_limit_s: int = Field(6 * 3600, ge=1)  # RLIMIT_CPU: all of ffmpeg's threads together
    media_memory_mb: int = Field(4096, ge=64)  # RLIMIT_AS of ffmpeg
