"""The `media` block of an item (CONTRACT 8.4): container, codecs, size, and how it plays."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.media.probing import Probe, video_type

log = logging.getLogger(__name__)


class Playable(StrEnum):
    """How a browser gets to play a file."""

    DIRECT = "direct"  # as it is
    REMUX = "remux"  # its streams copied into an MP4
    TRANSCODE = "transcode"  # re-encoded to H.264/AAC in an MP4


DIRECT_CONTAINERS = frozenset({"mp4", "webm", "mov"})
BROWSER_VIDEO = frozenset({"h264", "vp8", "vp9", "av1"})
BROWSER_AUDIO = frozenset({"aac", "mp3", "opus", "vorbis"})
# What the container is called, by the MIME type Aula gives the file.
_CONTAINER_OF = {
    "video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm",
    "video/x-matroska": "mkv", "video/x-msvideo": "avi", "video/x-flv": "flv",
    "video/mp2t": "ts", "video/mpeg": "mpeg", "video/x-ms-wmv": "wmv", "video/ogg": "ogg",
    "video/3gpp": "3gp", "video/x-m4v": "mp4",
}  # fmt: skip
# Header reads only: a hostile file cannot make probing read or decode its whole length.
PROBE_OPTIONS = {
    "probesize": "10000000",
    "analyzeduration": "10000000",
    "protocol_whitelist": "file",
}


def classify(container: str | None, video: str | None, audio: str | None) -> Playable:
    """Direct: MP4/WebM/MOV with browser codecs; the same codecs elsewhere: remux; else
    transcode. A file with no video stream needs a browser audio codec (or none)."""
    codecs_ok = (video is None or video in BROWSER_VIDEO) and (
        audio is None or audio in BROWSER_AUDIO
    )
    if video is None and audio is None:
        return Playable.TRANSCODE
    if not codecs_ok:
        return Playable.TRANSCODE
    return Playable.DIRECT if container in DIRECT_CONTAINERS else Playable.REMUX


def container_of(mime_type: str | None) -> str | None:
    """The container's short name for a video MIME type."""
    return _CONTAINER_OF.get((mime_type or "").split(";", 1)[0].strip().lower())


def block(
    container: str | None,
    video: str | None = None,
    audio: str | None = None,
    width: int | None = None,
    height: int | None = None,
    bitrate: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The media block as the API shows it."""
    playable = classify(container, video, audio) if error is None else Playable.TRANSCODE
    return {
        "container": container, "video_codec": video, "audio_codec": audio, "width": width,
        "height": height, "bitrate": bitrate, "playable": str(playable), "error": error,
    }  # fmt: skip


def from_drive(mime_type: str | None, video_meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Drive file's block from its metadata alone (no codecs: Drive does not say them).

    MP4, MOV and WebM are taken as direct, anything else as transcode, until the file is
    downloaded and probed."""
    if not (mime_type or "").startswith("video/"):
        return None
    meta = video_meta or {}
    container = container_of(mime_type)
    playable = Playable.DIRECT if container in DIRECT_CONTAINERS else Playable.TRANSCODE
    return {
        "container": container, "video_codec": None, "audio_codec": None,
        "width": _int(meta.get("width")), "height": _int(meta.get("height")), "bitrate": None,
        "playable": str(playable), "error": None,
    }  # fmt: skip


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def inspect(path: Path, mime_type: str | None = None) -> tuple[Probe, dict[str, Any]]:
    """Duration and size (as probing.probe), and the media block, from one bounded open.

    A file PyAV cannot read gets a block with `error` set (and transcode, which will fail
    with the same error when asked): never an exception."""
    import av

    container = container_of(mime_type or video_type(path))
    try:
        with av.open(str(path), options=dict(PROBE_OPTIONS)) as opened:
            duration = opened.duration / 1_000_000 if opened.duration else None
            video = next(iter(opened.streams.video), None)
            audio = next(iter(opened.streams.audio), None)
            if video is not None and duration is None and video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
            width, height = _size(video)
            found = block(
                container or opened.format.name.split(",", 1)[0],
                _codec(video),
                _codec(audio),
                width,
                height,
                int(opened.bit_rate) if opened.bit_rate else None,
            )
            return Probe(duration, width, height), found
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
        log.info("cannot probe %s: %s", path.name, type(error).__name__)
        return Probe(None, None, None), block(container, error=_describe(error))


def _size(stream: Any) -> tuple[int | None, int | None]:
    if stream is None:
        return None, None
    context = stream.codec_context
    return int(context.width or 0) or None, int(context.height or 0) or None


def _codec(stream: Any) -> str | None:
    if stream is None:
        return None
    context = stream.codec_context
    codec = getattr(context, "codec", None)
    return str(getattr(codec, "canonical_name", None) or context.name)


def _describe(error: BaseException) -> str:
    # The library's message may hold the path; the type and the first words are enough.
    text = getattr(error, "strerror", None) or str(error).split(":", 1)[0]
    return f"{type(error).__name__}: {text}"[:300]
