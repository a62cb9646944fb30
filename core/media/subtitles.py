"""Subtitle files: sidecar names and languages, cues read by pysubs2 and made safe, WebVTT out."""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

log = logging.getLogger(__name__)

SUBTITLE_FORMATS = {".srt": "srt", ".vtt": "vtt", ".ass": "ass", ".ssa": "ssa"}
MAX_SUBTITLE_BYTES = 4 * 1024 * 1024  # a lesson's subtitles are tens of KB; more is hostile
MAX_CUES = 20_000  # about 11 hours at one cue every 2 s
MAX_CUE_CHARS = 2_000
UNDETERMINED = "und"
_KEPT = {"i", "b", "u"}  # the only markup a cue keeps (CONTRACT 8.4)
_OVERRIDE = re.compile(r"\{[^}]*\}")  # pysubs2 gives ASS markup: {\i1}...{\i0}
_STYLE = re.compile(r"\\([ibu])([01])")
_TAG = re.compile(r"<[^>]*>")  # anything left that looks like a tag goes; its text stays


@dataclass(frozen=True)
class Cue:
    """One cue: seconds, its WebVTT payload (escaped, only <i> <b> <u>), its plain text."""

    start_s: float
    end_s: float
    markup: str
    text: str


def language_tag(code: str | None) -> str:
    """A BCP 47 tag for a language code (`eng` -> `en`, `pt-br` -> `pt-BR`); "und" if unknown."""
    import langcodes

    if not code or len(code) > 35:
        return UNDETERMINED
    try:
        tag = str(langcodes.standardize_tag(code.strip()))
    except ValueError:  # langcodes.tag_parser.LanguageTagError is one
        return UNDETERMINED
    return tag if tag and langcodes.tag_is_valid(tag) else UNDETERMINED


def language_label(tag: str) -> str:
    """A person's name for a tag ("Portuguese (Brazil)"); "Unknown language" for "und"."""
    import langcodes

    if tag == UNDETERMINED:
        return "Unknown language"
    try:
        return str(langcodes.Language.get(tag).display_name())[:100]
    except (ValueError, ImportError, LookupError):
        return tag


def sidecar_language(subtitle_name: str, video_stems: set[str]) -> tuple[str, str] | None:
    """(video stem, language) when `subtitle_name` is a sidecar of one of these videos.

    `Lesson 1.srt` belongs to `Lesson 1` (language "und"), `Lesson 1.pt-BR.srt` to `Lesson 1`
    in pt-BR; a name whose whole stem is a video's wins over a language suffix."""
    path = PurePosixPath(subtitle_name)
    if path.suffix.lower() not in SUBTITLE_FORMATS:
        return None
    stem = path.stem
    if stem in video_stems:
        return stem, UNDETERMINED
    base, dot, suffix = stem.rpartition(".")
    if dot and base in video_stems:
        tag = language_tag(suffix)
        return base, tag
    return None


def _markup(ass_text: str) -> str:
    """pysubs2's ASS text as a safe WebVTT payload: <i> <b> <u> kept, all else plain text."""
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    for match in _OVERRIDE.finditer(ass_text):
        out.append(_plain(ass_text[position : match.start()]))
        for tag, on in _STYLE.findall(match.group()):
            if on == "1" and tag not in open_tags:
                open_tags.append(tag)
                out.append(f"<{tag}>")
            elif on == "0" and tag in open_tags:
                open_tags.remove(tag)
                out.append(f"</{tag}>")
        position = match.end()
    out.append(_plain(ass_text[position:]))
    out.extend(f"</{tag}>" for tag in reversed(open_tags))
    return "".join(out)


def _plain(segment: str) -> str:
    """Text between style changes: line breaks kept, stray tags dropped, the rest escaped."""
    segment = segment.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    return html.escape(_TAG.sub("", segment), quote=False)


def _lines(markup: str) -> str:
    # A blank line would end the cue early, and a payload line may not hold "-->".
    return "\n".join(line.strip() for line in markup.splitlines() if line.strip())


def parse(data: bytes, suffix: str) -> list[Cue]:
    """The cues of a subtitle file (SRT, WebVTT, ASS/SSA by `suffix`), bounded in size and count.

    Too large or unreadable: no cues (logged). Timing is kept to the millisecond."""
    import pysubs2

    if len(data) > MAX_SUBTITLE_BYTES:
        log.info("subtitle file of %d bytes skipped: over %d", len(data), MAX_SUBTITLE_BYTES)
        return []
    text = _decode(data)
    fmt = SUBTITLE_FORMATS.get(suffix.lower())
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    except (pysubs2.Pysubs2Error, ValueError, KeyError, IndexError) as error:
        log.info("unreadable subtitle file: %s", type(error).__name__)
        return []
    cues: list[Cue] = []
    for event in subs:
        if event.is_comment or event.end <= event.start or event.start < 0:
            continue
        markup = _lines(_markup(event.text[:MAX_CUE_CHARS]))
        plain = " ".join(html.unescape(_TAG.sub("", markup)).split())
        if plain:
            cues.append(Cue(event.start / 1000, event.end / 1000, markup, plain))
        if len(cues) >= MAX_CUES:
            log.info("subtitle file cut at %d cues", MAX_CUES)
            break
    return cues


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def webvtt(cues: list[tuple[float, float, str]]) -> str:
    """A WebVTT file of (start_s, end_s, safe payload) cues."""
    blocks = ["WEBVTT", ""]
    for start, end, markup in cues:
        blocks += [f"{_timestamp(start)} --> {_timestamp(end)}", markup, ""]
    return "\n".join(blocks)
