"""A download's subtitles and chapters: yt-dlp's files beside the video, and what it holds."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalog import tracks
from core.catalog.local_tracks import is_subtitle
from core.catalog.models import Subtitle
from core.media.subtitles import MAX_SUBTITLE_BYTES, UNDETERMINED, language_tag, parse

log = logging.getLogger(__name__)


def _beside(video: Path) -> list[Path]:
    """Subtitle files named `<video stem>.<language>.<ext>` in the video's folder."""
    try:
        names = os.listdir(video.parent)
    except OSError:
        return []
    prefix = video.stem + "."
    return sorted(
        video.parent / name for name in names if name.startswith(prefix) and is_subtitle(name)
    )


def move_beside(staged: Path, final: Path) -> None:
    """Move the subtitle files beside a staged video to beside its final name."""
    for path in _beside(staged):
        rest = path.name[len(staged.stem) :]
        os.replace(path, final.with_name(final.stem + rest))


@dataclass(frozen=True)
class Found:
    """A finished file's tracks, read before the transaction that records it."""

    downloaded: list[tracks.Track]
    inside: tracks.Inside


def read(video: Path) -> Found:
    """The subtitle files yt-dlp left beside `video` and what the file holds (slow: no
    transaction open)."""
    found = []
    for path in _beside(video):
        language = path.name[len(video.stem) + 1 :].rsplit(".", 1)[0]
        tag = language_tag(language.split("-orig")[0]) if language else UNDETERMINED
        try:
            data = path.read_bytes()[: MAX_SUBTITLE_BYTES + 1]
        except OSError:
            continue
        cues = parse(data, path.suffix)
        if cues:
            found.append(tracks.Track(tracks.TrackSource.DOWNLOAD, f"download:{path.name}", "",
                                      tag, cues))  # fmt: skip
    return Found(found, tracks.read_inside(video))


def write(session: Session, item_id: int | None, found: Found) -> None:
    """Record `found` as the item's tracks and chapters, in the download's own transaction (so
    the item has them once the download shows succeeded); an earlier download's go."""
    if item_id is None:
        return
    stored = session.scalars(
        select(Subtitle.origin).where(
            Subtitle.item_id == item_id, Subtitle.source == tracks.TrackSource.DOWNLOAD
        )
    ).all()
    tracks.drop_tracks(session, item_id, set(stored) - {t.origin for t in found.downloaded})
    for track in found.downloaded:
        tracks.put_track(session, item_id, track)
    tracks.put_inside(session, item_id, found.inside)
