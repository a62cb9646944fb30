"""Where catalog items, folders, sync states and subscriptions come from: one name per source."""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """A source of the catalog (stored as its value in the `source` columns)."""

    LOCAL = "local"  # files under MEDIA_ROOTS
    DRIVE = "drive"  # Google Drive files under DRIVE_FOLDER_IDS
    CLASSROOM = "classroom"  # Google Classroom course materials
    DOWNLOAD = "download"  # finished downloads, once catalogued
