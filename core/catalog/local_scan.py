"""Local media roots: an incremental scan that stats every file and probes only what changed."""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.base.db import Database
from core.base.local_names import catalog_name, readable
from core.base.models import CatalogFolder, CatalogItem, utcnow
from core.base.services import Services
from core.base.sources import Source
from core.catalog import local_tracks
from core.catalog import store as catalog
from core.catalog.courses.discovery import discover_local
from core.media import facts
from core.media import probing as media

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None, str], object]
PROGRESS_EVERY = 200  # files between progress reports: the reporter throttles, but calls cost
# Files catalogued beside the videos as course attachments (CONTRACT 8.3), by extension.
_ATTACHMENTS = "pdf ppt pptx pps ppsx key odp doc docx odt rtf xls xlsx ods csv epub zip"
ATTACHMENT_EXTENSIONS = frozenset(f".{ext}" for ext in _ATTACHMENTS.split(" "))


@dataclass(frozen=True)
class Seen:
    """A regular file found under a root: what a stat says of it, no byte read."""

    root: Path
    path: str  # absolute, as os.scandir gave it
    rel: str  # relative to its root, with forward slashes, in text form: the item's source_id
    size: int
    mtime_ns: int

    @property
    def root_text(self) -> str:
        """The root as items and courses name it (text form: a root may be named in Latin-1)."""
        return catalog_name(str(self.root))


def _inside(root: str, path: str) -> bool:
    try:
        return os.path.commonpath([root, os.path.realpath(path)]) == root
    except ValueError:
        return False


def _unread(path: str, error: OSError) -> None:
    """Say which file or folder the rescan left out, and why (its name in text form: a log
    line must encode whatever the name)."""
    log.warning("not indexed: %s (%s)", catalog_name(path), error.strerror or type(error).__name__)


def scan(root: Path) -> Iterator[Seen]:
    """Regular files under `root` (dot names skipped, symlinks out of it ignored), sorted by
    path; one os.scandir per folder and one stat per file, never a read."""
    base = str(root.resolve())
    stack = [(base, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            _unread(folder, error)
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                linked = entry.is_symlink()
                if linked and not _inside(base, entry.path):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append((entry.path, f"{prefix}{catalog_name(entry.name)}/"))
                elif entry.is_file():
                    stat = entry.stat()
                    rel = prefix + catalog_name(entry.name)
                    yield Seen(root, entry.path, rel, stat.st_size, stat.st_mtime_ns)
            except OSError as error:
                _unread(entry.path, error)
                continue
        stack.extend(reversed(subfolders))  # popped in name order


Known = dict[str, tuple[int | None, int | None, str | None]]


def _known(db: Database) -> Known:
    """source_id -> (size, mtime_ns, root) of every local item: one Core query (no ORM rows)."""
    with db.engine.connect() as connection:
        # An item never probed for its media block (indexed before it existed) counts as changed.
        unprobed = CatalogItem.media.is_(None)
        rows = connection.execute(
            select(
                CatalogItem.source_id, CatalogItem.size_bytes, CatalogItem.extra, unprobed
            ).where(CatalogItem.source == Source.LOCAL)
        )
        return {
            sid: (None if old else size, (extra or {}).get("mtime_ns"), (extra or {}).get("root"))
            for sid, size, extra, old in rows
        }


def _row(seen: Seen, mime: str, started: datetime) -> dict[str, Any]:
    """The catalog row of a new or changed video: the one place a file is probed."""
    folder = Path(seen.rel).parent.as_posix()
    probed, block = facts.inspect(Path(seen.path), mime)
    return {
        "source": Source.LOCAL, "source_id": seen.rel, "title": readable(Path(seen.rel).stem),
        "mime_type": mime, "is_video": True, "size_bytes": seen.size,
        "duration_s": probed.duration_s, "media": block,
        "modified_at": datetime.fromtimestamp(seen.mtime_ns / 1e9, UTC),
        "folder_id": "" if folder == "." else folder,
        "extra": {"root": seen.root_text, "mtime_ns": seen.mtime_ns}, "seen_at": started,
    }  # fmt: skip


def attachment_type(rel: str) -> str | None:
    """The media type of a file a course shows beside its lessons (slides, PDFs, worksheets),
    by its extension; None for anything else (subtitles, images, stray files)."""
    suffix = Path(rel).suffix.lower()
    if suffix not in ATTACHMENT_EXTENSIONS:
        return None
    return mimetypes.guess_type(rel)[0] or "application/octet-stream"


def _attachment_row(seen: Seen, mime: str, started: datetime) -> dict[str, Any]:
    """The catalog row of an attachment: never opened, never probed."""
    folder = seen.rel.rpartition("/")[0]
    return {
        "source": Source.LOCAL, "source_id": seen.rel, "title": readable(Path(seen.rel).name),
        "mime_type": mime, "is_video": False, "size_bytes": seen.size,
        "modified_at": datetime.fromtimestamp(seen.mtime_ns / 1e9, UTC), "folder_id": folder,
        "extra": {"root": seen.root_text, "mtime_ns": seen.mtime_ns}, "seen_at": started,
    }  # fmt: skip


def _folder_rows(folders: set[str], started: datetime) -> list[dict[str, Any]]:
    return [
        {
            "source": Source.LOCAL,
            "source_id": f,
            "name": readable(Path(f).name),
            "parent_id": Path(f).parent.as_posix() if "/" in f else "",
            "seen_at": started,
        }
        for f in sorted(folders)
    ]


def _sync_folders(session: Any, folders: set[str], started: datetime) -> None:
    stored = set(
        session.scalars(select(CatalogFolder.source_id).where(CatalogFolder.source == Source.LOCAL))
    )
    catalog.upsert_folders(session, _folder_rows(folders - stored, started))
    gone = stored - folders
    if gone:
        catalog.remove_folders(session, Source.LOCAL, gone)


def _take(
    seen: Seen,
    known: dict[str, Any],
    started: datetime,
    into: tuple[dict[str, Seen], list[dict[str, Any]], dict[str, Seen]],
) -> None:
    """Sort one scanned file into (current, changed, sidecars): a subtitle is a track of the
    video beside it; an unchanged file costs no read, probe or write; a new or changed video or
    document (slides, PDFs, worksheets: a course's attachments) is a row to write."""
    current, changed, sidecars = into
    if local_tracks.is_subtitle(seen.rel):
        sidecars.setdefault(seen.rel, seen)
        return
    if known.get(seen.rel) == (seen.size, seen.mtime_ns, seen.root_text):
        current[seen.rel] = seen
        return
    mime = media.video_type_cheap(Path(seen.path))
    if mime is not None:
        row = _row(seen, mime, started)
    else:
        document = attachment_type(seen.rel)
        if document is None:
            return
        row = _attachment_row(seen, document, started)
    current[seen.rel] = seen
    changed.append(row)


def rebuild_local(services: Services, on_progress: Progress | None = None) -> dict[str, int]:
    """Bring the local items in line with MEDIA_ROOTS: new and changed videos (by size, mtime and
    root) are probed and written, unchanged ones cost a stat and nothing else, vanished ones go.

    Idempotent; two runs at once write the same rows. Result: items now, changed (new or
    changed, each probed once), removed.
    """
    started = utcnow()
    known = _known(services.db)
    current: dict[str, Seen] = {}
    changed: list[dict[str, Any]] = []
    sidecars: dict[str, Seen] = {}  # subtitle files: tracks of the videos beside them
    count = 0
    for root in services.settings.media_roots:
        if not root.is_dir():
            continue
        for seen in scan(root):
            count += 1
            if on_progress is not None and count % PROGRESS_EVERY == 0:
                on_progress(count, None, f"looked at {count} files")
            if seen.rel not in current:  # the first root wins a name clash
                _take(seen, known, started, (current, changed, sidecars))
    folders = {rel.rpartition("/")[0] for rel in current} - {""}  # str ops: 10,000 Paths cost
    with services.db.session() as session:
        catalog.upsert_items(session, changed)
        removed = catalog.remove_ids(
            session, Source.LOCAL, [sid for sid in known if sid not in current]
        )
        _sync_folders(session, folders, started)
        discover_local(session)
        catalog.save_state(session, Source.LOCAL, last_rebuild_at=utcnow(), last_error=None)
    local_tracks.sync_local(services.db, current, sidecars, [row["source_id"] for row in changed])
    if on_progress is not None:
        on_progress(count, count, f"looked at {count} files, {len(changed)} new or changed")
    return {"items": len(current), "changed": len(changed), "removed": removed}
