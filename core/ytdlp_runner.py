"""The yt-dlp runner: its Python API behind a connect-time SSRF guard, with progress and cancel."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from core.errors import TransientError, UpstreamRefused, ValidationFailed
from core.netguard import check_address

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None, float | None, float | None], bool]
_PERMANENT_HINTS = (
    "unsupported url", "http error 404", "http error 403", "http error 410", "http error 401",
    "private video", "video unavailable", "not available", "requested format is not available",
    "no video formats found", "sign in to confirm",
)  # fmt: skip


class Canceled(Exception):
    """The download was canceled from the progress callback."""


class ForbiddenAddress(ConnectionRefusedError):
    """Raised instead of connecting to an address the SSRF guard refuses."""


@dataclass(frozen=True)
class YtdlpResult:
    path: Path
    size: int
    sha256: str
    title: str | None


Policy = Callable[[str], str | None]  # an address -> why it is refused, or None


@dataclass
class Guard:
    allow_private: bool
    policy: Policy | None = None
    refused: list[str] = field(default_factory=list)

    def reason(self, address: str) -> str | None:
        """Why a connection to `address` is refused, or None."""
        if self.policy is not None:
            return self.policy(address)
        try:
            check_address(address, allow_private=self.allow_private)
        except ValidationFailed as error:
            return error.message
        return None

    def socket_for(self, ip_addr: Any, timeout: Any, source_address: Any) -> socket.socket:
        from yt_dlp.networking import _helper

        address = str(ip_addr[4][0])
        reason = self.reason(address)
        if reason is not None:
            self.refused.append(address)
            raise ForbiddenAddress(reason)
        return _helper._socket_connect(ip_addr, timeout, source_address)  # type: ignore[no-any-return]


@contextmanager
def guard_ytdlp_connections(allow_private: bool, policy: Policy | None = None) -> Iterator[Guard]:
    """Check every address yt-dlp connects to, at connect time (redirects, pages, segments).

    yt-dlp's HTTP handlers all open sockets through `networking._helper.create_connection`,
    which they look up in their own module at call time; the runner makes yt-dlp prefer its
    urllib handler and allows only http/https there, so every hop passes through this check.
    Other connections of the process (database, Redis) are untouched.
    """
    from yt_dlp.networking import _helper, _urllib

    modules: list[Any] = [_urllib]
    for name in ("_requests", "_websockets"):
        try:
            modules.append(__import__(f"yt_dlp.networking.{name}", fromlist=[name]))
        except ImportError:
            continue
    guard = Guard(allow_private, policy)
    original = _helper.create_connection

    def guarded(
        address: Any,
        timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
        source_address: Any = None,
        *,
        _create_socket_func: Any = None,
    ) -> Any:
        if _create_socket_func is not None:  # a SOCKS proxy: never configured here
            raise ForbiddenAddress("Proxies are not used for downloads.")
        return original(address, timeout, source_address, _create_socket_func=guard.socket_for)

    saved = [(module, getattr(module, "create_connection", None)) for module in modules]
    schemes = _urllib.UrllibRH._SUPPORTED_URL_SCHEMES
    try:
        for module, _ in saved:
            module.create_connection = guarded
        _urllib.UrllibRH._SUPPORTED_URL_SCHEMES = ("http", "https")
        yield guard
    finally:
        for module, value in saved:
            module.create_connection = value
        _urllib.UrllibRH._SUPPORTED_URL_SCHEMES = schemes


class _Logger:
    def debug(self, message: str) -> None:
        if not message.startswith("[debug] "):
            log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        log.info("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.info("yt-dlp: %s", message)


def ffmpeg_path() -> str | None:
    """ffmpeg from the imageio-ffmpeg wheel, else the system's, else None."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def _params(work_dir: Path, fmt: str | None, cookies: Path | None, hook: Any) -> dict[str, Any]:
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
        "logger": _Logger(),
        "progress_hooks": [hook],
        "socket_timeout": 30,
        "buffersize": 1024 * 1024,  # yt-dlp starts at 1 KiB blocks and grows them only slowly
        "retries": 2,
        "fragment_retries": 3,
        "extractor_retries": 1,
        "hls_prefer_native": True,
        "ffmpeg_location": ffmpeg_path(),
        "cookiefile": str(cookies) if cookies else None,
        "cachedir": False,
        # Every request through the guarded urllib handler (see guard_ytdlp_connections).
        "compat_opts": {"prefer-legacy-http-handler"},
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _classify(error: Exception, guard: Guard) -> Exception:
    if guard.refused:
        return ValidationFailed(
            f"The download led to a forbidden address ({guard.refused[0]}); it was stopped.",
            {"reason": "forbidden_url", "address": guard.refused[0]},
        )
    message = str(error).removeprefix("ERROR: ").strip()
    if any(hint in message.lower() for hint in _PERMANENT_HINTS):
        return UpstreamRefused(f"yt-dlp could not fetch this URL: {message[:300]}")
    return TransientError(f"yt-dlp failed, will retry: {message[:300]}")


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
) -> YtdlpResult:
    """Download `url` into `work_dir` (resuming), then move the file into `dest_dir`."""
    import yt_dlp

    stopped: list[bool] = []

    def hook(status: dict[str, Any]) -> None:
        if status.get("status") != "downloading":
            return
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        done = int(status.get("downloaded_bytes") or 0)
        if not on_progress(
            done, int(total) if total else None, status.get("speed"), status.get("eta")
        ):
            stopped.append(True)
            raise Canceled()

    work_dir.mkdir(parents=True, exist_ok=True)
    if not any(work_dir.iterdir()):
        on_progress(0, None, None, None)  # a fresh start: every byte from here on is new
    with guard_ytdlp_connections(allow_private, policy) as guard:
        try:
            params = _params(work_dir, fmt, cookies_file, hook)
            if _is_plain_file(url):
                params["fixup"] = "never"  # nothing to repair in a plain file: skip ffprobe
            with yt_dlp.YoutubeDL(params) as ydl:
                info = ydl.extract_info(url, download=True, ie_key=_extractor_for(url))
        except Exception as error:
            if stopped:
                raise Canceled() from None
            raise _classify(error, guard) from None
    if stopped:
        raise Canceled()
    downloads = (info or {}).get("requested_downloads") or [{}]
    produced = Path(downloads[0].get("filepath") or "")
    if not produced.is_file():
        raise TransientError("yt-dlp reported success but left no file.")
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / produced.name
    os.replace(produced, target)
    return YtdlpResult(target, target.stat().st_size, _sha256(target), (info or {}).get("title"))


def kill_children(grace_s: float = 3.0) -> None:
    """Terminate, then kill, every child process of this one (ffmpeg started by yt-dlp)."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            continue
    _gone, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            continue
