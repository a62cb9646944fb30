"""An item's place in its course (core.catalog.placement), from what the catalog holds: Drive
folders below an indexed folder, Classroom courses; natural order, 1-based positions."""

from __future__ import annotations

from sqlalchemy import select

from core.base.db import database
from core.base.models import CatalogItem
from core.catalog import indexing
from core.catalog.placement import natural_key, placement
from core.catalog.sources.sync import sync_classroom
from tests.fakes.google import drive_file
from tests.services import classroom_client, drive_client, services_of


def _items(settings, source):
    with database(settings.database_url).session() as session:
        rows = session.scalars(select(CatalogItem).where(CatalogItem.source == source))
        return {item.source_id: item for item in rows}


def _place(settings, item, roots=("root",)):
    with database(settings.database_url).session() as session:
        return placement(session, session.get(CatalogItem, item.id), roots)


def test_natural_order_puts_lesson_2_before_lesson_10_whatever_the_case():
    titles = ["lesson 10", "Lesson 2", "lesson 1", "Appendix"]
    assert sorted(titles, key=natural_key) == ["Appendix", "lesson 1", "Lesson 2", "lesson 10"]


def test_a_drive_tree_gives_course_sections_seasons_and_positions(settings, drive):
    course = drive.add_folder("Python Básico")
    second = drive.add_folder("Módulo 10", course)
    first = drive.add_folder("Módulo 2", course)
    deep = drive.add_folder("Extra", first)
    ids = {
        "intro": drive.add_file("Intro.mp4", course, size=100),
        "a10": drive.add_file("Aula 10.mp4", first, size=100),
        "a2": drive.add_file("aula 2.mp4", first, size=100),
        "b1": drive.add_file("Aula 1.mp4", second, size=100),
        "x": drive.add_file("Bonus.mp4", deep, size=100),
        "loose": drive.add_file("Solta.mp4", size=100),
    }
    drive.add_file("slides.pdf", first, mime_type="application/pdf", size=10)
    indexing.rebuild_drive(services_of(settings), drive_client(settings))
    items = _items(settings, "drive")
    got = {name: _place(settings, items[file_id]) for name, file_id in ids.items()}
    assert (got["intro"].course, got["intro"].section, got["intro"].season) == (
        "Python Básico",
        None,
        0,
    )
    assert got["intro"].position == 1
    assert (got["a2"].section, got["a2"].season, got["a2"].position) == ("Módulo 2", 1, 1)
    assert (got["a10"].section, got["a10"].season, got["a10"].position) == ("Módulo 2", 1, 2)
    assert (got["x"].section, got["x"].season, got["x"].position) == ("Módulo 2 / Extra", 2, 1)
    assert (got["b1"].section, got["b1"].season, got["b1"].position) == ("Módulo 10", 3, 1)
    assert got["a2"].course_key == got["b1"].course_key == f"drive:{course}"
    # Videos loose in a root form a course named after it (CONTRACT 8.3), as the course page shows.
    assert (got["loose"].course, got["loose"].section, got["loose"].position) == (
        "My Drive",
        None,
        1,
    )


def test_below_an_indexed_folder_each_subfolder_is_a_course(settings, drive):
    indexed = drive.add_folder("Aulas gravadas")
    loose = drive.add_file("Aula 1.mp4", indexed, size=100)
    inner = drive.add_file("Aula 1.mp4", drive.add_folder("Curso X", indexed), size=100)
    scoped = settings.model_copy(update={"drive_folder_ids": [indexed]})
    indexing.rebuild_drive(services_of(scoped), drive_client(scoped))
    items = _items(settings, "drive")
    assert _place(settings, items[inner], [indexed]).course == "Curso X"
    # Videos loose in an indexed folder form a course of their own, placed as its course page
    # shows it: named as Drive names the folder (the rebuild keeps the indexed folders' names).
    shown = _place(settings, items[loose], [indexed])
    assert (shown.course, shown.section, shown.position) == ("Aulas gravadas", None, 1)
    assert shown.course_key == f"drive:{indexed}"


def test_classroom_lessons_are_placed_oldest_first_in_their_course(settings, classroom):
    videos = [classroom.add_file(f"aula {i}.mp4", size=1000, seed=i) for i in range(3)]
    course = classroom.add_course("Física 1")
    for index, video in enumerate(videos):
        classroom.add_coursework(course, f"Semana {index}", [drive_file(video, f"Aula {index}")])
    sync_classroom(
        database(settings.database_url), classroom_client(settings), drive_client(settings)
    )
    items = [i for i in _items(settings, "classroom").values() if i.is_video]
    places = [_place(settings, item) for item in items]
    assert {p.course for p in places} == {"Física 1"} and {p.section for p in places} == {None}
    assert sorted(p.position for p in places) == [1, 2, 3]
