"""Downloads: a URL or catalog item fetched to DOWNLOAD_DIR (Drive, direct links, yt-dlp), its
state, its files, and the events it sends. Imports base, jobs, google, media, catalog and notify.

This entry point only re-exports what callers use as `downloads.X`: the service and the files.
"""

from core.downloads.files import file_of, hash_file, partial_dir, remove_partials, safe_name
from core.downloads.service import (
    cancel,
    create,
    dedupe_key,
    drive_file_id,
    drive_url,
    get,
    latest_for_items,
    list_downloads,
    protect,
    retry,
    send,
)
from core.downloads.state import ACTIVE, DEDUPED, STATES, DownloadState

__all__ = [
    "ACTIVE",
    "DEDUPED",
    "STATES",
    "DownloadState",
    "cancel",
    "create",
    "dedupe_key",
    "drive_file_id",
    "drive_url",
    "file_of",
    "get",
    "hash_file",
    "latest_for_items",
    "list_downloads",
    "partial_dir",
    "protect",
    "remove_partials",
    "retry",
    "safe_name",
    "send",
]
