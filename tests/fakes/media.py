"""Local media servers for download tests: a direct MP4, HLS, a slow big file, redirects, a page.

Loopback only; bind to 127.0.0.1 or another loopback address such as 127.0.0.2. Routes:
`/video.mp4`, `/slow.bin` (throttled to `rate_bps`), `/hls/index.m3u8` and its segments,
`/hls/remote.m3u8?base=URL` (segments under another server), `/hls/live.m3u8?base=URL` (no
end: yt-dlp treats it as live), `/redirect?to=URL`, `/page.html?src=URL` (a `<video src>`),
`/status/CODE` (an empty answer with that status), `/drop` (closes without answering),
`/named/video.mp4` (with a Content-Disposition file name) and `/norange/video.mp4` (ignores
Range). `/redirect/...` and `/page/...` answer as `/redirect` and `/page.html` under any name.
`/captioned.html` is a page whose `<video>` has `<track>`s: English subtitles (`/subs.en.vtt`)
and Portuguese ones (`/subs.pt.vtt`), what yt-dlp's generic extractor reads as subtitles.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import parse_qs, urlsplit

from core.media.conditional import ByteRange, resolve_range
from tests.media import make_video

SEGMENTS = 3
SEGMENT_S = 2.0


def pattern(size: int) -> bytes:
    """Deterministic bytes of any size (a hash chain), for big files that are not videos."""
    out, block = bytearray(), b"aula"
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 128
    return bytes(out[:size])


SUBTITLES_EN = b"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nCaptions from the <b>web</b> page\n"
SUBTITLES_PT = b"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nLegendas da p\xc3\xa1gina\n"
CAPTIONED = {
    "/captioned.html": (
        b'<html><head><title>Captioned lesson</title></head><body><video src="/video.mp4">'
        b'<track kind="subtitles" srclang="en" label="English" src="/subs.en.vtt">'
        b'<track kind="subtitles" srclang="pt" label="Portugues" src="/subs.pt.vtt">'
        b"</video></body></html>",
        "text/html",
    ),
    # yt-dlp reads a VideoObject's Clips as chapters (JSON-LD, as many sites publish them).
    "/chaptered.html": (
        b'<html><head><title>Chaptered</title><script type="application/ld+json">'
        b'{"@context": "https://schema.org", "@type": "VideoObject", "name": "Chaptered lesson",'
        b' "contentUrl": "BASE/video.mp4", "encodingFormat": "video/mp4", "duration": "PT2S",'
        b' "hasPart": [{"@type": "Clip", "name": "Opening", "startOffset": 0, "endOffset": 1},'
        b' {"@type": "Clip", "name": "Closing", "startOffset": 1, "endOffset": 2}]}'
        b"</script></head><body></body></html>",
        "text/html",
    ),
    "/subs.en.vtt": (SUBTITLES_EN, "text/vtt"),
    "/subs.pt.vtt": (SUBTITLES_PT, "text/vtt"),
}


class MediaServer:
    """A threaded HTTP server with Range support and request counters."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        slow_size: int = 8 * 1024 * 1024,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.scheme = host, "https" if tls else "http"
        self._tmp = TemporaryDirectory()
        folder = Path(self._tmp.name)
        self.video = make_video(folder / "video.mp4", seconds=2, codec="libx264").read_bytes()
        self.segments = [
            make_video(folder / f"seg{i}.ts", seconds=SEGMENT_S, container_format="mpegts",
                       codec="libx264").read_bytes()
            for i in range(SEGMENTS)
        ]  # fmt: skip
        self.slow = pattern(slow_size)
        self.rate_bps: float | None = 2 * 1024 * 1024
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.ranges: list[str | None] = []
        self.cookies: list[str | None] = []
        self._server = ThreadingHTTPServer((host, 0), _Handler)
        self._server.daemon_threads = True
        self._server.media = self  # type: ignore[attr-defined]
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self._server.server_address[1]}"

    def playlist(self, base: str = "", live: bool = False) -> bytes:
        """The HLS media playlist; segment URLs under `base` if given; without an end if live."""
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(SEGMENT_S) + 1}",
                 "#EXT-X-MEDIA-SEQUENCE:0"]  # fmt: skip
        lines += [] if live else ["#EXT-X-PLAYLIST-TYPE:VOD"]
        for index in range(SEGMENTS):
            lines += [f"#EXTINF:{SEGMENT_S:.3f},", f"{base}seg{index}.ts"]
        return ("\n".join([*lines, *([] if live else ["#EXT-X-ENDLIST"]), ""])).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return None

    @property
    def media(self) -> MediaServer:
        return self.server.media  # type: ignore[attr-defined,no-any-return]

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.media.hits[parts.path] += 1
        self.media.cookies.append(self.headers.get("Cookie"))
        routes = {
            "/video.mp4": (self.media.video, "video/mp4", None),
            "/slow.bin": (self.media.slow, "application/octet-stream", self.media.rate_bps),
            "/hls/index.m3u8": (self.media.playlist(), "application/vnd.apple.mpegurl", None),
        }
        base = self.media.base_url.encode()  # JSON-LD wants absolute URLs
        routes.update(
            {p: (page.replace(b"BASE", base), kind, None) for p, (page, kind) in CAPTIONED.items()}
        )
        for index, segment in enumerate(self.media.segments):
            routes[f"/hls/seg{index}.ts"] = (segment, "video/mp2t", None)
        if parts.path in ("/hls/remote.m3u8", "/hls/live.m3u8"):
            routes[parts.path] = (
                self.media.playlist(query.get("base", ""), live="live" in parts.path),
                "application/vnd.apple.mpegurl",
                None,
            )
        if parts.path.startswith("/drop"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif parts.path.startswith("/status/"):
            code = int(parts.path.rsplit("/", 1)[1].split(".", 1)[0])  # /status/404 or /404.mp4
            self._send_head(code, {"Content-Length": "0"})
        elif parts.path == "/redirect" or parts.path.startswith("/redirect/"):
            self._send_head(302, {"Location": query["to"], "Content-Length": "0"})
        elif parts.path == "/named/video.mp4":
            named = {"Content-Disposition": 'attachment; filename="Lesson 1.mp4"'}
            self._send(self.media.video, "video/mp4", None, body, named)
        elif parts.path == "/norange/video.mp4":
            self._send(self.media.video, "video/mp4", None, body, ranges=False)
        elif parts.path == "/page.html" or parts.path.startswith("/page/"):
            page = f'<html><body><video src="{query["src"]}"></video></body></html>'.encode()
            self._send(page, "text/html", None, body)
        elif parts.path in routes:
            self._send(*routes[parts.path], body)
        else:
            self._send_head(404, {"Content-Length": "0"})

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(
        self,
        data: bytes,
        kind: str,
        rate: float | None,
        body: bool,
        extra: dict[str, str] | None = None,
        ranges: bool = True,
    ) -> None:
        header = self.headers.get("Range")
        self.media.ranges.append(header)
        wanted = resolve_range(header if ranges else None, len(data))
        start, end, status = 0, len(data), 200
        headers = {"Content-Type": kind, **({"Accept-Ranges": "bytes"} if ranges else {})}
        headers.update(extra or {})
        if isinstance(wanted, ByteRange):
            start, end, status = wanted.start, wanted.end + 1, 206
            headers["Content-Range"] = wanted.content_range
        elif wanted is not None:
            self._send_head(416, {"Content-Range": f"bytes */{len(data)}", "Content-Length": "0"})
            return
        headers["Content-Length"] = str(end - start)
        self._send_head(status, headers)
        if not body:
            return
        step = 64 * 1024
        try:
            for offset in range(start, end, step):
                chunk = data[offset : min(end, offset + step)]
                self.wfile.write(chunk)
                self.media.sent[urlsplit(self.path).path] += len(chunk)
                if rate:
                    time.sleep(len(chunk) / rate)
        except (BrokenPipeError, ConnectionResetError):
            return
