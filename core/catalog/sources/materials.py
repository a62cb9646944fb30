"""Classroom materials as catalog rows, and whether a Drive material is a video."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.base.db import Database
from core.base.errors import NotFound, UpstreamRefused
from core.base.models import CatalogItem
from core.base.sources import Source
from core.google.drive import DriveClient
from core.google.timestamps import parse_timestamp

log = logging.getLogger(__name__)
Row = dict[str, Any]
SOURCE = Source.CLASSROOM
YOUTUBE_MIME = "video/youtube"  # not a registered type: marks a video fetched by yt-dlp
DRIVE_INFO = ("mime_type", "size_bytes", "duration_s", "checksum", "thumbnail_link")


def _base_row(post: dict[str, Any], course_id: str, seen: datetime, kind: str) -> Row:
    return {
        "source": SOURCE,
        "course_id": course_id,
        "modified_at": parse_timestamp(post.get("updateTime")),
        "seen_at": seen,
        "extra": {
            "kind": kind, "coursework_id": post.get("id"), "course_ids": [course_id],
            # The course page's order and sections: oldest first, under the post's topic.
            "created": post.get("creationTime"), "topic_ids": {course_id: post.get("topicId")},
        },
    }  # fmt: skip


def _drive_row(material: dict[str, Any], base: Row) -> Row | None:
    shared = material["driveFile"] or {}
    file = shared.get("driveFile") or {}
    file_id = file.get("id")
    if not file_id:
        return None
    link = file.get("alternateLink") or f"https://drive.google.com/open?id={file_id}"
    base["extra"].update(
        drive_file_id=file_id,
        share_mode=shared.get("shareMode"),
        thumbnail_url=file.get("thumbnailUrl"),
    )
    return {**base, "source_id": file_id, "title": file.get("title") or file_id, "url": link,
            "thumbnail_link": file.get("thumbnailUrl")}  # fmt: skip


def _youtube_row(material: dict[str, Any], base: Row) -> Row | None:
    video = material["youtubeVideo"] or {}
    video_id = video.get("id")
    link = video.get("alternateLink") or (
        f"https://www.youtube.com/watch?v={video_id}" if video_id else None
    )
    if not link:
        return None
    base["extra"].update(youtube_id=video_id, thumbnail_url=video.get("thumbnailUrl"))
    return {**base, "source_id": link, "title": video.get("title") or link, "url": link,
            "mime_type": YOUTUBE_MIME, "is_video": True,
            "thumbnail_link": video.get("thumbnailUrl")}  # fmt: skip


def _link_row(material: dict[str, Any], base: Row) -> Row | None:
    entry = material["link"] or {}
    target = entry.get("url")
    if not target:
        return None
    base["extra"]["thumbnail_url"] = entry.get("thumbnailUrl")
    return {**base, "source_id": target, "title": entry.get("title") or target, "url": target,
            "is_video": False}  # fmt: skip


BUILDERS: dict[str, Callable[[dict[str, Any], Row], Row | None]] = {
    "driveFile": _drive_row,
    "youtubeVideo": _youtube_row,
    "link": _link_row,
}


def material_row(
    material: dict[str, Any], post: dict[str, Any], course_id: str, seen: datetime
) -> Row | None:
    """The catalog row of one Material; None for forms and anything without an address."""
    for kind, build in BUILDERS.items():
        if kind in material:
            return build(material, _base_row(post, course_id, seen, kind))
    return None


# ---------------------------------------------------------------- is a Drive material a video?


def _known_drive(db: Database, file_ids: list[str]) -> dict[str, Row]:
    """What the catalog already knows of these Drive files: the Drive index first, then what an
    earlier Classroom sync learnt from Drive (its checksum aside, which may be stale)."""
    known: dict[str, Row] = {}
    with db.session() as session:
        for source in (Source.DRIVE, SOURCE):
            items = session.scalars(
                select(CatalogItem).where(
                    CatalogItem.source == source,
                    CatalogItem.source_id.in_(file_ids),
                    CatalogItem.mime_type.is_not(None),
                )
            )
            for item in items:
                info = {key: getattr(item, key) for key in DRIVE_INFO}
                if source == SOURCE:
                    info["checksum"] = None
                known.setdefault(item.source_id, info)
    return known


def _ask_drive(drive: DriveClient, file_id: str) -> Row:
    try:
        entry = drive.get_file(file_id)
    except (NotFound, UpstreamRefused) as error:
        drive.auth.token()  # raises if the credentials themselves were refused: all stop
        log.info("Drive file of a Classroom material is out of reach: %s", error.message)
        return {}
    millis = (entry.get("videoMediaMetadata") or {}).get("durationMillis")
    return {
        "mime_type": entry.get("mimeType"),
        "size_bytes": int(entry["size"]) if entry.get("size") else None,
        "duration_s": int(millis) / 1000 if millis else None,
        "checksum": entry.get("md5Checksum"),
        "thumbnail_link": entry.get("thumbnailLink"),
    }


def resolve_drive_files(db: Database, drive: DriveClient, rows: list[Row]) -> int:
    """Fill in type, size and `is_video` of Drive materials; return how many Drive calls it took.

    A file the catalog knows costs nothing; any other costs one paced `files.get`. A file
    Drive will not show (404, refused) stays catalogued, as not a video.
    """
    pending = [row for row in rows if row["extra"]["kind"] == "driveFile"]
    known = _known_drive(db, [row["source_id"] for row in pending]) if pending else {}
    asked = 0
    for row in pending:
        info = known.get(row["source_id"])
        if info is None:
            info = _ask_drive(drive, row["source_id"])
            asked += 1
        row.update({key: value for key, value in info.items() if value is not None})
        row["is_video"] = (row.get("mime_type") or "").startswith("video/")
    return asked
