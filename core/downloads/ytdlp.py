"""The yt-dlp runner: its Python API behind a connect-time SSRF guard, with progress and cancel."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.base.children import kill_children
from core.base.errors import (
    TransientError,
)
from core.base.netguard import ForbiddenAddress, Guard, Policy
from core.downloads.engine import Fetched, FetchJob, Staged
from core.downloads.files import hash_file
from core.downloads.progress import Canceled, Progress
from core.downloads.ytdlp_errors import classify
from core.downloads.ytdlp_guard import guard_ytdlp_connections

__all__ = [
    "Canceled", "ForbiddenAddress", "Guard", "Policy", "YtdlpEngine", "ffmpeg_path",
    "guard_ytdlp_connections", "kill_children", "run_ytdlp",
]  # fmt: skip
log = logging.getLogger(__name__)


@dataclass
class _Tracker:
    """Turns yt-dlp's per-file hook calls into one rising figure across all files of a download."""

    on_progress: Progress
    done: int = 0
    ratio: float = 0.0
    stopped: bool = False
    finished: dict[str, int] = field(default_factory=dict)

    def hook(self, status: dict[str, Any]) -> None:
        name = str(status.get("filename") or "")
        if status.get("status") == "finished":
            size = status.get("total_bytes") or status.get("downloaded_bytes")
            self.finished[name] = int(size or 0)
        if status.get("status") != "downloading":
            return
        before = sum(size for other, size in self.finished.items() if other != name)
        known = status.get("total_bytes") or status.get("total_bytes_estimate")
        total = before + int(known) if known else None
        expected = _expected_size(status.get("info_dict") or {})
        if expected and (total is None or expected > total):
            total = expected
        done = before + int(status.get("downloaded_bytes") or 0)
        self.report(done, total, status.get("speed"), status.get("eta"))

    def report(self, done: int, total: int | None, speed: Any, eta: Any) -> None:
        done = max(done, self.done)
        if total is not None:
            total = max(total, done)
            if total and done / total < self.ratio:  # a grown estimate must not lower the percent
                total = max(done, int(done / self.ratio))
            self.ratio = done / total if total else 0.0
        self.done = done
        speed_bps = float(speed) if speed is not None else None
        if not self.on_progress(done, total, speed_bps, float(eta) if eta is not None else None):
            self.stopped = True
            raise Canceled()


def _expected_size(info: dict[str, Any]) -> int | None:
    formats = info.get("requested_formats") or []
    sizes = [f.get("filesize") or f.get("filesize_approx") for f in formats]
    return int(sum(sizes)) if sizes and all(sizes) else None


class _Logger:
    def debug(self, message: str) -> None:
        if not message.startswith("[debug] "):
            log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        log.info("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.info("yt-dlp: %s", message)  # the runner raises a typed error that the caller logs


def ffmpeg_path() -> str | None:
    """ffmpeg from the imageio-ffmpeg wheel, else the system's, else None."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def _params(
    work_dir: Path, fmt: str | None, cookies: Path | None, tracker: _Tracker, timeout: float,
    retries: int,
) -> dict[str, Any]:  # fmt: skip
    return {
        "outtmpl": {"default": "%(id).60B.%(ext)s"},
        "paths": {"home": str(work_dir), "temp": str(work_dir)},
        "format": fmt or "bv*+ba/b",
        "merge_output_format": "mp4",
        "noplaylist": True,
        "playlist_items": "1",
        "continuedl": True,
        "overwrites": False,
        "restrictfilenames": True,
        "windowsfilenames": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "color": "no_color",
        "logger": _Logger(),
        "progress_hooks": [tracker.hook],
        "socket_timeout": timeout,
        "buffersize": 1024 * 1024,  # yt-dlp starts at 1 KiB blocks and grows them only slowly
        "retries": retries,
        "fragment_retries": retries + 1,
        "extractor_retries": 1,
        # Segments through yt-dlp's own (guarded) networking, one at a time in this thread.
        "hls_prefer_native": True,
        "external_downloader": {"default": "native"},
        "concurrent_fragment_downloads": 1,
        "proxy": "",  # direct: through a proxy the guard would see the proxy, not the target
        "ffmpeg_location": ffmpeg_path(),  # merging and remuxing local files only
        "cookiefile": str(cookies) if cookies else None,
        "cachedir": False,
        "updatetime": False,
        # The source's chapters into the file (ffmpeg runs only when there are some), where
        # the catalog reads them as it reads any container's (CONTRACT 8.4).
        "postprocessors": [{"key": "FFmpegMetadata", "add_chapters": True, "add_metadata": False}],
    }


DIRECT_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".m3u8", ".mpd", ".ts",
                             ".mp3", ".m4a", ".avi", ".flv", ".ogv", ".bin"})  # fmt: skip


def _extractor_for(url: str) -> str | None:
    # Choosing among yt-dlp's ~1,800 extractors compiles their URL patterns: about a second in a
    # fresh process. A URL that names a media file goes straight to the generic extractor.
    suffix = Path(urlsplit(url).path).suffix.lower()
    return "Generic" if suffix in DIRECT_SUFFIXES else None


def _is_plain_file(url: str) -> bool:
    suffix = Path(urlsplit(url).path).suffix.lower()
    return suffix in DIRECT_SUFFIXES and suffix not in (".m3u8", ".mpd")


def _place(source: Path, dest_dir: Path) -> Path:
    """Move `source` into `dest_dir` atomically under a name no other file has; return it."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        suffix = f"-{attempt}" if attempt else ""
        target = dest_dir / f"{source.stem}{suffix}{source.suffix}"
        try:  # claim the name first: os.replace alone would overwrite another download's file
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        try:
            os.replace(source, target)
        except OSError as error:
            if error.errno != errno.EXDEV:
                target.unlink(missing_ok=True)
                raise
            staged = target.with_name(f".{target.name}.moving")  # another filesystem: copy, then
            shutil.copyfile(source, staged)  # rename, so no reader sees a half-written file
            os.replace(staged, target)
            source.unlink()
        return target
    raise TransientError(f"No free file name for {source.name} in the download folder.")


def _keep_subtitles(info: dict[str, Any], video: Path) -> None:
    """yt-dlp's subtitle files beside the video, named `<video stem>.<language>.<ext>`."""
    for language, sub in (info.get("requested_subtitles") or {}).items():
        path = Path(str((sub or {}).get("filepath") or ""))
        safe = "".join(ch for ch in str(language) if ch.isalnum() or ch == "-")[:35]
        if safe and path.is_file():
            os.replace(path, video.with_name(f"{video.stem}.{safe}{path.suffix}"))


def _remove_leftovers(work_dir: Path, keep: Path) -> None:
    for child in work_dir.iterdir():
        if child.is_file() and child != keep:
            child.unlink(missing_ok=True)


def _single(info: dict[str, Any] | None) -> dict[str, Any]:
    entry = info or {}
    if entry.get("_type") in ("playlist", "multi_video"):
        entry = next((item for item in entry.get("entries") or [] if item), {})
    return entry


def run_ytdlp(
    url: str,
    *,
    dest_dir: Path,
    work_dir: Path,
    fmt: str | None,
    cookies_file: Path | None,
    allow_private: bool,
    on_progress: Progress,
    policy: Policy | None = None,
    socket_timeout: float = 30.0,
    retries: int = 2,
    rate_bps: int | None = None,
    subtitle_langs: list[str] | None = None,
) -> Fetched:
    """Download `url` with yt-dlp into `work_dir` (resuming what is there), then into `dest_dir`.

    Every connection passes the SSRF guard (`policy` replaces its address rule). `on_progress`
    gets rising byte counts and cancels by returning False (Canceled; partial files stay in
    `work_dir` for the caller to remove). Errors come back typed: ValidationFailed
    (forbidden_url), UpstreamRefused (permanent) or TransientError. On success the file is moved
    into `dest_dir` under a name of its own and the other files of `work_dir` are removed.
    """
    tracker = _Tracker(on_progress)
    work_dir.mkdir(parents=True, exist_ok=True)
    if not any(work_dir.iterdir()):
        on_progress(0, None, None, None)  # a fresh start: every byte from here on is new
    params = _params(work_dir, fmt, cookies_file, tracker, socket_timeout, retries)
    if rate_bps:
        params["ratelimit"] = rate_bps  # yt-dlp's own cap, per download
    if _is_plain_file(url):
        params["fixup"] = "never"  # nothing to repair in a plain file: skip ffprobe
    if subtitle_langs:  # subtitles and automatic captions, beside the video (CONTRACT 8.4)
        params.update(writesubtitles=True, writeautomaticsub=True, subtitleslangs=subtitle_langs,
                      subtitlesformat="vtt/srt/best")  # fmt: skip
    info = _extract(url, params, tracker, allow_private, policy)
    return _finish(info, tracker, dest_dir, work_dir)


def _extract(
    url: str, params: dict[str, Any], tracker: _Tracker, allow_private: bool, policy: Policy | None
) -> dict[str, Any]:
    """yt-dlp's info of the one video downloaded, its errors typed (see run_ytdlp)."""
    import yt_dlp

    with guard_ytdlp_connections(allow_private, policy) as guard:
        try:
            with yt_dlp.YoutubeDL(params) as ydl:
                info = _single(ydl.extract_info(url, download=True, ie_key=_extractor_for(url)))
        except Exception as error:
            if tracker.stopped:
                raise Canceled() from None
            raise classify(error, guard) from None
    if tracker.stopped:
        raise Canceled()
    return info


def _finish(info: dict[str, Any], tracker: _Tracker, dest_dir: Path, work_dir: Path) -> Fetched:
    """The produced file moved into `dest_dir`, the rest of `work_dir` removed, and hashed."""
    downloads = info.get("requested_downloads") or [{}]
    produced = Path(downloads[0].get("filepath") or "")
    if not produced.is_file():
        raise TransientError("yt-dlp reported success but left no file.")
    target = _place(produced, dest_dir)
    _keep_subtitles(info, target)
    _remove_leftovers(work_dir, target)
    size = target.stat().st_size
    tracker.on_progress(max(tracker.done, size), max(tracker.done, size), None, 0.0)
    digest = hashlib.sha256()
    hash_file(target, digest)
    meta = {key: str(info[key]) for key in ("uploader", "upload_date") if info.get(key)}
    return Fetched(target, size, digest.hexdigest(), info.get("title"), meta)


class YtdlpEngine:
    """Pages, HLS and DASH: yt-dlp through the SSRF guard."""

    def __init__(
        self,
        allow_private: bool,
        cookies: Path | None,
        rate_bps: int | None = None,
        subtitle_langs: list[str] | None = None,
    ) -> None:
        self.allow_private, self.cookies, self.rate_bps = allow_private, cookies, rate_bps
        self.subtitle_langs = subtitle_langs

    def fetch(self, job: FetchJob, work: Path, on_progress: Progress) -> Staged:
        """The media into `work/done`; its title from yt-dlp. A cancel also stops ffmpeg."""
        try:
            result = run_ytdlp(
                job.url,
                dest_dir=work / "done",
                work_dir=work,
                fmt=job.format,
                cookies_file=self.cookies,
                allow_private=self.allow_private,
                on_progress=on_progress,
                rate_bps=self.rate_bps,
                subtitle_langs=self.subtitle_langs,
            )
        except Canceled:
            kill_children()
            raise
        return Staged(result.path, result.sha256, result.title, result.meta)
