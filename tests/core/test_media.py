"""Video recognition, probing and thumbnails on real files encoded by PyAV."""

from __future__ import annotations

from core.media import probing as media
from tests.media import make_video


def test_probe_and_thumbnail_of_real_videos(tmp_path):
    for name in ("clip.mp4", "clip.mkv"):
        path = make_video(tmp_path / name, seconds=2)
        info = media.probe(path)
        assert info.width == 160 and info.height == 120
        assert abs(info.duration_s - 2.0) < 0.2
        jpeg = media.thumbnail_jpeg(path, width=96)
        assert jpeg is not None and jpeg[:3] == b"\xff\xd8\xff" and jpeg.endswith(b"\xff\xd9")


def test_videos_are_recognised_by_extension_or_content(tmp_path):
    real = make_video(tmp_path / "lesson.mp4")
    no_extension = tmp_path / "lesson-without-extension"
    no_extension.write_bytes(real.read_bytes())
    text = tmp_path / "notes.txt"
    text.write_text("not a video at all")
    assert media.video_type(real) == "video/mp4"
    assert media.video_type(no_extension) == "video/mp4"
    assert media.video_type(text) is None
    assert media.sniff(b"\x1a\x45\xdf\xa3" + b"\x00" * 20 + b"webm") == "video/webm"
    assert media.sniff(b"RIFF\x00\x00\x00\x00AVI LIST") == "video/x-msvideo"


def test_unreadable_files_give_no_probe_and_no_thumbnail(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 10)
    assert media.probe(broken) == media.Probe(None, None, None)
    assert media.thumbnail_jpeg(broken) is None
