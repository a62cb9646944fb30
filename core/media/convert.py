"""Conversion to a playable MP4 (CONTRACT 8.4): remux or transcode with ffmpeg, bounded, into the
converted-file cache under DATA_DIR, kept within CONVERTED_CACHE_BYTES (least recently played
out first, on every insert)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from core.base.db import Database
from core.base.models import utcnow
from core.base.settings import Settings
from core.media import ffmpeg
from core.media.facts import Playable
from core.media.models import ConvertedFile

log = logging.getLogger(__name__)

# Audio an MP4 holds as it is; anything else (Vorbis, PCM, AC-3...) becomes AAC even in a remux.
MP4_AUDIO = frozenset({"aac", "mp3", "opus"})
TRANSCODE_VIDEO = [
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
    "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
]  # fmt: skip
AAC = ["-c:a", "aac", "-b:a", "128k"]


@dataclass(frozen=True)
class Source:
    """The local file an item plays, what names its version, and its media block."""

    path: Path
    key: str  # changes whenever the file does (size and mtime, or a download's checksum)
    media: dict[str, Any] | None


def cache_dir(settings: Settings) -> Path:
    """Where converted files live."""
    return settings.data_dir / "converted"


def mode_for(media: dict[str, Any] | None) -> Playable:
    """Remux when the codecs are browser codecs, else transcode."""
    if media and media.get("playable") == Playable.REMUX and not media.get("error"):
        return Playable.REMUX
    return Playable.TRANSCODE


def arguments(
    source: Path, target: Path, mode: Playable, media: dict[str, Any] | None
) -> list[str]:
    """ffmpeg's input and output options for `mode` (subtitles and data streams left out)."""
    audio = (media or {}).get("audio_codec")
    if mode == Playable.REMUX:
        codecs = ["-c:v", "copy", *(["-c:a", "copy"] if audio in MP4_AUDIO else AAC)]
    else:
        codecs = [*TRANSCODE_VIDEO, *AAC]
    inputs = ["-i", str(source)]
    outputs = ["-map", "0:v:0?", "-map", "0:a:0?", "-sn", "-dn", *codecs]
    outputs += ["-movflags", "+faststart", "-f", "mp4", "-y", str(target)]
    return ffmpeg.command(inputs, outputs)


Progress = Callable[[int, int | None, str], object]
TOUCH_EVERY_S = 60


def convert(
    settings: Settings,
    db: Database,
    item_id: int,
    source: Source,
    duration_s: float | None,
    on_progress: Progress,
    should_stop: ffmpeg.StopCheck | None = None,
) -> dict[str, Any]:
    """Convert `source` into the cache as item `item_id`'s playable MP4; idempotent (a cached
    file of the same source is kept). MediaError when ffmpeg fails or outruns its limits."""
    found = lookup(settings, db, item_id, source.key, touch=False)
    if found is not None:
        return {"mode": "cached", "size_bytes": found.stat().st_size}
    mode = mode_for(source.media)
    folder = cache_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".partial-{item_id}-{uuid.uuid4().hex}.mp4"

    def progress(seconds: float) -> None:
        if duration_s:
            percent = min(99, int(seconds * 100 / duration_s))
            on_progress(percent, 100, f"{mode}: {percent}%")

    on_progress(0, 100, f"{mode}: starting")
    try:
        argv = arguments(source.path, partial, mode, source.media)
        ffmpeg.run(argv, ffmpeg.Limits.from_settings(settings), progress, should_stop)
        size = partial.stat().st_size
        name = f"{item_id}-{hashlib.sha256(source.key.encode()).hexdigest()[:16]}.mp4"
        os.replace(partial, folder / name)
    finally:
        partial.unlink(missing_ok=True)
    _store(settings, db, item_id, source.key, name, size, str(mode))
    evicted = evict(settings, db, keep=item_id) + sweep(settings, db)
    on_progress(100, 100, f"{mode}: done")
    return {"mode": str(mode), "size_bytes": size, "evicted": evicted}


def _store(
    settings: Settings, db: Database, item_id: int, key: str, name: str, size: int, mode: str
) -> None:
    with db.session() as session:
        row = session.get(ConvertedFile, item_id)
        old = row.file_name if row is not None and row.file_name != name else None
        if row is None:
            row = ConvertedFile(item_id=item_id)
            session.add(row)
        row.source_key, row.file_name, row.size_bytes, row.mode = key, name, size, mode
        row.created_at = row.last_played_at = utcnow()
    if old:  # the conversion of an older version of the original
        (cache_dir(settings) / old).unlink(missing_ok=True)


def lookup(
    settings: Settings, db: Database, item_id: int, key: str, *, touch: bool = True
) -> Path | None:
    """The cached MP4 of item `item_id` converted from the source named `key`, if it exists;
    `touch` marks it played now (what eviction orders by)."""
    with db.session() as session:
        row = session.get(ConvertedFile, item_id)
        if row is None or row.source_key != key:
            return None
        path = cache_dir(settings) / row.file_name
        if not path.is_file():
            session.delete(row)  # gone behind our back: convert again
            return None
        if touch:  # once a minute at most: a player sends a range request per seek
            now = utcnow()
            session.execute(
                update(ConvertedFile)
                .where(
                    ConvertedFile.item_id == item_id,
                    ConvertedFile.last_played_at < now - timedelta(seconds=TOUCH_EVERY_S),
                )
                .values(last_played_at=now)
            )
        return path


def sweep(settings: Settings, db: Database) -> int:
    """Remove what no row names: partial files of conversions that died (older than the time
    limit) and finished files whose row went (older than an hour); returns how many went."""
    folder = cache_dir(settings)
    if not folder.is_dir():
        return 0
    with db.session() as session:
        named = set(session.scalars(select(ConvertedFile.file_name)))
    now, gone = time.time(), 0
    for path in folder.iterdir():
        partial = path.name.startswith(".partial-")
        age = settings.media_time_limit_s + 60 if partial else 3600
        if path.name in named or not path.is_file() or now - path.stat().st_mtime < age:
            continue
        path.unlink(missing_ok=True)
        gone += 1
    return gone


def evict(settings: Settings, db: Database, keep: int | None = None) -> int:
    """Remove converted files, least recently played first, until the cache fits
    CONVERTED_CACHE_BYTES (`keep`, the one just made, goes last); returns how many went."""
    cap = settings.converted_cache_bytes
    with db.session() as session:
        rows = list(session.execute(
            select(ConvertedFile.item_id, ConvertedFile.file_name, ConvertedFile.size_bytes)
            .order_by(ConvertedFile.last_played_at, ConvertedFile.item_id)
        ))  # fmt: skip
    total = sum(row.size_bytes for row in rows)
    ordered = [row for row in rows if row.item_id != keep]
    ordered += [row for row in rows if row.item_id == keep]
    gone = 0
    for row in ordered:
        if total <= cap:
            break
        with db.session() as session:
            found = session.get(ConvertedFile, row.item_id)
            if found is None or found.file_name != row.file_name:
                continue  # converted again meanwhile
            session.delete(found)
        (cache_dir(settings) / row.file_name).unlink(missing_ok=True)
        total -= row.size_bytes
        gone += 1
    return gone
