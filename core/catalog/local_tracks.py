"""Subtitles and chapters of local items: sidecar files beside each video, tracks inside it."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from core.base.db import Database
from core.base.local_names import readable
from core.base.models import CatalogItem
from core.base.sources import Source
from core.catalog import tracks
from core.catalog.models import Subtitle
from core.media.subtitles import MAX_SUBTITLE_BYTES, SUBTITLE_FORMATS, parse, sidecar_language

log = logging.getLogger(__name__)


def is_subtitle(name: str) -> bool:
    """Whether a file name looks like a subtitle file (never an item of its own)."""
    return PurePosixPath(name).suffix.lower() in SUBTITLE_FORMATS


def match_sidecars(videos: list[str], sidecars: list[str]) -> dict[str, tuple[str, str]]:
    """sidecar path -> (video path, language), for sidecars with a video of their stem beside
    them (paths relative to a root, with forward slashes).

    A stem matches as catalogued first; failing that, as people read it (ADR 0008), so that
    `Aula \xe9.srt` in Latin-1 joins `Aula é.mp4` in UTF-8, when only one video there reads so."""
    stems: dict[str, dict[str, str]] = {}
    for rel in videos:
        folder, _, name = rel.rpartition("/")
        stems.setdefault(folder, {})[PurePosixPath(name).stem] = rel
    matched: dict[str, tuple[str, str]] = {}
    for rel in sidecars:
        folder, _, name = rel.rpartition("/")
        here = stems.get(folder) or {}
        found = sidecar_language(name, set(here))
        if found is not None:
            matched[rel] = (here[found[0]], found[1])
            continue
        read = _read_alike(here)
        found = sidecar_language(readable(name), set(read))
        if found is not None:
            matched[rel] = (read[found[0]], found[1])
    return matched


def _read_alike(stems: dict[str, str]) -> dict[str, str]:
    """Readable stem -> video path, for the stems no other video here reads the same as."""
    by_reading: dict[str, list[str]] = {}
    for stem, rel in stems.items():
        by_reading.setdefault(readable(stem), []).append(rel)
    return {reading: rels[0] for reading, rels in by_reading.items() if len(rels) == 1}


def _stored(db: Database) -> dict[tuple[int, str], str]:
    with db.session() as session:
        rows = session.execute(
            select(Subtitle.item_id, Subtitle.origin, Subtitle.fingerprint)
            .join(CatalogItem, CatalogItem.id == Subtitle.item_id)
            .where(
                CatalogItem.source == Source.LOCAL, Subtitle.source == tracks.TrackSource.SIDECAR
            )
        ).all()
    return {(item_id, origin): fingerprint for item_id, origin, fingerprint in rows}


def _ids(db: Database, rels: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    chosen = sorted(rels)
    with db.session() as session:
        for start in range(0, len(chosen), 500):
            rows = session.execute(
                select(CatalogItem.source_id, CatalogItem.id).where(
                    CatalogItem.source == Source.LOCAL,
                    CatalogItem.source_id.in_(chosen[start : start + 500]),
                )
            )
            found.update({sid: item_id for sid, item_id in rows})
    return found


def _read(path: str, size: int) -> bytes | None:
    if size > MAX_SUBTITLE_BYTES:
        log.info("sidecar %s skipped: %d bytes", Path(path).name, size)
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_SUBTITLE_BYTES + 1)
    except OSError:
        return None


def sync_local(db: Database, current: dict[str, Any], sidecars: dict[str, Any],
               changed: list[str]) -> dict[str, int]:  # fmt: skip
    """Bring local items' sidecar tracks in line with the files (`current`: video path -> Seen,
    `sidecars`: subtitle path -> Seen), and re-read the tracks and chapters inside the videos
    that `changed`. A sidecar is read only when new or changed (by size and mtime)."""
    matched = match_sidecars(list(current), list(sidecars))
    ids = _ids(db, {video for video, _ in matched.values()} | set(changed))
    stored = _stored(db)
    wanted: dict[tuple[int, str], str] = {}
    written = 0
    for rel, (video, language) in matched.items():
        seen, item_id = sidecars[rel], ids.get(video)
        if item_id is None:
            continue
        key, fingerprint = (item_id, rel), f"{seen.size}:{seen.mtime_ns}"
        if stored.get(key) == fingerprint:
            wanted[key] = fingerprint
            continue
        cues = parse(_read(seen.path, seen.size) or b"", PurePosixPath(rel).suffix)
        if not cues:
            continue  # too large, unreadable or empty: no track (read again if it changes)
        wanted[key] = fingerprint
        track = tracks.Track(tracks.TrackSource.SIDECAR, rel, fingerprint, language, cues)
        with db.session() as session:
            tracks.put_track(session, item_id, track)
        written += 1
    gone = [key for key in stored if key not in wanted]
    with db.session() as session:
        for item_id, origin in gone:
            tracks.drop_tracks(session, item_id, [origin])
    for rel in changed:
        if rel in ids:
            tracks.index_inside(db, ids[rel], Path(current[rel].path))
    return {"subtitles_written": written, "subtitles_removed": len(gone)}
