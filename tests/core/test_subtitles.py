"""Subtitles: sidecars and streams indexed with local items, made safe, searched, chapters."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select, text

from core.base.db import database
from core.base.models import CatalogItem
from core.catalog import search, tracks
from core.catalog.indexing import rebuild_local
from core.catalog.models import Subtitle, SubtitleCue
from core.media import subtitles
from tests.media import make_video
from tests.services import services_of
from tests.subtitle_media import HOSTILE_SRT, LESSON_SRT, make_mkv_with_tracks


@pytest.fixture
def media_root(settings):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)  # the shared root as it was: empty
    root.mkdir(parents=True)


def _item(db, source_id):
    with db.session() as session:
        return session.scalars(select(CatalogItem).where(CatalogItem.source_id == source_id)).one()


def _tracks(db, item_id):
    found = tracks.subtitles_for(db, [item_id]).get(item_id, [])
    return {(s.origin, s.language, s.source) for s in found}


def test_sidecars_are_tracks_of_their_video_and_not_items(settings, media_root):
    make_video(media_root / "c" / "Lesson 1.mp4", seconds=1)
    (media_root / "c" / "Lesson 1.srt").write_text(LESSON_SRT)
    (media_root / "c" / "Lesson 1.en.vtt").write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n")
    (media_root / "c" / "Lesson 1.pt-BR.srt").write_text(LESSON_SRT)
    (media_root / "c" / "Orphan.srt").write_text(LESSON_SRT)  # no video: neither item nor track
    db = database(settings.database_url)
    assert rebuild_local(services_of(settings))["items"] == 1
    item = _item(db, "c/Lesson 1.mp4")
    assert _tracks(db, item.id) == {
        ("c/Lesson 1.srt", "und", "sidecar"),
        ("c/Lesson 1.en.vtt", "en", "sidecar"),
        ("c/Lesson 1.pt-BR.srt", "pt-BR", "sidecar"),
    }
    labels = {s.language: s.label for s in tracks.subtitles_for(db, [item.id])[item.id]}
    assert labels["pt-BR"] == "Portuguese (Brazil)" and labels["en"] == "English"

    # A rescan reads nothing unchanged; a removed sidecar's track and cues go.
    with db.session() as session:
        before = session.scalar(select(func.max(Subtitle.id)))
    rebuild_local(services_of(settings))
    with db.session() as session:
        assert session.scalar(select(func.max(Subtitle.id))) == before
    (media_root / "c" / "Lesson 1.srt").unlink()
    rebuild_local(services_of(settings))
    assert ("c/Lesson 1.srt", "und", "sidecar") not in _tracks(db, item.id)
    assert [h.text for h in search.search(db, "photosynthesis").items] == [
        "Today we learn photosynthesis"
    ]


def test_webvtt_keeps_timing_and_only_i_b_u(settings, media_root):
    make_video(media_root / "Lesson 2.mp4", seconds=1)
    (media_root / "Lesson 2.srt").write_text(HOSTILE_SRT)
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    item = _item(db, "Lesson 2.mp4")
    track = tracks.subtitles_for(db, [item.id])[item.id][0]
    vtt = tracks.webvtt_of(db, item.id, track.id)
    assert vtt is not None and vtt.startswith("WEBVTT\n")
    assert "00:00:00.500 --> 00:00:01.500\nalert(1) and\n" in vtt
    assert "<script" not in vtt and "<img" not in vtt and "onerror" not in vtt
    assert "a --&gt; b &amp; c &lt; d" in vtt
    assert vtt.count("-->") == 3  # one per cue: none left in a payload
    assert "<b>bold</b> red <u>under</u>" in vtt
    assert tracks.webvtt_of(db, item.id + 1, track.id) is None  # another item's track


def test_huge_and_garbage_subtitle_files_give_no_cues():
    assert subtitles.parse(b"1\n" * (subtitles.MAX_SUBTITLE_BYTES // 2 + 1), ".srt") == []
    assert subtitles.parse(b"\x00\xff garbage \x1b", ".srt") == []
    many = "".join(
        f"{n}\n00:00:{n % 60:02d},000 --> 00:00:{n % 60:02d},500\nw{n}\n\n"
        for n in range(1, 30_000)
    )
    assert len(subtitles.parse(many.encode(), ".srt")) == subtitles.MAX_CUES


def test_streams_and_chapters_inside_an_mkv(settings, media_root):
    make_mkv_with_tracks(media_root / "Inside.mkv")
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    item = _item(db, "Inside.mkv")
    (track,) = tracks.subtitles_for(db, [item.id])[item.id]
    assert (track.source, track.language, track.origin) == ("embedded", "pt", "stream:1")
    assert "Welcome to the <i>first</i> lesson" in (tracks.webvtt_of(db, item.id, track.id) or "")
    chapters = [(c.title, c.start_s, c.end_s) for c in tracks.chapters_for(db, [item.id])[item.id]]
    assert chapters == [("Intro", 0.0, 2.0), ("Main part", 2.0, 4.0)]


def test_search_quotes_user_terms_and_pages_titles_then_cues(settings, media_root):
    make_video(media_root / "Photosynthesis basics.mp4", seconds=1)
    make_video(media_root / "Other.mp4", seconds=1)
    (media_root / "Other.srt").write_text(LESSON_SRT + "\n3\n00:00:05,000 --> 00:00:06,000\n"
                                          "photosynthesis again\n")  # fmt: skip
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    for hostile in ('"', "photo* OR x", "NEAR(a b)", "a:b", "-x", "')", "\\", "AND", "^"):
        search.search(db, hostile)  # never a syntax error from either database
    first = search.search(db, "Photosynthesis", limit=2)
    assert [h.start_s for h in first.items] == [0.0, 3.0]
    assert first.items[0].title == "Photosynthesis basics"
    second = search.search(db, "photosynthesis", limit=2, cursor=first.next_cursor)
    assert [h.text for h in second.items] == ["photosynthesis again"]
    assert second.next_cursor is None
    assert search.search(db, "learn photosynthesis").items[0].start_s == 3.0
    assert search.search(db, "photosynthesis", course_id="nope").items == []


def test_removing_an_item_removes_its_cues_from_the_index(settings, media_root):
    make_video(media_root / "Gone.mp4", seconds=1)
    (media_root / "Gone.srt").write_text(LESSON_SRT)
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    assert search.search(db, "photosynthesis").items
    (media_root / "Gone.mp4").unlink()
    rebuild_local(services_of(settings))
    assert search.search(db, "photosynthesis").items == []
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SubtitleCue)) == 0
        if session.get_bind().dialect.name == "sqlite":
            rows = session.execute(text("SELECT count(*) FROM subtitle_cues_fts")).scalar()
            assert rows == 0


def test_huge_garbage_and_empty_sidecars_make_no_track(settings, media_root):
    make_video(media_root / "Lesson 3.mp4", seconds=1)
    (media_root / "Lesson 3.en.srt").write_bytes(b"x" * (subtitles.MAX_SUBTITLE_BYTES + 10))
    (media_root / "Lesson 3.pt.srt").write_bytes(b"\x00\xff\xfe garbage")
    (media_root / "Lesson 3.es.srt").write_text("")
    (media_root / "Lesson 3.fr.srt").write_text(LESSON_SRT)
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    item = _item(db, "Lesson 3.mp4")
    assert _tracks(db, item.id) == {("Lesson 3.fr.srt", "fr", "sidecar")}
    (media_root / "Lesson 3.fr.srt").write_text("")  # emptied: its track goes
    rebuild_local(services_of(settings))
    assert _tracks(db, item.id) == set()


def test_a_broken_or_hostile_video_has_no_tracks_and_extraction_is_bounded(tmp_path):
    from core.media import tracks as inside

    garbage = tmp_path / "garbage.mkv"
    garbage.write_bytes(b"\x1a\x45\xdf\xa3" + b"\xff" * 4096)
    assert inside.look_inside(garbage) == inside.Inside([], [])
    missing = inside.Stream(index=3, language="en", title=None)
    assert inside.extract(garbage, missing) == []  # ffmpeg fails: no cues, nothing raised
    assert inside.extract(tmp_path / "absent.mkv", missing) == []
    # A path that reads as another protocol is still a file name to ffmpeg (file: prefix).
    assert inside.extract(tmp_path / "http:" / "x.mkv", missing) == []
