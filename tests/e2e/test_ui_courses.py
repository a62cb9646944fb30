"""Courses in the web UI (issue 26, CONTRACT 8.3): home with "Continue watching" and completion,
the course page, and the player that resumes, saves on leaving, remembers the speed, answers the
keyboard and plays the next lesson; in Chromium against gunicorn, with real WebM lessons, on a
database of its own (the people test adds users, which change what every other test would see)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core.base.db import database, migrate
from core.base.vault import Vault
from core.catalog.indexing import rebuild_local
from core.catalog.sources.sync import sync_classroom
from tests.conftest import settings_from_env, truncate
from tests.e2e.ui_support import WAIT_MS, Watched, watched_page, web_process
from tests.fakes.google import drive_file, link
from tests.helpers import private_redis_db, wait_for
from tests.media import make_video
from tests.services import classroom_client, drive_client, services_of

pytestmark = pytest.mark.timeout(240)

COURSE = "Matemática básica"
LONG_S = 20  # lesson 1: long enough to stop half-way and see where it resumes
SIZE = (128, 72)
ORDER = ["Lesson 1", "Lesson 2", "Lesson 10", "Lesson 3"]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
ADMIN = {"username": "alice", "password": "alice's long password"}
VIEWER = {"username": "bob", "password": "bob's long password"}


@dataclass
class Site:
    """gunicorn on a database and media folder of its own."""

    base: str
    env: dict[str, str]

    @property
    def media_root(self) -> Path:
        return Path(self.env["MEDIA_ROOTS"])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", timeout=10, **kwargs)


@dataclass
class Course:
    id: int
    lessons: dict[str, int]  # title -> item id


def _site(base_env: dict[str, str], folder: Path) -> Iterator[Site]:
    url = f"sqlite:///{folder / 'courses.db'}"
    migrate(url)
    media = folder / "media"
    media.mkdir()
    env = {
        **base_env, "DATABASE_URL": url, "MEDIA_ROOTS": str(media),
        "REDIS_URL": private_redis_db(base_env["REDIS_URL"]),
    }  # fmt: skip
    with web_process(env, folder / "web.log") as base:
        yield Site(base, env)


@pytest.fixture(scope="module")
def site(base_env, tmp_path_factory):
    yield from _site(base_env, tmp_path_factory.mktemp("ui-courses"))


@pytest.fixture(scope="module")
def people_site(base_env, tmp_path_factory):
    yield from _site(base_env, tmp_path_factory.mktemp("ui-courses-people"))


@pytest.fixture(scope="module")
def lesson_files(tmp_path_factory) -> Path:
    """`Matemática básica/Semana 1/Lesson 1, 2, 10` (with Lesson 1's slides) and `Semana 2/Lesson
    3` with a worksheet: made once, copied into a site's media folder by `library`."""
    tree = tmp_path_factory.mktemp("lessons") / COURSE
    week1, week2 = tree / "Semana 1", tree / "Semana 2"
    make_video(week1 / "Lesson 1.webm", seconds=LONG_S, size=SIZE, codec="libvpx")
    for folder, name in ((week1, "Lesson 2"), (week1, "Lesson 10"), (week2, "Lesson 3")):
        make_video(folder / f"{name}.webm", seconds=3, size=SIZE, codec="libvpx")
    (week1 / "Lesson 1.pdf").write_bytes(PDF)
    (week2 / "Exercícios.pdf").write_bytes(PDF)
    return tree


def library(site: Site, lesson_files: Path) -> Course:
    """An emptied database holding exactly the course in `lesson_files`."""
    settings = settings_from_env(site.env)
    truncate(settings.database_url)
    shutil.rmtree(site.media_root, ignore_errors=True)
    shutil.copytree(lesson_files.parent, site.media_root)
    rebuild_local(services_of(settings))
    courses = site.api("GET", "/api/courses").json()["items"]
    assert [course["title"] for course in courses] == [COURSE]
    detail = site.api("GET", f"/api/courses/{courses[0]['id']}").json()
    lessons = {
        lesson["title"]: lesson["id"]
        for section in detail["sections"]
        for lesson in section["lessons"]
    }
    return Course(courses[0]["id"], lessons)


def new_tab(ui: Watched) -> Watched:
    """Another tab of the same browser profile (its storage and cookies), watched for errors."""
    tab = Watched(ui.page.context.new_page(), ui.base)
    tab.page.on("pageerror", lambda e: tab.page_errors.append(str(e)))
    return tab


def clean(ui: Watched) -> None:
    assert ui.violations() == []
    assert ui.page_errors == []


def open_lesson(ui: Watched, course: Course, title: str) -> Any:
    ui.page.goto(f"{ui.base}/#/player/{course.lessons[title]}?course={course.id}")
    ui.page.get_by_role("heading", level=1, name=title, exact=True).wait_for()
    video = ui.page.locator("main video")
    video.evaluate(
        "v => v.readyState >= 1 || new Promise(ok => v.addEventListener('loadedmetadata', ok))"
    )
    return video


def play_from(video: Any, at: float) -> None:
    """Play (muted) and seek to `at` while playing: no pause, so nothing is written by a pause."""
    video.evaluate(
        """async (v, at) => {
          v.muted = true;
          await v.play();
          const seeked = new Promise(ok => v.addEventListener('seeked', ok, {once: true}));
          v.currentTime = at;
          await seeked;
        }""",
        at,
    )


def saved(site: Site, item_id: int, **kwargs: Any) -> dict[str, Any] | None:
    """The caller's progress on `item_id` as GET /api/progress lists it (in progress or watched)."""
    for state in ("in_progress", "watched"):
        page = site.api("GET", f"/api/progress?state={state}&limit=200", **kwargs).json()
        for entry in page["items"]:
            if entry["item_id"] == item_id:
                return entry
    return None


def position_after_closing(
    site: Site, ui: Watched, video: Any, item_id: int, **kwargs: Any
) -> float:
    """Closes the tab while the video plays past 12 s; where it was, once the server has it."""
    ui.page.wait_for_function(
        "() => document.querySelector('main video').currentTime >= 12", timeout=WAIT_MS
    )
    left_at = float(video.evaluate("v => v.currentTime"))
    ui.page.close()
    wait_for(
        lambda: (entry := saved(site, item_id, **kwargs)) and entry["position_s"] >= 11.5,
        20, what="the position written while the tab closed",
    )  # fmt: skip
    entry = saved(site, item_id, **kwargs)
    assert entry is not None and abs(entry["position_s"] - left_at) < 0.75, (entry, left_at)
    return left_at


def current_time(ui: Watched) -> float:
    return float(ui.page.locator("main video").evaluate("v => v.currentTime"))


def test_a_person_resumes_where_they_stopped_and_lesson_2_comes_next(
    browser, site: Site, lesson_files: Path
):
    course = library(site, lesson_files)
    with watched_page(browser, site.base) as ui:
        ui.goto("home")
        card = ui.page.locator("a.course-card", has_text=COURSE)
        card.wait_for()
        assert "0 of 4 watched" in card.inner_text()
        assert ui.page.locator("#continue-heading").count() == 0  # nothing started yet
        assert ui.page.get_by_role("link", name=f"Start “{COURSE}”").is_visible()
        card.click()
        ui.page.get_by_role("heading", level=1, name=COURSE).wait_for()
        rows = ui.page.locator("li.lesson")
        shown = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.itemId)")]
        assert shown == [course.lessons[title] for title in ORDER]  # Lesson 2 before Lesson 10
        assert ui.page.locator(".course-section h2").all_inner_texts() == ["Semana 1", "Semana 2"]
        first = ui.page.locator(f"li.lesson[data-item-id='{course.lessons['Lesson 1']}']")
        slides = first.locator(".attachments a[target='_blank']")
        assert slides.count() == 1 and slides.get_attribute("href")
        assert first.locator(".attachments a[download]").count() == 1
        worksheet = ui.page.locator(".course-section", has_text="Semana 2").locator(".attachments")
        assert "Exercícios" in worksheet.inner_text()
        ui.page.get_by_role("link", name="Start: Lesson 1").click()

        ui.page.get_by_role("heading", level=1, name="Lesson 1", exact=True).wait_for()
        video = ui.page.locator("main video")
        play_from(video, LONG_S / 2)
        left_at = position_after_closing(site, ui, video, course.lessons["Lesson 1"])

        # Back another day: home offers the lesson, and it resumes at the same second.
        tab = new_tab(ui)
        tab.goto("home")
        resume = tab.page.locator("a.continue-card")
        resume.wait_for()
        assert resume.count() == 1 and "Lesson 1" in resume.inner_text()
        assert resume.locator("progress.position-bar").evaluate("p => p.value / p.max") == (
            pytest.approx(left_at / LONG_S, abs=0.05)
        )
        assert f"{COURSE} · 0:0" in resume.inner_text() and "left" in resume.inner_text()
        assert tab.page.get_by_role("link", name=f"Continue “{COURSE}”").is_visible()
        tab.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        tab.shot("courses-home")
        resume.click()
        tab.page.get_by_role("heading", level=1, name="Lesson 1", exact=True).wait_for()
        tab.page.wait_for_function(
            "() => document.querySelector('main video').currentTime > 5", timeout=WAIT_MS
        )
        assert abs(current_time(tab) - left_at) < 1
        tab.shot("courses-player")
        tab.page.reload()  # and after a reload too
        tab.page.get_by_role("heading", level=1, name="Lesson 1", exact=True).wait_for()
        tab.page.wait_for_function(
            "() => document.querySelector('main video').currentTime > 5", timeout=WAIT_MS
        )
        assert abs(current_time(tab) - left_at) < 1

        # It ends: watched, and after a short countdown lesson 2 (not lesson 10) starts.
        play_from(tab.page.locator("main video"), LONG_S - 1)
        upnext = tab.page.locator(".upnext")
        upnext.wait_for()
        assert "Lesson 2" in upnext.inner_text() and "Starts in" in upnext.inner_text()
        assert upnext.get_by_role("button", name="Cancel").is_visible()
        tab.shot("courses-player-upnext")
        tab.page.get_by_role("heading", level=1, name="Lesson 2", exact=True).wait_for()
        assert f"#/player/{course.lessons['Lesson 2']}?course={course.id}" in tab.page.url
        tab.page.wait_for_function(
            "() => document.querySelector('main video').currentTime > 0.3", timeout=WAIT_MS
        )  # it plays on its own
        entry = saved(site, course.lessons["Lesson 1"])
        assert entry is not None and entry["watched"] is True

        tab.page.get_by_role("link", name=f"← {COURSE}").click()
        tab.page.get_by_role("heading", level=1, name=COURSE).wait_for()
        first = tab.page.locator(f"li.lesson[data-item-id='{course.lessons['Lesson 1']}']")
        assert first.get_attribute("data-state") == "watched"
        assert "Watched" in first.inner_text()
        assert "1 of 4 watched" in tab.page.locator(".course-head").inner_text()
        second = tab.page.locator(f"li.lesson[data-item-id='{course.lessons['Lesson 2']}']")
        assert "is-next" in (second.get_attribute("class") or "")
        assert tab.page.get_by_role("link", name="Continue: Lesson 2").is_visible()
        tab.shot("courses-course")
        clean(tab)


def test_a_playing_lesson_is_saved_about_every_10_seconds(browser, site: Site, lesson_files):
    course = library(site, lesson_files)
    with watched_page(browser, site.base) as ui:
        video = open_lesson(ui, course, "Lesson 1")
        with ui.page.expect_response(lambda r: "/api/progress/" in r.url, timeout=25_000) as put:
            video.evaluate("v => { v.muted = true; return v.play(); }")
        assert put.value.status == 200 and put.value.request.method == "PUT"
        assert not video.evaluate("v => v.paused")  # written while it plays, not on a pause
        body = put.value.json()
        assert 9 <= body["position_s"] < 15 and body["duration_s"] == pytest.approx(LONG_S, abs=0.2)
        clean(ui)


def test_the_countdown_can_be_canceled_and_the_last_lesson_says_so(
    browser, site: Site, lesson_files: Path
):
    course = library(site, lesson_files)
    with watched_page(browser, site.base) as ui:
        video = open_lesson(ui, course, "Lesson 10")
        play_from(video, 2.5)
        upnext = ui.page.locator(".upnext")
        upnext.wait_for()
        assert "Lesson 3" in upnext.inner_text()  # across sections, in course order
        upnext.get_by_role("button", name="Cancel").click()
        assert upnext.count() == 0
        with pytest.raises(PlaywrightTimeout):  # it stays: nothing starts after the countdown
            ui.page.get_by_role("heading", level=1, name="Lesson 3").wait_for(timeout=7000)
        video = open_lesson(ui, course, "Lesson 3")
        play_from(video, 2.5)
        ui.page.locator(".upnext.done", has_text="last lesson").wait_for()
        clean(ui)


def test_the_speed_is_remembered_and_shortcuts_skip_fields(browser, site: Site, lesson_files):
    course = library(site, lesson_files)
    with watched_page(browser, site.base) as ui:
        video = open_lesson(ui, course, "Lesson 2")
        ui.page.get_by_label("Speed").select_option("1.5")
        assert video.evaluate("v => v.playbackRate") == 1.5
        ui.page.get_by_role("link", name="Next lesson →").click()
        ui.page.get_by_role("heading", level=1, name="Lesson 10", exact=True).wait_for()
        ui.page.wait_for_function(
            "() => { const v = document.querySelector('main video');"
            " return v.readyState >= 1 && v.playbackRate === 1.5; }",
            timeout=WAIT_MS,
        )
        assert ui.page.get_by_label("Speed").input_value() == "1.5"
        video = open_lesson(ui, course, "Lesson 1")
        ui.page.reload()
        ui.page.get_by_role("heading", level=1, name="Lesson 1", exact=True).wait_for()
        ui.page.wait_for_function(
            "() => document.querySelector('main video').playbackRate === 1.5", timeout=WAIT_MS
        )

        # Shortcuts: > faster, l ahead 10 s, the left arrow back 5 s, j back 10 s, k plays.
        ui.page.locator("main h1").click()  # focus on the page, not on a control
        video = ui.page.locator("main video")
        ui.page.keyboard.press(">")
        assert video.evaluate("v => v.playbackRate") == 1.75
        # Remembered on the video's ratechange event, which the browser fires as a task of its own.
        ui.page.wait_for_function(
            "() => localStorage.getItem('aula.speed') === '1.75'", timeout=WAIT_MS
        )
        ui.page.keyboard.press("l")
        assert current_time(ui) == pytest.approx(10, abs=0.01)
        ui.page.keyboard.press("ArrowLeft")
        assert current_time(ui) == pytest.approx(5, abs=0.01)
        ui.page.keyboard.press("j")
        assert current_time(ui) == 0
        video.evaluate("v => { v.muted = true; }")
        ui.page.keyboard.press("k")
        ui.page.wait_for_function("() => !document.querySelector('main video').paused")
        ui.page.keyboard.press("Space")
        ui.page.wait_for_function("() => document.querySelector('main video').paused")
        ui.page.locator(".osd", has_text="Pause").wait_for(state="attached")
        ui.page.keyboard.press("f")  # the video with its overlays goes full screen, and back
        ui.page.wait_for_function(
            "() => document.fullscreenElement?.classList.contains('video-box')"
        )
        ui.page.keyboard.press("f")
        ui.page.wait_for_function("() => document.fullscreenElement === null")

        # Typing in a field is typing, not a shortcut.
        at = current_time(ui)
        ui.page.evaluate(
            "() => { const i = document.createElement('input'); i.id = 'typing';"
            " document.querySelector('main').append(i); i.focus(); }"
        )
        ui.page.keyboard.type("kl j")
        ui.page.keyboard.press("ArrowRight")
        assert ui.page.locator("#typing").input_value() == "kl j"
        assert video.evaluate("v => v.paused") and current_time(ui) == at
        assert video.evaluate("v => v.playbackRate") == 1.75
        clean(ui)


def test_home_lists_lessons_in_progress_most_recent_first_and_marks_by_hand(
    browser, site: Site, lesson_files: Path
):
    course = library(site, lesson_files)
    for title in ("Lesson 3", "Lesson 10"):  # Lesson 10 last: it comes first
        answer = site.api("PUT", f"/api/progress/{course.lessons[title]}", json={"position_s": 1.5})
        assert answer.status_code == 200, answer.text
    with watched_page(browser, site.base) as ui:
        ui.goto("home")
        cards = ui.page.locator("a.continue-card")
        cards.nth(1).wait_for()
        ids = [int(i) for i in cards.evaluate_all("cs => cs.map(c => c.dataset.itemId)")]
        assert ids == [course.lessons["Lesson 10"], course.lessons["Lesson 3"]]
        for card in cards.all():  # each opens as a lesson of its course (what comes next)
            assert card.get_attribute("href").endswith(f"?course={course.id}")
            assert COURSE in card.inner_text()
        card = ui.page.locator("a.course-card")
        assert "0 of 4 watched" in card.inner_text()

        card.click()
        row = ui.page.locator(f"li.lesson[data-item-id='{course.lessons['Lesson 2']}']")
        row.get_by_role("button", name="Mark watched: Lesson 2").click()
        ui.page.locator(
            f"li.lesson[data-state='watched'][data-item-id='{course.lessons['Lesson 2']}']"
        ).wait_for()
        assert "1 of 4 watched" in ui.page.locator(".course-head").inner_text()
        assert (saved(site, course.lessons["Lesson 2"]) or {}).get("watched") is True
        row = ui.page.locator(f"li.lesson[data-item-id='{course.lessons['Lesson 2']}']")
        row.get_by_role("button", name="Mark unwatched: Lesson 2").click()
        ui.page.locator(
            f"li.lesson[data-state='new'][data-item-id='{course.lessons['Lesson 2']}']"
        ).wait_for()
        assert "0 of 4 watched" in ui.page.locator(".course-head").inner_text()
        clean(ui)


def test_a_course_whose_folder_is_gone_shows_empty(browser, site: Site, lesson_files: Path):
    course = library(site, lesson_files)
    site.api("PUT", f"/api/progress/{course.lessons['Lesson 1']}", json={"watched": True})
    shutil.rmtree(site.media_root / COURSE)
    rebuild_local(services_of(settings_from_env(site.env)))
    with watched_page(browser, site.base) as ui:
        ui.goto(f"course/{course.id}")
        ui.page.locator(".empty-state", has_text="no lessons now").wait_for()
        assert ui.page.locator("li.lesson").count() == 0
        # An unknown course: said so, with a way back; a lesson of one plays on its own.
        ui.goto(f"course/{course.id + 1000}")
        ui.page.locator("main h1", has_text="This view could not be loaded").wait_for()
        assert ui.page.locator("#errors .notice.error").count() == 1
        clean(ui)


def test_home_without_courses_says_how_to_get_some(browser, site: Site):
    truncate(settings_from_env(site.env).database_url)
    shutil.rmtree(site.media_root, ignore_errors=True)
    site.media_root.mkdir()
    with watched_page(browser, site.base) as ui:
        ui.page.goto(site.base)  # `/` opens Home
        ui.page.locator(".empty-state", has_text="No courses yet").wait_for()
        assert ui.page.url.endswith("#/home")
        assert ui.page.locator("nav a[aria-current='page']").inner_text() == "Home"
        assert ui.page.locator("#continue-heading").count() == 0
        assert ui.page.locator("#errors > *").count() == 0
        ui.page.get_by_role("link", name="Browse everything in the catalog →").click()
        ui.page.get_by_role("heading", level=1, name="Catalog").wait_for()
        clean(ui)


def test_a_lesson_of_an_unknown_course_plays_on_its_own(browser, site: Site, lesson_files):
    course = library(site, lesson_files)
    lesson = course.lessons["Lesson 2"]
    with watched_page(browser, site.base) as ui:
        ui.page.goto(f"{site.base}/#/player/{lesson}?course={course.id + 1000}")
        ui.page.get_by_role("heading", level=1, name="Lesson 2", exact=True).wait_for()
        ui.page.locator("main video").wait_for()
        assert ui.page.get_by_role("link", name="← Catalog").is_visible()
        assert ui.page.locator(".lesson-line").count() == 0
        assert ui.page.locator("#errors > *").count() == 0
        clean(ui)


@pytest.mark.parametrize("view", ["home", "course", "player"])
def test_the_course_views_fit_a_phone(browser, site: Site, lesson_files: Path, view):
    course = library(site, lesson_files)
    site.api("PUT", f"/api/progress/{course.lessons['Lesson 1']}", json={"position_s": 8})
    site.api("PUT", f"/api/progress/{course.lessons['Lesson 2']}", json={"watched": True})
    with watched_page(browser, site.base, viewport={"width": 375, "height": 740}) as ui:
        if view == "player":
            open_lesson(ui, course, "Lesson 1")
        else:
            ui.goto("home" if view == "home" else f"course/{course.id}")
            ui.page.locator("a.course-card, li.lesson").first.wait_for()
        ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        ui.shot(f"phone-courses-{view}")
        shown = ui.page.locator("main").inner_text()
        assert "null" not in shown and "undefined" not in shown and "NaN" not in shown
        width = ui.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (view, width)
        clean(ui)


def test_a_classroom_course_shows_its_topics_in_order(browser, site: Site, classroom):
    settings = settings_from_env(site.env)
    truncate(settings.database_url)
    shutil.rmtree(site.media_root, ignore_errors=True)
    db = database(settings.database_url)
    Vault(db, settings.fernet_keys).put(
        "google", json.dumps(classroom.credentials(), sort_keys=True).encode()
    )
    videos = [classroom.add_file(f"v{n}.mp4", duration_ms=600_000) for n in range(4)]
    slides = classroom.add_file("slides.pdf", mime_type="application/pdf")
    course = classroom.add_course("Física")
    first = classroom.add_topic(course, "Unidade 1")
    second = classroom.add_topic(course, "Unidade 2")
    classroom.move_topic(course, second, 0)  # the teacher dragged Unidade 2 to the top
    classroom.add_course_material(course, "Sem tópico", [drive_file(videos[0], "Boas-vindas")])
    classroom.add_coursework(
        course, "Aula 1", [drive_file(videos[1], "Aula 1"), drive_file(slides, "Slides")],
        topic_id=first,
    )  # fmt: skip
    classroom.add_course_material(
        course, "Aula 2", [drive_file(videos[2], "Aula 2")], topic_id=first
    )
    classroom.add_course_material(
        course, "Extra", [drive_file(videos[3], "Extra")], topic_id=second
    )
    classroom.add_course_material(
        course, "Leitura", [link("https://example.org/r", "Leitura")], topic_id=second
    )
    sync_classroom(db, classroom_client(settings), drive_client(settings))
    with watched_page(browser, site.base) as ui:
        ui.goto("home")
        ui.page.locator("a.course-card", has_text="Física").click()
        ui.page.get_by_role("heading", level=1, name="Física").wait_for()
        assert ui.page.locator(".course-section h2").all_inner_texts() == ["Unidade 2", "Unidade 1"]
        titles = ui.page.locator("li.lesson").evaluate_all(
            "rows => rows.map(r => r.querySelector('.lesson-title').lastChild.textContent)"
        )
        assert titles == ["Boas-vindas", "Extra", "Aula 1", "Aula 2"]
        assert "Google Classroom" in ui.page.locator(".course-meta").inner_text()
        aula1 = ui.page.locator("li.lesson", has_text="Aula 1")
        assert aula1.locator(".attachments a[target='_blank']").inner_text() == "Slides"
        reading = ui.page.locator(".course-section", has_text="Unidade 2").locator(".attachments a")
        assert reading.first.get_attribute("href") == "https://example.org/r"
        assert reading.count() == 1  # another site's page: opened, not saved
        ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        ui.shot("courses-classroom")
        clean(ui)


def _people(site: Site) -> requests.Session:
    """An admin (made from loopback) and a viewer; the admin's signed-in session."""
    made = site.api("POST", "/api/setup", json=ADMIN)
    assert made.status_code == 201, made.text
    admin = requests.Session()
    answer = admin.post(f"{site.base}/api/session", json=ADMIN)
    admin.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    viewer = {**VIEWER, "role": "viewer"}
    assert admin.post(f"{site.base}/api/users", json=viewer, timeout=10).status_code == 201
    return admin


def test_a_signed_in_viewer_keeps_their_own_progress(browser, people_site: Site, lesson_files):
    site = people_site
    course = library(site, lesson_files)
    admin = _people(site)
    bob = requests.Session()
    signed = bob.post(f"{site.base}/api/session", json=VIEWER)
    assert signed.status_code == 200
    with watched_page(browser, site.base) as ui:
        ui.page.goto(f"{site.base}/#/home")
        ui.page.locator("main h1", has_text="Sign in to Aula").wait_for()
        ui.page.get_by_label("Username").fill(VIEWER["username"])
        ui.page.get_by_label("Password").fill(VIEWER["password"])
        ui.page.get_by_role("button", name="Sign in").click()
        ui.page.locator("#who", has_text="bob (viewer)").wait_for()
        card = ui.page.locator("a.course-card", has_text=COURSE)
        card.wait_for()
        ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        ui.shot("courses-home-viewer")
        card.click()
        ui.page.get_by_role("link", name="Start: Lesson 1").click()
        ui.page.get_by_role("heading", level=1, name="Lesson 1", exact=True).wait_for()
        video = ui.page.locator("main video")
        play_from(video, 4)
        with ui.page.expect_response(lambda r: "/api/progress/" in r.url) as paused:
            video.evaluate("v => v.pause()")
        assert paused.value.status == 200  # the session's CSRF token went with it
        play_from(video, LONG_S / 2)
        lesson = course.lessons["Lesson 1"]
        left_at = position_after_closing(site, ui, video, lesson, cookies=bob.cookies)
        assert saved(site, lesson, cookies=admin.cookies) is None  # bob's alone

        tab = new_tab(ui)
        tab.page.goto(f"{site.base}/#/course/{course.id}")
        tab.page.get_by_role("heading", level=1, name=COURSE).wait_for()
        tab.page.get_by_role("link", name="Continue: Lesson 1").click()
        tab.page.get_by_role("heading", level=1, name="Lesson 1", exact=True).wait_for()
        tab.page.wait_for_function(
            "() => document.querySelector('main video').currentTime > 5", timeout=WAIT_MS
        )
        assert abs(current_time(tab) - left_at) < 1
        with tab.page.expect_response(lambda r: "/api/progress/" in r.url) as marked:
            tab.page.get_by_role("button", name="Mark watched").click()
        assert marked.value.status == 200
        tab.page.locator(".watched-badge").wait_for()
        entry = saved(site, course.lessons["Lesson 1"], cookies=bob.cookies)
        assert entry is not None and entry["watched"] is True
        clean(tab)
