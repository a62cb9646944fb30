"""Media facts, bounded ffmpeg and the converted-file cache, on real files and a real ffmpeg."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import av
import psutil
import pytest

from core.base.models import CatalogItem, utcnow
from core.media import convert, facts, ffmpeg
from core.media.facts import Playable, classify
from core.media.models import ConvertedFile
from tests.helpers import wait_for
from tests.media import make_garbage, make_spinner, make_video

ROOMY = ffmpeg.Limits(time_s=60, cpu_s=120, memory_bytes=4 * 1024**3)


@pytest.mark.parametrize(
    ("container", "video", "audio", "expected"),
    [
        ("mp4", "h264", "aac", "direct"),
        ("webm", "vp9", "opus", "direct"),
        ("mov", "av1", "mp3", "direct"),
        ("webm", "vp8", "vorbis", "direct"),
        ("mp4", "h264", None, "direct"),
        ("mkv", "h264", "aac", "remux"),
        ("avi", "h264", "mp3", "remux"),
        ("flv", "vp9", None, "remux"),
        ("ts", "h264", "aac", "remux"),
        ("mp4", "hevc", "aac", "transcode"),
        ("avi", "mpeg4", "mp3", "transcode"),
        ("mkv", "h264", "ac3", "transcode"),
        ("mp4", None, None, "transcode"),
    ],
)
def test_classification_follows_the_contract(container, video, audio, expected):
    assert classify(container, video, audio) == Playable(expected)


def test_probing_real_files_fills_the_media_block(tmp_path):
    _, mkv = facts.inspect(make_video(tmp_path / "a.mkv", codec="libx264"))
    assert mkv["container"] == "mkv" and mkv["video_codec"] == "h264"
    assert (mkv["width"], mkv["height"], mkv["playable"], mkv["error"]) == (160, 120, "remux", None)
    assert mkv["bitrate"] > 0
    probed, avi = facts.inspect(make_video(tmp_path / "b.avi", seconds=3))
    assert avi["video_codec"] == "mpeg4" and avi["playable"] == "transcode"
    assert abs(probed.duration_s - 3) < 0.3
    _, webm = facts.inspect(make_video(tmp_path / "c.webm", codec="libvpx"))
    assert (webm["container"], webm["video_codec"], webm["playable"]) == ("webm", "vp8", "direct")


def test_a_garbage_file_gets_an_error_not_an_exception(tmp_path):
    probed, block = facts.inspect(make_garbage(tmp_path / "junk.mkv"))
    assert probed.duration_s is None
    assert block["error"] and block["playable"] == "transcode"
    assert str(tmp_path) not in block["error"]


def test_drive_metadata_gives_a_block_until_downloaded():
    meta = {"durationMillis": "2000", "width": 1280, "height": 720}
    mp4 = facts.from_drive("video/mp4", meta)
    assert mp4 is not None and (mp4["width"], mp4["height"], mp4["playable"]) == (
        1280,
        720,
        "direct",
    )
    mkv = facts.from_drive("video/x-matroska", None)
    assert mkv is not None and (mkv["container"], mkv["playable"]) == ("mkv", "transcode")
    assert facts.from_drive("application/pdf", None) is None


def _ffmpegs() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and "ffmpeg" in Path(cmdline[0]).name and "-protocol_whitelist" in cmdline:
            found.append(process)
    return found


def _argv(source: Path, target: Path, mode: Playable = Playable.TRANSCODE) -> list[str]:
    return convert.arguments(source, target, mode, None)


def test_a_garbage_file_fails_with_ffmpegs_reason(tmp_path):
    with pytest.raises(ffmpeg.MediaError, match="could not convert"):
        ffmpeg.run(_argv(make_garbage(tmp_path / "junk.mkv"), tmp_path / "out.mp4"), ROOMY)


def test_a_spinning_file_is_killed_at_the_time_limit(tmp_path):
    spinner = make_spinner(tmp_path / "spin.mkv")
    seen: list[float] = []
    started = time.monotonic()
    limits = ffmpeg.Limits(time_s=2, cpu_s=120, memory_bytes=4 * 1024**3)
    with pytest.raises(ffmpeg.MediaError, match="time limit"):
        ffmpeg.run(_argv(spinner, tmp_path / "out.mp4"), limits, seen.append)
    assert time.monotonic() - started < 10
    assert not [p for p in _ffmpegs() if str(tmp_path) in " ".join(p.info["cmdline"])]


def test_the_cpu_and_memory_limits_hold_in_the_child(tmp_path):
    spinner = make_spinner(tmp_path / "spin.mkv")
    cpu = ffmpeg.Limits(time_s=60, cpu_s=1, memory_bytes=4 * 1024**3)
    with pytest.raises(ffmpeg.MediaError, match="CPU time"):
        ffmpeg.run(_argv(spinner, tmp_path / "out.mp4"), cpu)
    small = ffmpeg.Limits(time_s=60, cpu_s=60, memory_bytes=48 * 1024**2)
    with pytest.raises(ffmpeg.MediaError):
        ffmpeg.run(_argv(spinner, tmp_path / "out2.mp4"), small)


def test_a_stop_kills_ffmpeg_at_once(tmp_path):
    spinner = make_spinner(tmp_path / "spin.mkv")
    calls = []

    def stop() -> bool:
        calls.append(time.monotonic())
        return len(calls) > 2

    with pytest.raises(ffmpeg.Stopped):
        ffmpeg.run(_argv(spinner, tmp_path / "out.mp4"), ROOMY, should_stop=stop)
    assert not [p for p in _ffmpegs() if str(tmp_path) in " ".join(p.info["cmdline"])]


def test_other_protocols_are_refused(tmp_path):
    playlist = tmp_path / "list.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(ffmpeg.MediaError):
        ffmpeg.run(_argv(playlist, tmp_path / "out.mp4"), ROOMY)


def _item(db, title: str) -> int:
    with db.session() as session:
        item = CatalogItem(source="local", source_id=title, title=title, title_key=title)
        session.add(item)
        session.flush()
        return item.id


def _source(path: Path) -> convert.Source:
    return convert.Source(path, f"local:{path.stat().st_size}", facts.inspect(path)[1])


def test_remux_and_transcode_make_faststart_mp4s(settings, db, tmp_path):
    settings = settings.model_copy(update={"data_dir": tmp_path / "data"})
    progress: list[int] = []
    for name, codec, mode in (("a.mkv", "libx264", "remux"), ("b.avi", "mpeg4", "transcode")):
        source = _source(make_video(tmp_path / name, seconds=3, codec=codec))
        item_id = _item(db, name)
        result = convert.convert(
            settings, db, item_id, source, 3.0, lambda cur, _t, _m: progress.append(cur)
        )
        assert result["mode"] == mode
        path = convert.lookup(settings, db, item_id, source.key)
        assert path is not None and path.parent == settings.data_dir / "converted"
        head = path.read_bytes()
        assert head.index(b"moov") < head.index(b"mdat")  # +faststart
        with av.open(str(path)) as done:
            assert done.streams.video[0].codec_context.name == "h264"
        again = convert.convert(settings, db, item_id, source, 3.0, lambda *_: None)
        assert again["mode"] == "cached"
    assert progress[-1] == 100 and any(0 < value < 100 for value in progress)
    assert convert.lookup(settings, db, item_id, "local:another-version") is None


def test_the_cache_evicts_the_least_recently_played(settings, db, tmp_path):
    settings = settings.model_copy(update={"data_dir": tmp_path / "data"})
    sources = [_source(make_video(tmp_path / f"{n}.mkv", codec="libx264")) for n in "abc"]
    ids = [_item(db, f"{n}.mkv") for n in "abc"]
    convert.convert(settings, db, ids[0], sources[0], 2.0, lambda *_: None)
    size = convert.lookup(settings, db, ids[0], sources[0].key).stat().st_size
    small = settings.model_copy(update={"converted_cache_bytes": size * 2 + size // 2})
    convert.convert(small, db, ids[1], sources[1], 2.0, lambda *_: None)
    with db.session() as session:  # both made over a minute ago; the first played since
        session.query(ConvertedFile).update({"last_played_at": utcnow() - timedelta(hours=1)})
    assert convert.lookup(small, db, ids[0], sources[0].key) is not None  # played: now newest
    result = convert.convert(small, db, ids[2], sources[2], 2.0, lambda *_: None)
    assert result["evicted"] == 1
    with db.session() as session:
        kept = {row.item_id for row in session.query(ConvertedFile)}
    assert kept == {ids[0], ids[2]}
    files = sorted(p.name for p in (settings.data_dir / "converted").glob("*.mp4"))
    assert len(files) == 2 and not any(name.startswith(f"{ids[1]}-") for name in files)


def test_the_sweep_removes_only_old_files_no_row_names(settings, db, tmp_path):
    settings = settings.model_copy(update={"data_dir": tmp_path / "data"})
    source = _source(make_video(tmp_path / "a.mkv", codec="libx264"))
    item_id = _item(db, "a.mkv")
    convert.convert(settings, db, item_id, source, 2.0, lambda *_: None)
    folder = convert.cache_dir(settings)
    old, fresh = folder / "77-orphan.mp4", folder / "78-orphan.mp4"
    dead = folder / ".partial-79-dead.mp4"
    for path in (old, fresh, dead):
        path.write_bytes(b"x")
    long_ago = time.time() - settings.media_time_limit_s - 3600
    os.utime(old, (long_ago, long_ago))
    os.utime(dead, (long_ago, long_ago))
    for kept in folder.glob(f"{item_id}-*.mp4"):
        os.utime(kept, (long_ago, long_ago))
    assert convert.sweep(settings, db) == 2
    assert fresh.exists() and not old.exists() and not dead.exists()
    assert convert.lookup(settings, db, item_id, source.key) is not None


RUN_IN_CHILD = """
import sys
from pathlib import Path
from core.media import convert, ffmpeg
limits = ffmpeg.Limits(time_s=600, cpu_s=600, memory_bytes=4 * 1024**3)
argv = convert.arguments(Path(sys.argv[1]), Path(sys.argv[2]), convert.Playable.TRANSCODE, None)
ffmpeg.run(argv, limits)
"""


def test_ffmpeg_dies_with_the_process_that_started_it(tmp_path):
    spinner = make_spinner(tmp_path / "spin.mkv")
    runner = subprocess.Popen(
        [sys.executable, "-c", RUN_IN_CHILD, str(spinner), str(tmp_path / "out.mp4")],
        cwd=Path(__file__).resolve().parents[2],
    )
    found: list[psutil.Process] = []
    try:
        found = wait_for(
            lambda: [p for p in psutil.Process(runner.pid).children() if "ffmpeg" in p.name()],
            30, what="ffmpeg to start",
        )  # fmt: skip
        runner.kill()  # as a worker's pool process is killed by a crash or a hard time limit
        runner.wait()
        _gone, alive = psutil.wait_procs(found, timeout=5)
        assert not alive
    finally:
        runner.kill()
        for process in found:  # should this fail, leave no ffmpeg behind
            with contextlib.suppress(psutil.Error):
                process.kill()
