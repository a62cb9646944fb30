"""Courses from every source through one builder: sections, natural order, attachments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.base.db import database
from core.base.errors import ValidationFailed
from core.catalog import store as catalog
from core.catalog.courses import discovery, service
from core.catalog.courses.build import summarise
from core.catalog.courses.membership import courses_of
from core.catalog.courses.models import IMPLICIT_USER
from core.catalog.courses.progress import save
from core.catalog.indexing import rebuild_drive, rebuild_local
from core.catalog.sources.sync import sync_classroom
from tests.fakes.google import drive_file, link
from tests.services import classroom_client, drive_client, services_of

HEADER = b"\x00\x00\x00\x18ftypmp42"  # what a sniffer needs to call a file an MP4


def clip(path: Path) -> Path:
    """A file the local scan takes for a video (no need to decode it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(HEADER + b"\x00" * 64)
    return path


@pytest.fixture
def media_root(settings):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def _courses(settings):
    page = service.list_courses(database(settings.database_url), IMPLICIT_USER, limit=200)
    return {view.entry.title: view for view in page.items}


def _outline(view):
    return [
        (s.title, s.position, [(l.item.title, l.position) for l in s.lessons])  # noqa: E741
        for s in view.sections
    ]


def test_a_folder_course_has_natural_sections_and_lessons(settings, media_root):
    course = media_root / "Python Course"
    for name in ("Lesson 10.mp4", "lesson 1.mp4", "Lesson 2.mp4"):
        clip(course / "Week 2" / name)
    clip(course / "Week 10" / "Wrap up.mp4")
    clip(course / "Week 2" / "Extras" / "Bonus.mp4")
    clip(course / "Welcome.mp4")
    (course / "Week 2" / "Lesson 2.pdf").write_bytes(b"%PDF-1.4")
    (course / "Week 2" / "Reading list.pdf").write_bytes(b"%PDF-1.4")
    (course / "Week 3").mkdir()
    (course / "Week 3" / "notes.txt").write_text("neither a lesson nor an attachment")
    rebuild_local(services_of(settings))

    view = _courses(settings)["Python Course"]
    bonus = view.sections[2].lessons[0].item.id
    assert _belongs(settings, bonus) == "Python Course"
    discovery.add_course(database(settings.database_url), settings, "local", str(course / "Week 2"))
    assert _belongs(settings, bonus) == "Python Course"  # found on its own beats added by hand
    assert _outline(view) == [
        (None, 0, [("Welcome", 1)]),
        ("Week 2", 1, [("lesson 1", 1), ("Lesson 2", 2), ("Lesson 10", 3)]),
        ("Week 2 / Extras", 2, [("Bonus", 1)]),
        ("Week 10", 3, [("Wrap up", 1)]),
    ]
    week2 = view.sections[1]
    assert [a.title for a in week2.lessons[1].attachments] == ["Lesson 2.pdf"]
    assert [a.title for a in week2.attachments] == ["Reading list.pdf"]
    assert all(not lesson.attachments for lesson in week2.lessons if lesson.position != 2)


def test_videos_loose_in_a_root_form_a_course_named_after_it(settings, media_root):
    clip(media_root / "b 10.mp4")
    clip(media_root / "b 9.mp4")
    clip(media_root / "Course" / "x.mp4")
    rebuild_local(services_of(settings))
    courses = _courses(settings)
    assert set(courses) == {media_root.name, "Course"}
    assert _outline(courses[media_root.name]) == [(None, 0, [("b 9", 1), ("b 10", 2)])]


def test_a_course_whose_folder_disappears_keeps_its_progress_and_shows_empty(settings, media_root):
    lesson = clip(media_root / "Gone" / "Lesson 1.mp4")
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    view = _courses(settings)["Gone"]
    item_id = view.lessons[0].item.id
    save(db, IMPLICIT_USER, item_id, position_s=50, duration_s=100)
    shutil.rmtree(lesson.parent)
    rebuild_local(services_of(settings))
    empty = service.get_course(db, view.entry.id, IMPLICIT_USER)
    assert empty.sections == []
    assert summarise(empty).total == 0
    clip(lesson)  # the folder comes back: a new item, the course fills again
    rebuild_local(services_of(settings))
    assert len(service.get_course(db, view.entry.id, IMPLICIT_USER).lessons) == 1
    from core.catalog.courses.models import LessonProgress

    with db.session() as session:
        kept = session.get(LessonProgress, (IMPLICIT_USER, item_id))
    assert kept is not None and kept.position_s == 50


def test_hidden_courses_stay_hidden_after_a_rescan_and_come_back_when_added(settings, media_root):
    clip(media_root / "Course" / "a.mp4")
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    entry = _courses(settings)["Course"].entry
    discovery.hide_course(db, entry.id)
    rebuild_local(services_of(settings))
    assert "Course" not in _courses(settings)
    again, created = discovery.add_course(db, settings, "local", str(media_root / "Course"))
    assert (again.id, created) == (entry.id, False)
    assert "Course" in _courses(settings)


def test_classroom_topics_are_sections_in_the_order_topics_list_gives(settings, classroom):
    video = [classroom.add_file(f"v{n}.mp4", duration_ms=60_000) for n in range(4)]
    slides = classroom.add_file("slides.pdf", mime_type="application/pdf")
    course = classroom.add_course("Física")
    first = classroom.add_topic(course, "Unidade 1")
    second = classroom.add_topic(course, "Unidade 2")
    classroom.move_topic(course, second, 0)  # the teacher dragged Unidade 2 to the top
    classroom.add_course_material(course, "Sem tópico", [drive_file(video[0], "Boas-vindas")])
    classroom.add_coursework(
        course, "Aula 1", [drive_file(video[1], "Aula 1"), drive_file(slides, "Slides")],
        topic_id=first,
    )  # fmt: skip
    classroom.add_course_material(
        course, "Aula 2", [drive_file(video[2], "Aula 2")], topic_id=first
    )
    classroom.add_course_material(course, "Extra", [drive_file(video[3], "Extra")], topic_id=second)
    classroom.add_course_material(
        course, "Leitura", [link("https://example.org/r", "Leitura")], topic_id=second
    )
    sync_classroom(
        database(settings.database_url), classroom_client(settings), drive_client(settings)
    )
    view = _courses(settings)["Física"]
    assert _outline(view) == [
        (None, 0, [("Boas-vindas", 1)]),
        ("Unidade 2", 1, [("Extra", 1)]),
        ("Unidade 1", 2, [("Aula 1", 1), ("Aula 2", 2)]),  # oldest first
    ]
    assert [a.title for a in view.sections[2].lessons[0].attachments] == ["Slides"]
    assert [a.title for a in view.sections[1].attachments] == ["Leitura"]
    assert _belongs(settings, view.sections[2].lessons[1].item.id) == "Física"


def test_drive_subfolders_are_courses_with_nested_sections(settings, drive):
    course = drive.add_folder("Curso")
    week = drive.add_folder("Semana 2", parent=course)
    deeper = drive.add_folder("Extras", parent=week)
    drive.add_file("Aula 10.mp4", parent=week, duration_ms=1000)
    drive.add_file("Aula 2.mp4", parent=week, duration_ms=1000)
    drive.add_file("Aula 2.pdf", parent=week, mime_type="application/pdf")
    drive.add_file("Bônus.mp4", parent=deeper, duration_ms=1000)
    drive.add_file("Solto.mp4", duration_ms=1000)  # loose in the indexed root
    rebuild_drive(services_of(settings), drive_client(settings))
    courses = _courses(settings)
    assert set(courses) == {"Curso", "My Drive"}
    view = courses["Curso"]
    assert _outline(view) == [
        ("Semana 2", 1, [("Aula 2.mp4", 1), ("Aula 10.mp4", 2)]),
        ("Semana 2 / Extras", 2, [("Bônus.mp4", 1)]),
    ]
    assert [a.title for a in view.sections[0].lessons[0].attachments] == ["Aula 2.pdf"]
    assert _outline(courses["My Drive"]) == [(None, 0, [("Solto.mp4", 1)])]
    assert _belongs(settings, view.sections[1].lessons[0].item.id) == "Curso"
    assert _belongs(settings, courses["My Drive"].lessons[0].item.id) == "My Drive"


def test_videos_loose_in_an_indexed_drive_folder_are_a_course_named_as_drive_names_it(
    settings, drive
):
    indexed = drive.add_folder("Física 101")
    drive.add_file("Aula 1.mp4", parent=indexed, duration_ms=1000)
    scoped = settings.model_copy(update={"drive_folder_ids": [indexed]})
    rebuild_drive(services_of(scoped), drive_client(scoped))
    courses = _courses(scoped)
    assert _outline(courses["Física 101"]) == [(None, 0, [("Aula 1.mp4", 1)])]  # not its id
    assert indexed not in courses


def _belongs(settings, item_id):
    """The title of the course "continue watching" shows for an item."""
    db = database(settings.database_url)
    with db.session() as session:
        found = courses_of(session, [catalog.get_item(db, item_id)])
    return found[item_id].title if item_id in found else None


def test_folder_names_with_pattern_characters_hold_only_their_own_lessons(settings, media_root):
    clip(media_root / "C++ [2024] *best*? 100%_" / "a.mp4")
    clip(media_root / "C++ [2024] xbestx1 100%_" / "b.mp4")  # what a wildcard would also match
    clip(media_root / "C" / "c.mp4")
    rebuild_local(services_of(settings))
    courses = _courses(settings)
    assert _outline(courses["C++ [2024] *best*? 100%_"]) == [(None, 0, [("a", 1)])]
    assert _outline(courses["C"]) == [(None, 0, [("c", 1)])]


def test_a_progress_save_is_one_statement(settings, media_root, monkeypatch):
    from tests.core.test_prepared_write import recording

    clip(media_root / "Course" / "a.mp4")
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    item_id = _courses(settings)["Course"].lessons[0].item.id
    save(db, IMPLICIT_USER, item_id, position_s=1, duration_s=100)  # the connection is warm
    statements = recording(monkeypatch, db.engine)
    saved = save(db, IMPLICIT_USER, item_id, position_s=50)
    assert (saved.position_s, saved.duration_s, saved.watched) == (50, 100, False)
    # The one upsert, alone (no BEGIN, SET or COMMIT beside it); no read first, no ORM.
    [upsert] = statements
    assert "ON CONFLICT" in upsert.upper()
    if db.engine.dialect.name == "postgresql":  # its own commit relaxed, inside it
        assert "set_config" in upsert


def test_progress_is_per_person(settings, media_root):
    clip(media_root / "Course" / "a.mp4")
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    item_id = _courses(settings)["Course"].lessons[0].item.id
    save(db, 7, item_id, position_s=50, duration_s=100)
    save(db, IMPLICIT_USER, item_id, watched=True)
    mine = service.get_course(db, _courses(settings)["Course"].entry.id, 7).lessons[0].progress
    theirs = service.get_course(db, _courses(settings)["Course"].entry.id, 8).lessons[0].progress
    assert (mine.position_s, mine.watched) == (50, False)
    assert theirs is None


def test_adding_an_indexed_drive_folder_by_hand(settings, drive):
    course = drive.add_folder("Curso")
    week = drive.add_folder("Semana 1", parent=course)
    drive.add_file("Aula 1.mp4", parent=week, duration_ms=1000)
    rebuild_drive(services_of(settings), drive_client(settings))
    db = database(settings.database_url)
    entry, created = discovery.add_course(db, settings, "drive", week)
    assert created and entry.title == "Semana 1"
    assert _outline(service.get_course(db, entry.id, IMPLICIT_USER)) == [
        (None, 0, [("Aula 1.mp4", 1)])
    ]
    again, created = discovery.add_course(db, settings, "drive", week)
    assert (again.id, created) == (entry.id, False)
    with pytest.raises(ValidationFailed):  # not indexed (yet): no rebuild has seen it
        discovery.add_course(db, settings, "drive", drive.add_folder("Novo"))
    with pytest.raises(ValidationFailed):
        discovery.add_course(db, settings, "drive", "no-such-folder")


def test_a_drive_folder_added_later_becomes_a_course_on_the_next_sync(settings, drive):
    from core.catalog.indexing import sync_drive

    rebuild_drive(services_of(settings), drive_client(settings))
    assert "Nova turma" not in _courses(settings)
    folder = drive.add_folder("Nova turma")
    drive.add_file("Aula 1.mp4", parent=folder, duration_ms=1000)
    sync_drive(services_of(settings), drive_client(settings))
    assert _outline(_courses(settings)["Nova turma"]) == [(None, 0, [("Aula 1.mp4", 1)])]
