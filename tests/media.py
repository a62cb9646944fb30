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


def make_spinner(path: Path, frames: int = 1500, size: tuple[int, int] = (3840, 2160)) -> Path:
    """A small file that makes ffmpeg spin: one 4K MPEG-4 keyframe, then `frames` copies of a
    tiny "nothing changed" frame. A few MB that take a transcode many minutes."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 25)
        stream.codec_context.gop_size = 1_000_000
        packets = []
        for index in range(2):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = index
            packets += list(stream.encode(frame))
        packets += list(stream.encode(None))
        key, same = bytes(packets[0]), bytes(packets[1])
        for index in range(frames):
            packet = av.Packet(key if index == 0 else same)
            packet.pts = packet.dts = index
            packet.time_base = Fraction(1, 25)
            packet.stream = stream
            packet.is_keyframe = index == 0
            container.mux(packet)
    return path


def make_garbage(path: Path, size: int = 64 * 1024) -> Path:
    """A file named like a video that is none: a Matroska magic number, then noise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = bytes((index * 7919 + 13) % 251 for index in range(size))
    path.write_bytes(b"\x1a\x45\xdf\xa3" + noise)
    return path
