"""Classroom sync against the fake Google: every kind of material, paging, removals, faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.base.db import database, session_scope
from core.base.errors import TransientError, UpstreamRefused
from core.base.models import Course
from core.catalog import store as catalog
from core.catalog.indexing import rebuild_drive
from core.catalog.sources.courses import course_videos, list_courses
from core.catalog.sources.sync import sync_classroom
from core.google.classroom import ClassroomClient
from tests.fakes.google import drive_file, form, link, youtube
from tests.services import classroom_client, drive_client, services_of


def _sync(settings, on_progress=None, client=None):
    client = client or classroom_client(settings)
    drive = drive_client(settings)
    if on_progress is None:
        return sync_classroom(database(settings.database_url), client, drive)
    return sync_classroom(database(settings.database_url), client, drive, on_progress)


def _items(settings) -> dict:
    page = catalog.list_items(database(settings.database_url), source="classroom", limit=200)
    assert page.next_cursor is None
    return {item.source_id: item for item in page.items}


def _courses(settings) -> dict[str, str | None]:
    with session_scope(settings.database_url) as session:
        return {course.id: course.state for course in session.query(Course)}


def _school(google):
    """Three courses in three states, with every kind of material in both kinds of post."""
    video = google.add_file("aula 1.mp4", duration_ms=90_000)
    pdf = google.add_file("apostila.pdf", mime_type="application/pdf")
    physics = google.add_course("Física", section="Turma A")
    google.add_coursework(
        physics,
        "Semana 1",
        [
            drive_file(video, "Aula 1"),
            drive_file(pdf, "Apostila"),
            youtube("yt-1", "Revisão"),
            link("https://example.org/exercicios", "Exercícios"),
            form("https://docs.google.com/forms/d/q1", "Quiz"),
        ],
    )
    google.add_course_material(physics, "Extra", [youtube("yt-2", "Experimento")])
    old = google.add_course("História", state="ARCHIVED")
    google.add_course_material(old, "Arquivo", [link("https://example.org/fontes", "Fontes")])
    pending = google.add_course("Química", state="PROVISIONED")
    google.add_coursework(pending, "Ainda não", [youtube("yt-3", "Não indexado")])
    return {"video": video, "pdf": pdf, "physics": physics, "old": old, "pending": pending}


def test_sync_catalogues_drive_files_youtube_and_links(settings, classroom):
    school = _school(classroom)
    progress = []
    result = _sync(settings, lambda *args: progress.append(args))

    items = _items(settings)
    yt1 = "https://www.youtube.com/watch?v=yt-1"
    yt2 = "https://www.youtube.com/watch?v=yt-2"
    exercises, sources = "https://example.org/exercicios", "https://example.org/fontes"
    assert set(items) == {school["video"], school["pdf"], yt1, yt2, exercises, sources}
    video, pdf = items[school["video"]], items[school["pdf"]]
    assert (video.title, video.is_video, video.mime_type) == ("Aula 1", True, "video/mp4")
    assert video.duration_s == 90.0 and video.size_bytes == 4096 and video.checksum
    assert video.extra["kind"] == "driveFile" and video.extra["drive_file_id"] == school["video"]
    assert video.url.startswith("https://drive.google.com/")
    assert video.thumbnail_link.startswith(classroom.base_url)  # Drive's own thumbnailLink
    assert (pdf.is_video, pdf.mime_type) == (False, "application/pdf")
    youtube_item = items[yt1]
    assert (youtube_item.title, youtube_item.is_video, youtube_item.url) == ("Revisão", True, yt1)
    assert (
        youtube_item.extra["kind"] == "youtubeVideo" and "drive_file_id" not in youtube_item.extra
    )
    assert youtube_item.extra["thumbnail_url"].startswith("https://i.ytimg.com/")
    assert (items[exercises].is_video, items[exercises].title) == (False, "Exercícios")
    assert items[exercises].extra["kind"] == "link"
    assert {item.course_id for item in items.values()} == {school["physics"], school["old"]}
    assert items[yt2].extra["coursework_id"] != items[yt1].extra["coursework_id"]

    assert _courses(settings) == {
        school["physics"]: "ACTIVE", school["old"]: "ARCHIVED", school["pending"]: "PROVISIONED",
    }  # fmt: skip
    assert result["courses"] == 3 and result["indexed_courses"] == 2
    assert (result["items"], result["videos"], result["drive_lookups"]) == (6, 3, 2)
    assert progress[0][:2] == (0, None) and progress[-1][:2] == (2, 2)
    currents = [current for current, _, _ in progress]
    assert currents == sorted(currents)


def test_drive_files_the_catalog_knows_cost_no_drive_call(settings, classroom):
    known = classroom.add_file("conhecido.mp4")
    rebuild_drive(services_of(settings), drive_client(settings))
    new = classroom.add_file("novo.mp4")  # in Drive, not (yet) in the catalog
    gone = "1-a-file-nobody-can-see"
    course = classroom.add_course("Artes")
    materials = [drive_file(known, "Conhecido"), drive_file(new, "Novo")]
    classroom.add_coursework(course, "Aula", [*materials, drive_file(gone, "Sumido")])
    classroom.clear_log()

    assert _sync(settings)["drive_lookups"] == 2
    asked = {r.path.rsplit("/", 1)[-1] for r in classroom.requests if "/drive/v3/files/" in r.path}
    assert asked == {new, gone}
    items = _items(settings)
    assert items[known].is_video and items[new].is_video and not items[gone].is_video
    assert items[gone].title == "Sumido" and items[gone].mime_type is None  # still catalogued

    assert _sync(settings)["drive_lookups"] == 1  # what Drive told is remembered; 404s are not
    third = classroom.add_file("terceiro.mp4")
    classroom.add_course_material(course, "Mais", [drive_file(third, "Terceiro")])
    assert _sync(settings)["drive_lookups"] == 2
    assert _sync(settings)["drive_lookups"] == 1


def test_more_than_one_page_everywhere(settings, classroom):
    classroom.classroom_page_cap = 2
    expected = set()
    for c in range(5):
        course = classroom.add_course(f"Curso {c}")
        for p in range(3):
            urls = [f"https://example.org/{c}/{p}/{m}" for m in range(2)]
            classroom.add_coursework(course, f"Tarefa {p}", [link(url) for url in urls])
            classroom.add_course_material(course, f"Material {p}", [youtube(f"{c}-{p}", "v")])
            expected |= {*urls, f"https://www.youtube.com/watch?v={c}-{p}"}
    result = _sync(settings)
    assert set(_items(settings)) == expected and result["items"] == len(expected) == 45
    paged = {r.path for r in classroom.requests if "pageToken" in r.query}
    assert {"/v1/courses"} < paged
    assert any(path.endswith("/courseWork") for path in paged)
    assert any(path.endswith("/courseWorkMaterials") for path in paged)


def test_a_second_sync_removes_what_vanished(settings, classroom):
    school = _school(classroom)
    extra = classroom.add_course("Extra")
    kept = classroom.add_coursework(extra, "Fica", [link("https://example.org/fica")])
    dropped = classroom.add_course_material(extra, "Sai", [link("https://example.org/sai")])
    edited = classroom.add_coursework(extra, "Editada", [youtube("a", "A"), youtube("b", "B")])
    _sync(settings)
    assert len(_items(settings)) == 10

    classroom.delete_coursework(extra, dropped)
    classroom.update_coursework(extra, edited, materials=[youtube("a", "A (nova)")])
    classroom.set_course_state(school["physics"], "PROVISIONED")
    classroom.remove_course(school["old"])
    result = _sync(settings)

    items = _items(settings)
    assert set(items) == {"https://example.org/fica", "https://www.youtube.com/watch?v=a"}
    assert items["https://www.youtube.com/watch?v=a"].title == "A (nova)"
    assert items["https://example.org/fica"].extra["coursework_id"] == kept
    assert _courses(settings) == {
        school["physics"]: "PROVISIONED", school["pending"]: "PROVISIONED", extra: "ACTIVE",
    }  # fmt: skip
    assert (result["removed"], result["courses_removed"]) == (8, 1)


def test_a_course_deleted_during_the_sync_loses_its_items(settings, classroom):
    first = classroom.add_course("Primeiro")
    second = classroom.add_course("Segundo")
    for course in (first, second):
        classroom.add_coursework(course, "A", [link(f"https://example.org/{course}")])
    _sync(settings)

    def delete_the_next(current, total, message):
        if current == 1:  # "Segundo" (the newest) is done; "Primeiro" goes before its turn
            classroom.remove_course(first)

    result = _sync(settings, delete_the_next)
    assert set(_items(settings)) == {f"https://example.org/{second}"}
    assert result["removed"] == 1
    _sync(settings)
    assert set(_courses(settings)) == {second}


def test_a_listing_that_fails_half_way_removes_nothing(settings, classroom):
    first = classroom.add_course("Primeiro")
    second = classroom.add_course("Segundo")
    gone = classroom.add_coursework(first, "Some", [link("https://example.org/some")])
    classroom.add_course_material(second, "Fica", [link("https://example.org/fica")])
    _sync(settings)
    before = set(_items(settings))
    classroom.delete_coursework(first, gone)
    classroom.add_coursework(first, "Nova", [link("https://example.org/nova")])
    # courses are listed newest first: "Segundo", then "Primeiro", whose listing keeps failing
    classroom.fail_next(60, "503", match=f"/courses/{first}/courseWorkMaterials")
    with pytest.raises(TransientError):
        _sync(settings.model_copy(update={"http_retries": 1}))  # give up fast
    classroom.clear_faults()
    assert set(_items(settings)) == before, "a failed sync changed the catalog"
    _sync(settings)
    assert set(_items(settings)) == {"https://example.org/fica", "https://example.org/nova"}


def test_a_fifth_of_requests_failing_still_ends_exactly_right(settings, classroom):
    expected = set()
    for c in range(6):
        course = classroom.add_course(f"Módulo {c}")
        for p in range(4):
            video = classroom.add_file(f"m{c}p{p}.mp4", size=100, seed=c * 10 + p)
            materials = [drive_file(video, f"Vídeo {p}"), youtube(f"y{c}{p}", f"Aula {p}")]
            classroom.add_coursework(course, f"Semana {p}", materials)
            expected |= {video, f"https://www.youtube.com/watch?v=y{c}{p}"}
    classroom.classroom_page_cap = 3
    classroom.faults(rate=0.2, seed=5, retry_after=1, slow_s=0.3)
    result = _sync(settings)
    classroom.clear_faults()
    items = _items(settings)
    assert set(items) == expected
    assert all(item.is_video for item in items.values())
    assert result["items"] == 48 and result["videos"] == 48
    assert any(record.fault for record in classroom.requests), "no fault was injected"


def test_the_same_material_in_two_courses_is_one_item_of_the_newest_course(settings, classroom):
    older = classroom.add_course("Turma 2023")
    newer = classroom.add_course("Turma 2024")
    shared = youtube("comum", "Aula comum")
    classroom.add_coursework(older, "Aula", [shared])
    classroom.add_course_material(newer, "Aula", [shared, youtube("só", "Só 2024")])
    _sync(settings)
    item = _items(settings)["https://www.youtube.com/watch?v=comum"]
    assert item.course_id == newer
    assert item.extra["course_ids"] == [newer, older]
    counts = {c.id: c.item_count for c in list_courses(database(settings.database_url)).items}
    assert counts == {newer: 2, older: 0}
    older_videos = course_videos(database(settings.database_url), older)
    assert [video.source_id for video in older_videos] == [item.source_id]
    assert len(course_videos(database(settings.database_url), newer)) == 2


def test_a_refused_course_keeps_its_items(settings, classroom):
    open_course = classroom.add_course("Aberto")
    closed = classroom.add_course("Fechado")
    classroom.add_coursework(open_course, "A", [link("https://example.org/a")])
    classroom.add_coursework(closed, "B", [link("https://example.org/b")])
    _sync(settings)
    classroom.refuse_course(closed)
    classroom.add_coursework(open_course, "C", [link("https://example.org/c")])
    result = _sync(settings)
    assert set(_items(settings)) == {f"https://example.org/{x}" for x in "abc"}
    assert (result["refused_courses"], result["indexed_courses"]) == (1, 1)


def test_revoked_credentials_stop_the_sync_and_change_nothing(settings, classroom):
    for name in ("Um", "Dois"):
        course = classroom.add_course(name)
        classroom.add_coursework(course, "A", [link(f"https://example.org/{name}")])
    _sync(settings)
    classroom.add_coursework(course, "Nova", [link("https://example.org/nova")])

    def revoke(current, total, message):
        if current == 1:
            classroom.revoke_refresh_token()
            classroom.expire_all_tokens()

    with pytest.raises(UpstreamRefused, match="invalid_grant"):
        _sync(settings, revoke)
    assert set(_items(settings)) == {"https://example.org/Um", "https://example.org/Dois"}


def test_a_rejected_page_token_restarts_the_listing(settings, classroom):
    course = classroom.add_course("Longo")
    urls = {f"https://example.org/{i}" for i in range(7)}
    for url in sorted(urls):
        classroom.add_course_material(course, url, [link(url)])
    classroom.classroom_page_cap = 2
    expired: list[str] = []

    class Expiring(ClassroomClient):
        def pages(self, path, key, params) -> Iterator[list]:
            for page in super().pages(path, key, params):
                yield page
                if key == "courseWorkMaterial" and not expired:
                    classroom.expire_page_tokens()  # the token just handed out is now stale
                    expired.append(path)

    settings_client = Expiring.from_settings(settings, database(settings.database_url))
    _sync(settings, client=settings_client)
    assert set(_items(settings)) == urls
    assert [r for r in classroom.requests if r.status == 400 and "pageToken" in r.query]


def test_list_courses_pages_by_name_with_item_counts(settings, classroom):
    ids = {}
    for name in ("Cálculo", "Álgebra", "Biologia", "Desenho", "Ética"):
        ids[name] = classroom.add_course(name)
    classroom.add_coursework(
        ids["Biologia"], "A", [link("https://e.org/1"), link("https://e.org/2")]
    )
    _sync(settings)
    seen, cursor = [], None
    while True:
        page = list_courses(database(settings.database_url), limit=2, cursor=cursor)
        seen += page.items
        if not (cursor := page.next_cursor):
            break
    assert sorted(c.id for c in seen) == sorted(ids.values())
    assert len(seen) == 5
    assert {c.name: c.item_count for c in seen} == {name: 0 for name in ids} | {"Biologia": 2}
