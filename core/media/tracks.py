"""Tracks inside a video file: text subtitle streams (a bounded ffmpeg extracts them), chapters."""

from __future__ import annotations

import logging
import resource
import subprocess  # nosec B404: ffmpeg is run with a fixed argument list, never a shell
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.media.ffmpeg import MediaError, ffmpeg_path
from core.media.subtitles import MAX_SUBTITLE_BYTES, Cue, language_tag, parse

log = logging.getLogger(__name__)
TEXT_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
MAX_STREAMS = 16
MAX_CHAPTERS = 500
EXTRACT_TIMEOUT_S = 60.0
EXTRACT_MEMORY_BYTES = 1024 * 1024 * 1024
EXTRACT_CPU_S = 60


@dataclass(frozen=True)
class Stream:
    """A text subtitle stream: its index in the file, its language as a BCP 47 tag, its title."""

    index: int
    language: str
    title: str | None


@dataclass(frozen=True)
class ChapterMark:
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Inside:
    """What a file holds besides its picture and sound."""

    streams: list[Stream]
    chapters: list[ChapterMark]


def look_inside(path: Path) -> Inside:
    """The text subtitle streams and chapters of `path` (nothing if PyAV cannot read it)."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = [
                Stream(s.index, language_tag(s.metadata.get("language")), s.metadata.get("title"))
                for s in list(container.streams.subtitles)[:MAX_STREAMS]
                if s.codec_context is not None and s.codec_context.name in TEXT_CODECS
            ]
            chapters = [_chapter(c, n) for n, c in enumerate(container.chapters()[:MAX_CHAPTERS])]
    except (av.FFmpegError, OSError, ValueError) as error:
        log.info("cannot look inside %s: %s", path.name, type(error).__name__)
        return Inside([], [])
    return Inside(streams, [c for c in chapters if c.end_s > c.start_s])


def _chapter(raw: Any, number: int) -> ChapterMark:
    base = raw.get("time_base")
    scale = float(base) if base else 1e-9
    title = str((raw.get("metadata") or {}).get("title") or f"Chapter {number + 1}")
    start = float(raw.get("start") or 0) * scale
    return ChapterMark(title[:500], start, float(raw.get("end") or 0) * scale)


def ffmpeg() -> str | None:
    """ffmpeg from PATH, else the imageio-ffmpeg wheel's; None when there is neither."""
    try:
        return ffmpeg_path()
    except MediaError:
        return None


def _limits() -> None:  # pragma: no cover - runs in the ffmpeg child before exec
    resource.setrlimit(resource.RLIMIT_AS, (EXTRACT_MEMORY_BYTES, EXTRACT_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (EXTRACT_CPU_S, EXTRACT_CPU_S))


def extract(path: Path, stream: Stream) -> list[Cue]:
    """The cues of one text stream, via ffmpeg to SRT on a pipe: time, memory and CPU bounded,
    only the file and pipe protocols; a file ffmpeg fails on gives no cues."""
    binary = ffmpeg()
    if binary is None:
        return []
    command = [
        binary, "-nostdin", "-v", "error", "-protocol_whitelist", "file,pipe",
        "-i", f"file:{path}", "-map", f"0:{stream.index}", "-c:s", "srt", "-f", "srt", "pipe:1",
    ]  # fmt: skip
    try:
        done = subprocess.run(  # nosec B603: fixed arguments, no shell
            command,
            capture_output=True,
            timeout=EXTRACT_TIMEOUT_S,
            preexec_fn=_limits,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError) as error:
        log.info("subtitle stream %d of %s: %s", stream.index, path.name, type(error).__name__)
        return []
    if done.returncode != 0 or len(done.stdout) > MAX_SUBTITLE_BYTES:
        log.info("subtitle stream %d of %s not extracted", stream.index, path.name)
        return []
    return parse(done.stdout, ".srt")
