"""Real, small video files for tests, encoded with PyAV (no numpy, no system ffmpeg)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def make_video(
    path: Path,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    container_format: str | None = None,
    codec: str = "mpeg4",
) -> Path:
    """Write a video of moving gradients to `path`: MPEG-4 Part 2 by default, "libvpx" (VP8, in
    WebM) for what browsers play, "libx264" for H.264."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index in range(int(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            luma = bytes((x + y + index * 8) % 256 for y in range(height) for x in range(width))
            frame.planes[0].update(luma)
            chroma = bytes([128]) * (width // 2 * height // 2)
            frame.planes[1].update(chroma)
            frame.planes[2].update(chroma)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
