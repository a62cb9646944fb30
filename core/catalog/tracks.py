"""An item's subtitle tracks and chapters: written as sources are indexed, read for the API."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from core.base.db import Database
from core.catalog.models import Chapter, Subtitle, SubtitleCue
from core.media import tracks as inside
from core.media.subtitles import Cue, language_label

log = logging.getLogger(__name__)
CUE_BATCH = 1000


class TrackSource:
    SIDECAR = "sidecar"
    EMBEDDED = "embedded"
    DOWNLOAD = "download"


@dataclass(frozen=True)
class Track:
    """A subtitle track to store: where it came from and its cues."""

    source: str
    origin: str
    fingerprint: str
    language: str
    cues: list[Cue]
    label: str | None = None


def label_of(track: Track) -> str:
    """What the language menu shows: the language's name, and how the track came."""
    name = track.label or language_label(track.language)
    return {TrackSource.EMBEDDED: f"{name} (in the file)"}.get(track.source, name)[:200]


def put_track(session: Session, item_id: int, track: Track) -> int:
    """Replace the item's track of the same origin with `track` (and its cues); its id."""
    session.execute(
        delete(Subtitle).where(Subtitle.item_id == item_id, Subtitle.origin == track.origin)
    )
    row = Subtitle(
        item_id=item_id, source=track.source, origin=track.origin[:1024],
        fingerprint=track.fingerprint, language=track.language, label=label_of(track),
    )  # fmt: skip
    session.add(row)
    session.flush()
    values = [
        {"subtitle_id": row.id, "item_id": item_id, "start_s": c.start_s, "end_s": c.end_s,
         "markup": c.markup, "text": c.text}
        for c in track.cues
    ]  # fmt: skip
    for start in range(0, len(values), CUE_BATCH):
        session.execute(insert(SubtitleCue), values[start : start + CUE_BATCH])
    return row.id


def drop_tracks(session: Session, item_id: int, origins: Iterable[str]) -> None:
    """Remove these tracks of an item (their cues go with them)."""
    chosen = list(origins)
    if chosen:
        session.execute(
            delete(Subtitle).where(Subtitle.item_id == item_id, Subtitle.origin.in_(chosen))
        )


def put_chapters(session: Session, item_id: int, marks: list[inside.ChapterMark]) -> None:
    """Replace the item's chapters."""
    session.execute(delete(Chapter).where(Chapter.item_id == item_id))
    for position, mark in enumerate(marks):
        session.add(
            Chapter(item_id=item_id, position=position, title=mark.title,
                    start_s=mark.start_s, end_s=mark.end_s)
        )  # fmt: skip


@dataclass(frozen=True)
class Inside:
    """What a file holds: its text subtitle streams (as tracks) and its chapters."""

    tracks: list[Track]
    chapters: list[inside.ChapterMark]


def read_inside(path: Path) -> Inside:
    """The subtitle streams and chapters inside a file (PyAV, ffmpeg: outside transactions)."""
    found = inside.look_inside(path)
    read = [
        Track(TrackSource.EMBEDDED, f"stream:{s.index}", "", s.language, inside.extract(path, s),
              s.title)
        for s in found.streams
    ]  # fmt: skip
    return Inside([t for t in read if t.cues], found.chapters)  # an empty stream is no track


def put_inside(session: Session, item_id: int, found: Inside) -> None:
    """Replace the item's embedded tracks and chapters with what `read_inside` found."""
    stored = session.scalars(
        select(Subtitle.origin).where(
            Subtitle.item_id == item_id, Subtitle.source == TrackSource.EMBEDDED
        )
    ).all()
    drop_tracks(session, item_id, set(stored) - {t.origin for t in found.tracks})
    for track in found.tracks:
        put_track(session, item_id, track)
    put_chapters(session, item_id, found.chapters)


def index_inside(db: Database, item_id: int, path: Path) -> None:
    """The subtitle streams and chapters inside an item's file, replacing what was stored."""
    found = read_inside(path)
    with db.session() as session:
        put_inside(session, item_id, found)


def subtitles_for(db: Database, item_ids: list[int]) -> dict[int, list[Subtitle]]:
    """Each item's subtitle tracks, sidecars first, then by language."""
    if not item_ids:
        return {}
    order = {TrackSource.SIDECAR: 0, TrackSource.DOWNLOAD: 1, TrackSource.EMBEDDED: 2}
    found: dict[int, list[Subtitle]] = {}
    with db.session() as session:
        rows = session.scalars(select(Subtitle).where(Subtitle.item_id.in_(item_ids))).all()
    for row in sorted(rows, key=lambda r: (order.get(r.source, 3), r.language, r.id)):
        found.setdefault(row.item_id, []).append(row)
    return found


def chapters_for(db: Database, item_ids: list[int]) -> dict[int, list[Chapter]]:
    """Each item's chapters in order."""
    if not item_ids:
        return {}
    found: dict[int, list[Chapter]] = {}
    with db.session() as session:
        rows = session.scalars(
            select(Chapter)
            .where(Chapter.item_id.in_(item_ids))
            .order_by(Chapter.item_id, Chapter.position)
        ).all()
    for row in rows:
        found.setdefault(row.item_id, []).append(row)
    return found


def webvtt_of(db: Database, item_id: int, subtitle_id: int) -> str | None:
    """The track as a WebVTT document, or None if the item has no such track."""
    from core.media.subtitles import webvtt

    with db.session() as session:
        track = session.get(Subtitle, subtitle_id)
        if track is None or track.item_id != item_id:
            return None
        rows = session.execute(
            select(SubtitleCue.start_s, SubtitleCue.end_s, SubtitleCue.markup)
            .where(SubtitleCue.subtitle_id == subtitle_id)
            .order_by(SubtitleCue.id)
        ).all()
    return webvtt([(float(a), float(b), str(m)) for a, b, m in rows])
