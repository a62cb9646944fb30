"""Media files: recognise videos by extension or content, probe duration, grab a thumbnail."""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".wmv",
        ".flv",
        ".mpg",
        ".mpeg",
        ".ts",
        ".m2ts",
        ".mts",
        ".3gp",
        ".ogv",
    ]
)
_EXTRA_TYPES = {
    ".mkv": "video/x-matroska",
    ".ts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".flv": "video/x-flv",
}


@dataclass(frozen=True)
class Probe:
    duration_s: float | None
    width: int | None
    height: int | None


def sniff(head: bytes) -> str | None:
    """A video MIME type from a file's first bytes, or None if it does not look like video."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"FLV"):
        return "video/x-flv"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "video/mpeg"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-wmv"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video/mp2t"
    return None


def video_type(path: Path) -> str | None:
    """The MIME type of `path` if it is a video (by extension first, then by its bytes)."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "video/mp4"
    try:
        with path.open("rb") as handle:
            return sniff(handle.read(256))
    except OSError:
        return None


# Never videos: a rescan skips these without opening them (an unknown extension is sniffed).
_NOT_VIDEO = (
    "pdf txt md doc docx odt rtf ppt pptx odp xls xlsx ods csv srt vtt ass ssa sub jpg jpeg png",
    "gif webp bmp svg mp3 m4a aac oga opus flac wav zip rar 7z tar gz html htm json xml nfo epub",
)
NOT_VIDEO_EXTENSIONS = frozenset(f".{ext}" for line in _NOT_VIDEO for ext in line.split(" "))


def video_type_cheap(path: Path) -> str | None:
    """video_type without opening files whose extension says they are not videos."""
    if path.suffix.lower() in NOT_VIDEO_EXTENSIONS:
        return None
    return video_type(path)


def probe(path: Path) -> Probe:
    """Duration and size of the first video stream; Nones if PyAV cannot read the file."""
    import av

    try:
        with av.open(str(path)) as container:
            duration = container.duration / 1_000_000 if container.duration else None
            stream = next(iter(container.streams.video), None)
            if stream is None:
                return Probe(duration, None, None)
            if duration is None and stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            return Probe(duration, stream.codec_context.width, stream.codec_context.height)
    except (av.FFmpegError, OSError, ValueError) as error:
        log.info("cannot probe %s: %s", path.name, type(error).__name__)
        return Probe(None, None, None)


# Frames larger than 8K are not decoded for a thumbnail: one such frame costs seconds of CPU.
MAX_THUMBNAIL_SOURCE_PIXELS = 7680 * 4320


def _too_large(context: Any) -> bool:
    pixels = int(context.width or 0) * int(context.height or 0)
    if pixels > MAX_THUMBNAIL_SOURCE_PIXELS:
        log.info("no thumbnail: a %dx%d frame is too large", context.width, context.height)
        return True
    return False


def thumbnail_jpeg(path: Path, width: int = 320, at: float = 0.1) -> bytes | None:
    """A JPEG of a frame about `at` of the way in, `width` pixels wide; None if none decodes."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = next(iter(container.streams.video), None)
            if stream is None or _too_large(stream.codec_context):
                return None
            if container.duration:
                container.seek(int(container.duration * at), backward=True, any_frame=False)
            frame = next(container.decode(stream), None)
            if frame is None:
                return None
            height = max(2, round(frame.height * width / frame.width / 2) * 2)
            image = frame.reformat(width=width, height=height, format="yuvj420p")
            codec = av.CodecContext.create("mjpeg", "w")
            codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
            codec.time_base = Fraction(1, 25)
            packets = codec.encode(image) + codec.encode(None)
            return b"".join(bytes(packet) for packet in packets) or None
    except (av.FFmpegError, OSError, ValueError, StopIteration) as error:
        log.info("cannot make a thumbnail of %s: %s", path.name, type(error).__name__)
        return None
