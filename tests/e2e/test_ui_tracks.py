"""Subtitles, chapters and transcript search in headless Chromium against real gunicorn."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from core.catalog.indexing import rebuild_local
from tests.e2e.ui_support import WAIT_MS, Stack, Watched, watched_page
from tests.services import services_of
from tests.subtitle_media import LESSON_SRT, make_webm_with_chapters

pytestmark = pytest.mark.timeout(180)

PORTUGUESE = """1
00:00:01,000 --> 00:00:02,500
Bem-vindos à <i>primeira</i> aula

2
00:00:03,000 --> 00:00:04,000
Hoje aprendemos fotossíntese
"""
# The text of the cue showing in the <video> (once its track has loaded), or null.
ACTIVE_CUE = """(v) => {
  const showing = Array.from(v.textTracks).filter((t) => t.mode === 'showing');
  if (showing.length !== 1 || !showing[0].activeCues || !showing[0].activeCues.length) return null;
  return showing[0].language + ': ' + showing[0].activeCues[0].text;
}"""


@pytest.fixture
def ui(browser, stack: Stack, settings):
    with watched_page(browser, stack.base, locale="en-US") as page:
        yield page
        assert page.violations() == []
        assert page.page_errors == []


@pytest.fixture
def lesson(settings, stack: Stack) -> Iterator[dict]:
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_webm_with_chapters(root / "Biology" / "Lesson 1.webm")
    (root / "Biology" / "Lesson 1.en.srt").write_text(LESSON_SRT)
    (root / "Biology" / "Lesson 1.pt-BR.srt").write_text(PORTUGUESE)
    rebuild_local(services_of(settings))
    items = stack.api("GET", "/api/catalog/items", params={"q": "Lesson 1"}).json()["items"]
    yield items[0]
    shutil.rmtree(root, ignore_errors=True)  # the shared root as it was: empty
    root.mkdir(parents=True)


def _cue_at(ui: Watched, seconds: float, expected: str) -> None:
    video = ui.page.locator("main video")
    video.evaluate("(v, t) => { v.currentTime = t; }", seconds)
    ui.page.wait_for_function(
        f"([text]) => ({ACTIVE_CUE})(document.querySelector('main video')) === text",
        arg=[expected],
        timeout=WAIT_MS,
    )


def test_a_sidecar_track_shows_and_the_language_switches(ui: Watched, lesson: dict):
    ui.goto(f"player/{lesson['id']}")
    video = ui.page.locator("main video")
    video.evaluate("(v) => new Promise((ok) => v.readyState >= 1 ? ok() : "
                   "v.addEventListener('loadedmetadata', ok, {once: true}))")  # fmt: skip
    assert ui.page.locator("main video track").count() == 2
    menu = ui.page.get_by_label("Subtitles", exact=True)
    assert menu.locator("option").all_inner_texts() == [
        "Subtitles off", "English", "Portuguese (Brazil)",
    ]  # fmt: skip
    assert menu.input_value() == "0"  # the browser's language first
    _cue_at(ui, 1.5, "en: Welcome to the <i>first</i> lesson")
    ui.shot("player-subtitles-en")

    menu.select_option(label="Portuguese (Brazil)")
    _cue_at(ui, 1.6, "pt-BR: Bem-vindos à <i>primeira</i> aula")
    ui.shot("player-subtitles-pt-br")
    menu.select_option(label="Subtitles off")
    modes = video.evaluate("(v) => Array.from(v.textTracks).map((t) => t.mode)")
    assert modes == ["disabled", "disabled"]

    # Chapters: two marks on the strip, a list; a chapter seeks there.
    assert ui.page.locator(".chapter-strip .chapter-mark").count() == 2
    items = ui.page.locator(".chapter-list li")
    assert items.all_inner_texts() == ["00:00 Intro", "00:03 Main part"]
    ui.page.get_by_role("button", name="Chapter: Main part").click()
    assert abs(video.evaluate("(v) => v.currentTime") - 3.0) < 0.1
    left = ui.page.locator(".chapter-mark").nth(1).evaluate("(m) => m.style.left")
    assert left == "50%"
    assert ui.console_errors == []


def test_a_search_for_a_spoken_phrase_opens_the_player_at_that_second(ui: Watched, lesson: dict):
    ui.goto("catalog")
    box = ui.page.get_by_label("Search lessons and transcripts")
    box.fill("learn photosynthesis")
    box.press("Enter")
    ui.page.get_by_role("heading", level=1, name="Search: learn photosynthesis").wait_for()
    group = ui.page.locator(".hit-group")
    group.first.wait_for()
    assert group.locator("h2").all_inner_texts() == ["Lessons outside a course"]
    hit = ui.page.locator(".hit a")
    assert hit.count() == 1
    assert "Today we learn photosynthesis" in hit.inner_text()
    ui.shot("search-results")
    hit.click()
    ui.page.get_by_role("heading", level=1, name="Lesson 1").wait_for()
    assert ui.page.evaluate("() => location.hash") == f"#/player/{lesson['id']}?t=3"
    ui.page.wait_for_function(
        "() => { const v = document.querySelector('main video');"
        " return v && v.readyState >= 1 && Math.abs(v.currentTime - 3) < 0.05; }",
        timeout=WAIT_MS,
    )
    _cue_at(ui, 3.2, "en: Today we learn photosynthesis")
    ui.shot("player-from-search")
    assert ui.console_errors == []
