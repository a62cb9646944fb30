"""Kodi/Jellyfin metadata beside finished downloads (WRITE_NFO, CONTRACT 8.5): an episode .nfo
per video, and per course folder tvshow.nfo (its sections as named seasons) and poster.jpg.

Built with xml.etree, so every value is escaped; written to a temporary name and renamed, so a
media server never reads half a file; tvshow.nfo is merged under a Redis lock, since two
downloads of one course may finish at once."""

from __future__ import annotations

import hashlib
import logging
import os
import xml.etree.ElementTree as ET  # nosec B405  # we build and re-read only our own files
from pathlib import Path, PurePosixPath

from core.base import naming
from core.base.locks import redis_lock
from core.base.models import Download
from core.base.services import Services
from core.catalog import thumbnails
from core.downloads import library
from core.media import probing

log = logging.getLogger(__name__)
POSTER_WIDTH = 600


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _text(parent: ET.Element, tag: str, value: object) -> None:
    if value is not None and value != "":
        ET.SubElement(parent, tag).text = str(value)


def episode(named: library.Named, download: Download) -> bytes:
    """The episode's .nfo: title, plot, aired, show = course, season, episode."""
    root = ET.Element("episodedetails")
    _text(root, "title", named.values["title"])
    _text(root, "showtitle", named.place.course)
    _text(root, "season", named.place.season)
    _text(root, "episode", named.place.position)
    item = named.item
    plot = (item.extra or {}).get("description") if item is not None else None
    _text(root, "plot", plot or (named.place.section or ""))
    stamp = (item.modified_at if item is not None else None) or download.finished_at
    _text(root, "aired", stamp.date().isoformat() if stamp else None)
    _text(root, "uniqueid", named.values["id"])
    return _xml(root)


def show(existing: bytes | None, course: str, seasons: dict[int, str]) -> bytes:
    """tvshow.nfo for `course`, its named seasons merged with those it had."""
    named: dict[int, str] = {}
    if existing:
        try:
            old = ET.fromstring(existing)  # noqa: S314  # nosec B314  # our own file, written here
            for season in old.iter("namedseason"):
                named[int(season.get("number") or 0)] = season.text or ""
        except (ET.ParseError, ValueError):
            log.warning("tvshow.nfo of %s was unreadable; written anew", course)
    named.update(seasons)
    root = ET.Element("tvshow")
    _text(root, "title", course)
    for number in sorted(named):
        ET.SubElement(root, "namedseason", number=str(number)).text = named[number]
    return _xml(root)


def course_folder(root: Path, template: str, values: dict[str, object]) -> Path | None:
    """The folder the template's course part names, or None when the name has no course."""
    if not values.get("course"):
        return None
    parts = naming.parse_template(template)
    for index, part in enumerate(parts[:-1]):
        if "{course" in part:
            rendered = naming.render("/".join(parts[: index + 1]) + "/{id}", values)
            return root / PurePosixPath(*rendered.parts[:-1])
    return None


def _poster(services: Services, named: library.Named, video: Path, folder: Path) -> None:
    poster = folder / "poster.jpg"
    if poster.exists():
        return
    data = None
    if named.item is not None:
        try:
            cached = thumbnails.item_thumbnail(services, named.item)
            head = cached.read_bytes()
            data = head if head.startswith(b"\xff\xd8") else None
        except Exception as error:  # no thumbnail, Drive unreachable: a frame of the file
            log.info("no catalog thumbnail for the poster: %s", type(error).__name__)
    data = data or probing.thumbnail_jpeg(video, width=POSTER_WIDTH)
    if data:
        _write(poster, data)


def write_for(services: Services, download_id: int) -> None:
    """The .nfo of a finished download, and its course folder's tvshow.nfo and poster.jpg."""
    settings = services.settings
    with services.db.session() as session:
        download = session.get_one(Download, download_id)
        if not download.file_path:
            return
        video = settings.download_dir / download.file_path
        named = library.describe(session, settings, download, video.suffix)
        session.expunge_all()
    _write(video.with_suffix(".nfo"), episode(named, download))
    folder = course_folder(settings.download_dir, named.template, named.values)
    if folder is None or not video.is_relative_to(folder):
        return
    seasons = {named.place.season: named.place.section} if named.place.section else {}
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:32]
    with redis_lock(services.redis(), f"nfo:{key}", 30, wait_s=10):
        tvshow = folder / "tvshow.nfo"
        existing = tvshow.read_bytes() if tvshow.exists() else None
        _write(tvshow, show(existing, str(named.place.course), seasons))
    _poster(services, named, video, folder)
