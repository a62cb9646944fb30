"""Outbound HTTP(S) connections checked against the SSRF guard just before they are made.

The address that is checked is the address that is connected to, redirects included; only http
and https can be opened. Shared by the direct download engine and webhook deliveries.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import socket
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.base.errors import TransientError
from core.base.netguard import Guard


def guarded_socket(host: str, port: int, timeout: float, guard: Guard) -> socket.socket:
    """Resolve `host`, refuse it if any address is forbidden, connect to an allowed one."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise TransientError(f"The host {host!r} cannot be resolved: {error}") from None
    for *_, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        reason = guard.reason(address)
        if reason is not None:
            raise guard.refuse(address, reason)
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            last = error
    raise last or OSError(f"no address for {host}")


def _connection_classes(
    guard: Guard, connect_timeout: float
) -> tuple[type[http.client.HTTPConnection], type[http.client.HTTPSConnection]]:
    class Plain(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = guarded_socket(self.host, self.port, connect_timeout, guard)
            self.sock.settimeout(self.timeout)

    class Secure(http.client.HTTPSConnection):
        def connect(self) -> None:
            raw = guarded_socket(self.host, self.port, connect_timeout, guard)
            raw.settimeout(self.timeout)
            self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]

    return Plain, Secure


def guarded_opener(
    guard: Guard, connect_timeout: float, cookies: Path | None = None
) -> urllib.request.OpenerDirector:
    """An opener for http and https only (no ftp, file or data, not even on redirect)."""
    plain, secure = _connection_classes(guard, connect_timeout)

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(plain, req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(secure, req)

    class Redirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                             newurl: str) -> urllib.request.Request | None:  # fmt: skip
            scheme = urlsplit(newurl).scheme.lower()
            if scheme not in ("http", "https"):  # urllib would follow ftp: redirects too
                raise guard.refusal_error(f"a URL Aula does not fetch ({scheme}:)")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        HTTP(), HTTPS(), Redirect(),
        urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler(),
    ]  # fmt: skip
    if cookies is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(_cookie_jar(cookies)))
    for handler in handlers:
        opener.add_handler(handler)
    opener.addheaders = [("User-Agent", "aula/0.1"), ("Accept-Encoding", "identity")]
    return opener


def _cookie_jar(path: Path) -> http.cookiejar.CookieJar:
    # yt-dlp's jar reads cookies.txt as browsers export it (#HttpOnly_ lines, 0 = session
    # cookie), so a plain file and a page fetched by yt-dlp get the same cookies.
    from yt_dlp.cookies import YoutubeDLCookieJar

    jar: http.cookiejar.CookieJar = YoutubeDLCookieJar(str(path))
    jar.load(ignore_discard=True, ignore_expires=True)  # type: ignore[attr-defined]
    return jar
