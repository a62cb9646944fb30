"""A file server for the compose test's network: byte ranges, and paths under /slow/ throttled."""

from __future__ import annotations

import os
import re
import sys
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1] if len(sys.argv) > 1 else "/srv"
SLOW_BYTES_PER_S = 256 * 1024
CHUNK = 64 * 1024


class Handler(SimpleHTTPRequestHandler):
    """GET/HEAD of ROOT's files with one `Range`; /slow/<name> sends <name> at SLOW_BYTES_PER_S."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, directory=ROOT, **kwargs)

    def do_GET(self) -> None:
        self._send(body=True)

    def do_HEAD(self) -> None:
        self._send(body=False)

    def _send(self, body: bool) -> None:
        slow = self.path.startswith("/slow/")
        name = os.path.basename(self.path.split("?")[0])
        path = os.path.join(ROOT, name)
        if not name or not os.path.isfile(path):
            self.send_error(404)
            return
        size = os.path.getsize(path)
        start, end = 0, size - 1
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match and int(match.group(1)) < size:
            start = int(match.group(1))
            end = min(int(match.group(2) or size - 1), size - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if body:
            self._copy(path, start, end - start + 1, slow)

    def _copy(self, path: str, offset: int, length: int, slow: bool) -> None:
        with open(path, "rb") as handle:
            handle.seek(offset)
            while length > 0:
                chunk = handle.read(min(CHUNK, length))
                if not chunk:
                    return
                self.wfile.write(chunk)
                length -= len(chunk)
                if slow:
                    time.sleep(len(chunk) / SLOW_BYTES_PER_S)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
