"""What the streaming benches share: a keep-alive HTTP client and the big file they serve.

Its own module so that bench/stream_local.py and bench/stream_via_proxy.py both import it and
neither imports the other back.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

MIB = 1024 * 1024
FILE_NAME = "bench.bin"


class Client:
    """One keep-alive HTTP/1.1 connection that reads bodies into a reused buffer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.view = memoryview(bytearray(MIB))

    def get(
        self,
        path: str,
        range_header: str | None = None,
        sink: Callable[[bytes], None] | None = None,
    ) -> tuple[int, int]:
        """Send a GET, read the whole answer; return (status, body length)."""
        extra = f"Range: {range_header}\r\n" if range_header else ""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            head += chunk
        raw, _, body = head.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        fields = dict(line.split(":", 1) for line in lines[1:])
        length = int({k.strip().lower(): v for k, v in fields.items()}["content-length"])
        if sink:
            sink(body)
        remaining = length - len(body)
        while remaining > 0:
            n = self.sock.recv_into(self.view, min(remaining, len(self.view)))
            if not n:
                raise ConnectionError("the body ended early")
            if sink:
                sink(bytes(self.view[:n]))
            remaining -= n
        return int(lines[0].split()[1]), length

    def close(self) -> None:
        self.sock.close()


def make_file(directory: Path, size: int) -> Path:
    """A file of `size` random bytes (kept between runs), then read once into the page cache."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    if not path.exists() or path.stat().st_size != size:
        with path.open("wb") as handle:
            for _ in range(size // (8 * MIB)):
                handle.write(os.urandom(8 * MIB))
            handle.write(os.urandom(size % (8 * MIB)))
    path.chmod(0o644)
    with path.open("rb") as handle:
        while handle.read(8 * MIB):
            pass
    return path
