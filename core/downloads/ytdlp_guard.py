"""yt-dlp's connections under the SSRF guard: patched at connect time while a guard is open."""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from core.base.errors import UpstreamRefused
from core.base.netguard import Guard, Policy

_current: ContextVar[Guard | None] = ContextVar("ytdlp_guard", default=None)
_lock = threading.Lock()
_installed: list[Callable[[], None]] = []  # undo steps of the patches, while any guard is open
_users = 0
_originals: dict[str, Any] = {}


def _active_guard() -> Guard:
    # A yt-dlp connection from a thread without a guard of its own gets the strict default.
    return _current.get() or Guard(allow_private=False)


def _guarded_socket(ip_addr: Any, timeout: Any, source_address: Any) -> socket.socket:
    address = str(ip_addr[4][0]).split("%", 1)[0]
    guard = _active_guard()
    reason = guard.reason(address)
    if reason is not None:
        raise guard.refuse(address, reason)
    return _originals["socket_connect"](ip_addr, timeout, source_address)  # type: ignore[no-any-return]


def _guarded_create_connection(
    address: Any,
    timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: Any = None,
    *,
    _create_socket_func: Any = None,
) -> Any:
    if _create_socket_func is not None:  # a SOCKS proxy: the proxy, not we, would pick the target
        raise _active_guard().refuse(f"{address[0]} (via a SOCKS proxy)", "proxies are not used")
    return _originals["create_connection"](
        address, timeout, source_address, _create_socket_func=_guarded_socket
    )


class _NoFTPHandler(urllib.request.BaseHandler):
    """urllib follows redirects to ftp:// by itself, and ftplib's sockets bypass the guard."""

    def ftp_open(self, request: urllib.request.Request) -> None:
        raise urllib.error.URLError(_active_guard().refuse(request.full_url, "ftp is not allowed"))


def _refuse_external(fd: Any, filename: Any, info_dict: dict[str, Any]) -> bool:
    raise UpstreamRefused(
        "This stream needs an external program (ffmpeg or rtmpdump, e.g. a live or encrypted"
        " stream) to fetch it; Aula downloads only through its guarded connections."
    )


def _patch(target: Any, name: str, value: Any) -> None:
    old = getattr(target, name)
    setattr(target, name, value)
    _installed.append(lambda: setattr(target, name, old))


def _install() -> None:
    from yt_dlp import YoutubeDL
    from yt_dlp.downloader.external import ExternalFD
    from yt_dlp.downloader.rtmp import RtmpFD
    from yt_dlp.networking import _helper, _urllib

    _originals.update(
        create_connection=_helper.create_connection, socket_connect=_helper._socket_connect
    )
    modules = [_helper, _urllib]
    for name in ("_requests", "_websockets"):  # present only with their optional dependencies
        with contextlib.suppress(ImportError):
            modules.append(__import__(f"yt_dlp.networking.{name}", fromlist=[name]))
    for module in modules:
        _patch(module, "create_connection", _guarded_create_connection)
    _patch(_urllib, "FTPHandler", _NoFTPHandler)
    _patch(_urllib.UrllibRH, "_SUPPORTED_URL_SCHEMES", ("http", "https"))
    build = YoutubeDL.build_request_director

    def urllib_only(ydl: Any, handlers: Any, preferences: Any = None) -> Any:
        # The requests handler connects through urllib3's own create_connection (shared with the
        # rest of the process), curl_cffi inside libcurl: only urllib's sockets can be guarded.
        return build(ydl, [h for h in handlers if h.RH_KEY == "Urllib"], preferences)

    _patch(YoutubeDL, "build_request_director", urllib_only)
    _patch(ExternalFD, "real_download", _refuse_external)
    _patch(RtmpFD, "real_download", _refuse_external)


@contextlib.contextmanager
def guard_ytdlp_connections(allow_private: bool, policy: Policy | None = None) -> Iterator[Guard]:
    """Check every address yt-dlp connects to, at connect time: redirects, pages, segments.

    yt-dlp's urllib handler opens each socket through `networking._helper.create_connection`,
    looked up in its own module at call time; the patched one checks every address getaddrinfo
    returned just before connecting to it (no DNS-rebinding gap). While a guard is open yt-dlp
    uses only that handler, with http and https only (no ftp, even on redirect), and no external
    downloader (ffmpeg, rtmpdump) that would open its own connections. The patches touch yt-dlp
    alone, so the database and Redis clients of the process are unaffected. `policy` replaces
    the address rule (tests allow exactly 127.0.0.1). Thread-safe: each thread has its guard.
    """
    global _users
    guard = Guard(allow_private, policy)
    token = _current.set(guard)
    with _lock:
        if _users == 0:
            try:
                _install()
            except BaseException:
                _uninstall()
                raise
        _users += 1
    try:
        yield guard
    finally:
        _current.reset(token)
        with _lock:
            _users -= 1
            if _users == 0:
                _uninstall()


def _uninstall() -> None:
    while _installed:
        _installed.pop()()
