"""The course page's per-process cache (api/course_cache.py): a hit answers the same bytes as the
page built without it, and every kind of write to what the page is built from is seen at the
next request, whichever process or connection made it; a hit, and the list, read in one round
trip (api/course_hits.py): no statement through a SQLAlchemy connection but the list's page of
entries."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, update

from api.course_cache import _KEY, LISTED, PAGES
from core.base import signing
from core.base.db import database, session_scope
from core.base.models import CatalogFolder, CatalogItem, Course, Download
from core.catalog.courses import progress
from core.catalog.courses.layout import prefix_bounds
from core.catalog.courses.models import CourseEntry, LessonProgress
from core.catalog.indexing import rebuild_drive, rebuild_local
from core.catalog.sources.sync import sync_classroom
from core.catalog.tracks import Track, put_chapters, put_track
from core.downloads import state
from core.media.subtitles import Cue
from core.media.tracks import ChapterMark
from tests.api.test_auth import TOKEN
from tests.core.test_courses import clip
from tests.fakes.google import drive_file, link
from tests.services import classroom_client, drive_client, services_of

OTHER_USER = 7


@pytest.fixture
def pair(make_app):
    """The same database through an app with the cache and one without it."""
    return make_app(course_cache_size=4).test_client(), make_app(course_cache_size=0).test_client()


def _pages(app, store: str = PAGES) -> dict:
    stores = app.application.extensions.get(_KEY)
    return stores[store][0] if stores else {}


def _read_list(pair, *, hit: bool = False) -> dict:
    """The list through both apps, byte for byte equal; `hit`: every course from its copy."""
    cached, plain = pair
    kept = dict(_pages(cached, LISTED))
    answer = cached.get("/api/courses?limit=100")
    assert answer.status_code == 200, answer.get_json()
    if hit:
        assert kept and all(_pages(cached, LISTED)[key] is value for key, value in kept.items())
    assert answer.data == plain.get("/api/courses?limit=100").data
    return answer.get_json()


def _read(pair, course_id: int, *, hit: bool = False) -> dict:
    """The page through both apps, asserted byte for byte equal; `hit`: from the kept copy."""
    cached, plain = pair
    kept = _pages(cached).get(course_id)
    answer = cached.get(f"/api/courses/{course_id}")
    assert answer.status_code == 200, answer.get_json()
    if hit:
        assert kept is not None and _pages(cached).get(course_id) is kept
    assert answer.data == plain.get(f"/api/courses/{course_id}").data
    return answer.get_json()


def _reread(pair, course_id: int) -> dict:
    """Read (built), read again (a hit): the same page."""
    first = _read(pair, course_id)
    assert _read(pair, course_id, hit=True) == first
    listed = _read_list(pair)
    assert _read_list(pair, hit=True) == listed
    return first


def _course_id(pair, title: str) -> int:
    listed = pair[1].get("/api/courses?limit=100").get_json()["items"]
    return next(course["id"] for course in listed if course["title"] == title)


def _lessons(page: dict) -> list[dict]:
    return [lesson for section in page["sections"] for lesson in section["lessons"]]


@pytest.fixture
def algebra(settings):
    """A local course: sections, natural order, slides beside Lesson 1, a loose PDF."""
    root = settings.media_roots[0]
    shutil.rmtree(root / "Algebra", ignore_errors=True)
    for name in ("Lesson 10.mp4", "Lesson 2.mp4", "Lesson 1.mp4", "Unit 2/Lesson 1.mp4"):
        clip(root / "Algebra" / name)
    (root / "Algebra" / "Lesson 1.pdf").write_bytes(b"%PDF-1.4")
    (root / "Algebra" / "Unit 2" / "Reading.pdf").write_bytes(b"%PDF-1.4")
    rebuild_local(services_of(settings))
    yield root / "Algebra"
    shutil.rmtree(root / "Algebra")  # other modules' fixtures expect files only in the root


def _track(origin: str, language: str) -> Track:
    return Track("sidecar", origin, origin, language, [Cue(0.0, 1.0, "Olá", "Olá")])


def test_a_hit_is_the_built_page_with_downloads_tracks_attachments_and_progress(
    pair, settings, algebra
):
    course_id = _course_id(pair, "Algebra")
    ids = [lesson["id"] for lesson in _lessons(_read(pair, course_id))]
    db = database(settings.database_url)
    with session_scope(settings.database_url) as session:
        put_track(session, ids[0], _track("a.srt", "pt-BR"))
        put_chapters(session, ids[0], [ChapterMark("Início", 0.0, 5.0)])
        session.add(Download(url="https://v.example/1", kind="ytdlp", state="running",
                             item_id=ids[1], progress={"percent": 40.0}))  # fmt: skip
        session.add(Download(url="https://v.example/2", kind="ytdlp", state="succeeded",
                             item_id=ids[2], file_path="done/x.mp4", file_size=9))  # fmt: skip
    progress.save(db, 0, ids[0], position_s=1.0, duration_s=2.0)
    progress.save(db, 0, ids[1], watched=True)
    page = _reread(pair, course_id)
    lessons = _lessons(page)
    assert lessons[0]["subtitles"][0]["language"] == "pt-BR" and lessons[0]["chapters"]
    assert lessons[1]["download"]["percent"] == 40.0 and lessons[2]["download"]["file_url"]
    assert lessons[0]["attachments"] and page["sections"][1]["attachments"]
    assert page["progress"]["watched"] == 1 and page["progress"]["next_item_id"] == ids[0]
    assert lessons[0]["progress"]["updated_at"] is not None


def test_each_write_is_seen_at_the_next_request(pair, settings, algebra):
    course_id = _course_id(pair, "Algebra")
    url = settings.database_url
    first = _lessons(_reread(pair, course_id))[0]["id"]

    clip(algebra / "Lesson 3.mp4")  # a rebuild adds one,
    (algebra / "Lesson 10.mp4").rename(algebra / "Lesson 11.mp4")  # renames one
    (algebra / "Lesson 2.mp4").unlink()  # and removes one
    rebuild_local(services_of(settings))
    titles = [lesson["title"] for lesson in _lessons(_reread(pair, course_id))]
    assert titles == ["Lesson 1", "Lesson 3", "Lesson 11", "Lesson 1"]

    with session_scope(url) as session:
        queued = Download(url="https://v.example/3", kind="ytdlp", state="running", item_id=first)
        session.add(queued)
    assert _lessons(_reread(pair, course_id))[0]["download"]["state"] == "running"
    with session_scope(url) as session:  # a download finishing: a guarded Core UPDATE
        state.succeed(session, queued.id, file_path="done/y.mp4", size=5, sha256="0" * 64)
    assert _lessons(_reread(pair, course_id))[0]["download"]["state"] == "succeeded"

    with session_scope(url) as session:
        put_track(session, first, _track("b.vtt", "en"))
    assert [s["language"] for s in _lessons(_reread(pair, course_id))[0]["subtitles"]] == ["en"]
    with session_scope(url) as session:
        put_track(session, first, _track("b.vtt", "fr"))  # the same track replaced
    assert [s["language"] for s in _lessons(_reread(pair, course_id))[0]["subtitles"]] == ["fr"]
    for title in ("Um", "Dois"):  # replaced by as many chapters at the same times
        with session_scope(url) as session:
            put_chapters(session, first, [ChapterMark(title, 0.0, 5.0)])
        assert _lessons(_reread(pair, course_id))[0]["chapters"][0]["title"] == title

    with session_scope(url) as session:  # a probe's media facts, through the ORM
        session.get(CatalogItem, first).media = {"playable": "transcode", "container": "avi"}
    assert _lessons(_reread(pair, course_id))[0]["playback_url"].endswith("/playback")

    with session_scope(url) as session:
        session.get(CourseEntry, course_id).title = "Álgebra"
    assert _reread(pair, course_id)["title"] == "Álgebra"
    assert pair[0].delete(f"/api/courses/{course_id}").status_code == 204
    assert pair[0].get(f"/api/courses/{course_id}").status_code == 404


def test_progress_is_read_per_caller_on_a_hit(pair, settings, algebra):
    course_id = _course_id(pair, "Algebra")
    ids = [lesson["id"] for lesson in _lessons(_reread(pair, course_id))]
    db = database(settings.database_url)
    progress.save(db, OTHER_USER, ids[1], watched=True)  # someone else's: not on this page
    page = _read(pair, course_id, hit=True)
    assert page["progress"]["watched"] == 0 and not _lessons(page)[1]["progress"]["watched"]
    progress.save(db, 0, ids[2], position_s=30.0, duration_s=100.0)  # the caller's own
    page = _read(pair, course_id, hit=True)
    assert page["progress"]["next_item_id"] == ids[2]
    (listed,) = _read_list(pair, hit=True)["items"]
    assert listed["progress"] == page["progress"]
    assert _lessons(page)[2]["progress"]["position_s"] == 30.0


def test_a_write_by_another_process_is_seen(pair, settings, algebra):
    course_id = _course_id(pair, "Algebra")
    first = _lessons(_reread(pair, course_id))[0]["id"]
    code = (
        "import sys\n"
        "from sqlalchemy import create_engine, update\n"
        "from core.base.db import session_scope\n"
        "from core.base.models import CatalogItem\n"
        "with session_scope(sys.argv[1]) as s:\n"
        "    s.execute(update(CatalogItem).where(CatalogItem.id == int(sys.argv[2]))"
        ".values(title='Renamed elsewhere'))\n"
    )
    subprocess.run([sys.executable, "-c", code, settings.database_url, str(first)], check=True)
    assert _lessons(_reread(pair, course_id))[0]["title"] == "Renamed elsewhere"
    with session_scope(settings.database_url) as session:  # and by another connection, Core
        session.execute(update(CatalogItem).where(CatalogItem.id == first).values(size_bytes=1))
    assert _lessons(_reread(pair, course_id))[0]["size_bytes"] == 1


def test_classroom_topics_renamed_and_moved_are_seen(pair, settings, classroom):
    videos = [classroom.add_file(f"v{n}.mp4", duration_ms=60_000) for n in range(2)]
    course = classroom.add_course("Física")
    first = classroom.add_topic(course, "Unidade 1")
    second = classroom.add_topic(course, "Unidade 2")
    classroom.add_coursework(course, "Aula 1", [drive_file(videos[0], "Aula 1")], topic_id=first)
    classroom.add_course_material(course, "Aula 2", [drive_file(videos[1], "Aula 2")],
                                  topic_id=second)  # fmt: skip
    classroom.add_course_material(course, "Ler", [link("https://example.org/r", "Ler")])
    db = database(settings.database_url)

    def sync():
        sync_classroom(db, classroom_client(settings), drive_client(settings))

    sync()
    course_id = _course_id(pair, "Física")
    assert [s["title"] for s in _reread(pair, course_id)["sections"]] == [
        None, "Unidade 1", "Unidade 2",
    ]  # fmt: skip
    classroom.rename_topic(course, first, "Unidade Um")
    classroom.move_topic(course, second, 0)
    sync()
    assert [s["title"] for s in _reread(pair, course_id)["sections"]] == [
        None, "Unidade 2", "Unidade Um",
    ]  # fmt: skip
    with session_scope(settings.database_url) as session:  # the topics alone (no item written)
        row = session.get(Course, course)
        row.topics = [{**topic, "name": topic["name"] + "!"} for topic in row.topics]
    assert [s["title"] for s in _reread(pair, course_id)["sections"]] == [
        None, "Unidade 2!", "Unidade Um!",
    ]  # fmt: skip


def test_drive_folder_renamed_is_seen(pair, settings, drive):
    course = drive.add_folder("Curso")
    week = drive.add_folder("Semana 1", parent=course)
    drive.add_file("Aula 1.mp4", parent=week, duration_ms=1000)
    drive.add_file("Aula 1.pdf", parent=week, mime_type="application/pdf")
    drive.add_file("Intro.mp4", parent=course, duration_ms=1000)
    rebuild_drive(services_of(settings), drive_client(settings))
    course_id = _course_id(pair, "Curso")
    assert [s["title"] for s in _reread(pair, course_id)["sections"]] == [None, "Semana 1"]
    drive.rename(week, "Semana Um")
    rebuild_drive(services_of(settings), drive_client(settings))
    assert [s["title"] for s in _reread(pair, course_id)["sections"]] == [None, "Semana Um"]
    with session_scope(settings.database_url) as session:  # the folder alone (no item written)
        session.execute(
            update(CatalogFolder).where(CatalogFolder.source_id == week).values(name="S1")
        )
    assert [s["title"] for s in _reread(pair, course_id)["sections"]] == [None, "S1"]


def _expiries(page: dict) -> set[str]:
    return {parse_qs(urlsplit(lesson["stream_url"]).query)["exp"][0] for lesson in _lessons(page)}


def test_signed_urls_are_kept_only_within_their_window(make_app, settings, algebra):
    app = make_app(
        course_cache_size=4, admin_token=TOKEN, require_auth_for_reads=True, media_url_ttl_s=60
    )
    client, bearer = app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    course_id = client.get("/api/courses", headers=bearer).get_json()["items"][0]["id"]

    def read() -> tuple[dict, int, int]:
        before = signing.expiry(time.time(), 60)
        page = client.get(f"/api/courses/{course_id}", headers=bearer).get_json()
        return page, before, signing.expiry(time.time(), 60)

    page, before, after = read()
    while before != after:  # read again inside one window
        page, before, after = read()
    assert _expiries(page) == {str(before)}
    while signing.expiry(time.time(), 60) == before:
        time.sleep(0.2)
    page, now, after = read()
    assert now != before and _expiries(page) <= {str(now), str(after)}


# Issue 26: one round trip per hit (api/course_hits.py).
@contextmanager
def _counted(settings):
    """The statements run through SQLAlchemy connections meanwhile (raw DBAPI reads not)."""
    engine = database(settings.database_url).engine
    seen: list[str] = []

    def note(conn, cursor, statement, *_):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_page_hit_runs_no_statement_through_sqlalchemy(pair, settings, algebra):
    course_id = _course_id(pair, "Algebra")
    ids = [lesson["id"] for lesson in _lessons(_read(pair, course_id))]
    progress.save(database(settings.database_url), 0, ids[1], position_s=3.0, duration_s=9.0)
    with _counted(settings) as seen:
        page = _read(pair, course_id, hit=True)  # the plain app's page is counted too
        assert page["progress"]["next_item_id"] == ids[1]
        seen_by_plain = len(seen)
        seen.clear()
        assert pair[0].get(f"/api/courses/{course_id}").status_code == 200
    assert seen == [] and seen_by_plain > 0


def test_the_list_takes_a_summary_from_the_page_copy_in_one_round_trip(pair, settings, algebra):
    course_id = _course_id(pair, "Algebra")
    cached = pair[0]
    _read(pair, course_id)  # builds the page copy, not the summary
    assert course_id not in _pages(cached, LISTED)
    _read_list(pair)
    assert _pages(cached, LISTED)[course_id].head is _pages(cached, PAGES)[course_id].head
    with _counted(settings) as seen:
        assert cached.get("/api/courses?limit=100").status_code == 200
    assert len(seen) == 1 and "course_entries" in seen[0]  # the page of entries alone
    _read_list(pair, hit=True)


def test_a_classroom_page_hit_too(pair, settings, classroom):
    video = classroom.add_file("v.mp4", duration_ms=60_000)
    course = classroom.add_course("Química")
    topic = classroom.add_topic(course, "Unidade 1")
    classroom.add_coursework(course, "Aula 1", [drive_file(video, "Aula 1")], topic_id=topic)
    sync_classroom(database(settings.database_url), classroom_client(settings),
                   drive_client(settings))  # fmt: skip
    course_id = _course_id(pair, "Química")
    _read(pair, course_id)
    with _counted(settings) as seen:
        sections = _read(pair, course_id, hit=True)["sections"]
        assert [section["title"] for section in sections] == ["Unidade 1"]
        seen.clear()
        assert pair[0].get(f"/api/courses/{course_id}").status_code == 200
    assert seen == []


def test_prefix_bounds_hold_exactly_what_starts_with_the_prefix():
    first, beyond = prefix_bounds("Álgebra 1/")
    inside = ["Álgebra 1/", "Álgebra 1/a", "Álgebra 1/\U0010ffff\U0010ffff", "Álgebra 1//x"]
    outside = ["Álgebra 1", "Álgebra 10/x", "Álgebra 1.x", "Álgebra 0/x", "Álgebra 1 /x"]
    for text in inside:
        assert first <= text < beyond
    for text in outside:
        assert not first <= text < beyond
    assert prefix_bounds("") is None and prefix_bounds("a\U0010ffff") is None


def test_progress_written_again_only_for_the_same_values(pair, settings, algebra):
    """A hit reuses how it wrote a progress row only for a row of the same values: -0.0 equals
    0.0 but is written "-0.0" (PostgreSQL keeps the sign), a later save is a new row."""
    course_id = _course_id(pair, "Algebra")
    ids = [lesson["id"] for lesson in _lessons(_read(pair, course_id))]
    db = database(settings.database_url)
    progress.save(db, 0, ids[0], watched=True)
    first = _lessons(_read(pair, course_id, hit=True))[0]["progress"]
    assert first["position_s"] == 0.0 and first["watched"]
    table = LessonProgress.__table__
    for position in (-0.0, 0.0, 12.5, -0.0):
        with session_scope(settings.database_url) as session:
            session.execute(
                update(table).where(table.c.item_id == ids[0]).values(position_s=position)
            )
        for _ in range(2):
            assert (
                _lessons(_read(pair, course_id, hit=True))[0]["progress"]["position_s"] == position
            )
