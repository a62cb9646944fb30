"""Lessons with tracks for tests: SRT text, and an MKV holding a subtitle stream and chapters."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.media.tracks import ffmpeg
from tests.media import make_video

LESSON_SRT = """1
00:00:01,000 --> 00:00:02,500
Welcome to the <i>first</i> lesson

2
00:00:03,000 --> 00:00:04,000
Today we learn photosynthesis
"""
HOSTILE_SRT = """1
00:00:00,500 --> 00:00:01,500
<script>alert(1)</script> and <img src=x onerror=alert(2)>

2
00:00:02,000 --> 00:00:03,000
a --> b & c < d

3
00:00:03,000 --> 00:00:04,000
<b>bold</b> <font color="red">red</font> <u>under</u>
"""
CHAPTERS = """;FFMETADATA1
[CHAPTER]
TIMEBASE=1/1000
START=0
END=2000
title=Intro
[CHAPTER]
TIMEBASE=1/1000
START=2000
END=4000
title=Main part
"""


def make_mkv_with_tracks(path: Path, srt: str = LESSON_SRT, language: str = "por") -> Path:
    """A 4-second MKV (VP8) with one SRT stream in `language` (ISO 639-2) and two chapters."""
    work = path.parent / f".{path.stem}-parts"
    work.mkdir(parents=True, exist_ok=True)
    video = make_video(work / "v.webm", seconds=4, codec="libvpx")
    (work / "s.srt").write_text(srt)
    (work / "c.txt").write_text(CHAPTERS)
    binary = ffmpeg()
    assert binary is not None
    subprocess.run(
        [binary, "-nostdin", "-v", "error", "-y", "-i", str(video), "-i", str(work / "s.srt"),
         "-i", str(work / "c.txt"), "-map", "0", "-map", "1", "-map_metadata", "2",
         "-map_chapters", "2", "-c:v", "copy", "-c:s", "srt",
         "-metadata:s:s:0", f"language={language}", str(path)],
        check=True,
    )  # fmt: skip
    for child in work.iterdir():
        child.unlink()
    work.rmdir()
    return path


def make_webm_with_chapters(path: Path, seconds: float = 6) -> Path:
    """A VP8 WebM (what Chromium plays) of `seconds` with the two chapters of CHAPTERS."""
    work = path.parent / f".{path.stem}-parts"
    work.mkdir(parents=True, exist_ok=True)
    video = make_video(work / "v.webm", seconds=seconds, codec="libvpx")
    (work / "c.txt").write_text(
        CHAPTERS.replace("START=2000", "START=3000")
        .replace("END=2000", "END=3000")
        .replace("END=4000", f"END={int(seconds * 1000)}")
    )
    binary = ffmpeg()
    assert binary is not None
    subprocess.run(
        [binary, "-nostdin", "-v", "error", "-y", "-i", str(video), "-i", str(work / "c.txt"),
         "-map", "0", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy", str(path)],
        check=True,
    )  # fmt: skip
    for child in work.iterdir():
        child.unlink()
    work.rmdir()
    return path
