"""The web UI speaks to people (issue 21): errors that name a setting or a page with a link to
it, one alert at a time that navigation clears, tasks by name and time, no pointless Download."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.base.db import database
from core.base.models import Download, TaskRecord
from core.catalog.indexing import rebuild_local
from tests.e2e.ui_support import WAIT_MS, Watched, watched_page, web_process
from tests.helpers import private_redis_db
from tests.media import make_video
from tests.services import services_of

pytestmark = pytest.mark.timeout(180)

REFUSED = "http://127.0.0.1:9/lesson.mp4"


@pytest.fixture(scope="module")
def base(base_env, tmp_path_factory):
    """gunicorn with the settings a user gets for downloads (no private hosts); no worker: what
    is tested here is refused or read before any task would run."""
    env = {**base_env, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    env.pop("DOWNLOAD_ALLOW_PRIVATE_HOSTS", None)
    log = tmp_path_factory.mktemp("ui-people") / "web.log"
    with web_process(env, log) as running:
        yield running


@pytest.fixture
def ui(browser, base, settings):
    """A watched page on an emptied database; fails the test on any CSP violation or JS error."""
    with watched_page(browser, base) as page:
        yield page
        assert page.violations() == []
        assert page.page_errors == []


def add_download(ui: Watched, url: str) -> None:
    ui.page.get_by_label("Video URL").fill(url)
    ui.page.get_by_role("button", name="Add download").click()


def test_a_refusal_names_its_setting_and_links_to_how_to_change_it(ui: Watched):
    ui.goto("downloads")
    add_download(ui, REFUSED)
    alert = ui.page.locator("#errors .notice.error")
    alert.filter(has_text="DOWNLOAD_ALLOW_PRIVATE_HOSTS=true").wait_for()
    assert "a loopback address" in alert.inner_text()
    link = alert.get_by_role("link", name="How to change DOWNLOAD_ALLOW_PRIVATE_HOSTS")
    assert link.get_attribute("href") == "#/settings?setting=DOWNLOAD_ALLOW_PRIVATE_HOSTS"
    ui.shot("alert-setting")

    # Another error replaces it: one alert region, not a pile.
    add_download(ui, "ftp://example.com/lesson.mp4")
    alert.filter(has_text="Only http and https").wait_for()
    assert alert.count() == 1
    assert "DOWNLOAD_ALLOW_PRIVATE_HOSTS" not in ui.page.locator("#errors").inner_text()

    # A navigation clears it.
    ui.goto("catalog")
    ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    assert ui.page.locator("#errors > *").count() == 0

    # The link leads to the Settings page, which says what to change and where.
    ui.goto("downloads")
    add_download(ui, REFUSED)
    link.click()
    box = ui.page.locator(".setting-box[data-setting='DOWNLOAD_ALLOW_PRIVATE_HOSTS']")
    box.wait_for()
    assert ui.page.url.endswith("#/settings?setting=DOWNLOAD_ALLOW_PRIVATE_HOSTS")
    assert "DOWNLOAD_ALLOW_PRIVATE_HOSTS=true" in box.locator(".env-line").inner_text()
    assert box.evaluate("b => b === document.activeElement")
    assert ui.page.locator("nav a[aria-current='page']").inner_text() == "Settings"
    assert ui.page.locator("#errors > *").count() == 0
    ui.shot("settings-setting")


def test_without_google_sources_says_where_to_connect_it(ui: Watched):
    ui.goto("sources")
    notice = ui.page.locator("#google-needed")
    notice.wait_for()
    assert "Google is not connected" in notice.inner_text()
    for name in ("Rebuild Drive", "Sync Drive", "Sync Classroom"):
        assert ui.page.get_by_role("button", name=name, exact=True).is_disabled(), name
    assert ui.page.get_by_role("button", name="Rebuild local").is_enabled()
    ui.shot("sources-no-google")

    # Should a request still be made (another tab, an old page), the error links to Settings.
    ui.page.evaluate(
        "() => import('/ui/js/api.js').then((api) => api.post('/api/classroom/sync'))"
        ".catch(() => {})"
    )
    alert = ui.page.locator("#errors .notice", has_text="Google is not connected")
    alert.wait_for()
    assert "/api/" not in alert.inner_text()
    alert.get_by_role("link", name="Open Settings").click()
    ui.page.get_by_role("heading", level=2, name="Google credentials").wait_for()
    assert ui.page.url.endswith("#/settings")


def _task(session, name, args, created, finished=None, state="SUCCESS"):
    task_id = str(uuid.uuid4())
    session.add(
        TaskRecord(
            id=task_id, name=name, state=state, args=args, created_at=created,
            started_at=created, finished_at=finished,
        )
    )  # fmt: skip
    return task_id


def test_tasks_have_human_names_relative_times_and_the_id_in_details(ui: Watched, settings):
    now = datetime.now(UTC)
    with database(settings.database_url).session() as session:
        titled = Download(
            url="https://example.org/fisica.mp4", kind="ytdlp", title="Aula de física"
        )
        bare = Download(url="https://example.org/semana-2.mp4", kind="ytdlp")
        session.add_all([titled, bare])
        session.flush()
        ids = {
            "Rebuild local catalog": _task(
                session, "catalog.rebuild", {"source": "local"}, now - timedelta(minutes=2),
                now - timedelta(seconds=90),
            ),
            "Sync Drive": _task(
                session, "catalog.sync", {"source": "drive"}, now - timedelta(hours=3)
            ),
            "Download “Aula de física”": _task(
                session, "downloads.fetch", {"download_id": titled.id}, now - timedelta(minutes=5),
                state="FAILURE",
            ),
            "Download “https://example.org/semana-2.mp4”": _task(
                session, "downloads.fetch", {"download_id": bare.id}, now - timedelta(days=2)
            ),
            "Clean up": _task(session, "maintenance.cleanup", {}, now - timedelta(seconds=3)),
        }  # fmt: skip
    ui.goto("tasks")
    rows = ui.page.locator("tr[data-task-id]")
    rows.nth(4).wait_for()
    for title, task_id in ids.items():
        row = ui.page.locator(f"tr[data-task-id='{task_id}']")
        assert row.locator(".task-title").inner_text() == title
    rebuild = ui.page.locator(f"tr[data-task-id='{ids['Rebuild local catalog']}']")
    created = rebuild.locator("td[data-label='Created'] time")
    assert created.inner_text() == "2 minutes ago"
    assert created.get_attribute("title")  # the exact time, on hover
    assert created.get_attribute("datetime")
    assert rebuild.locator("td.state").inner_text() == "Done"
    cleanup = ui.page.locator(f"tr[data-task-id='{ids['Clean up']}']")
    assert cleanup.locator("td[data-label='Created'] time").inner_text() == "just now"
    assert cleanup.locator("td[data-label='Finished']").inner_text() == "—"
    old = ui.page.locator(
        f"tr[data-task-id='{ids['Download “https://example.org/semana-2.mp4”']}']"
    )
    assert old.locator("td[data-label='Created'] time").inner_text() == "2 days ago"

    # The Celery id and name only inside Details; an open Details survives the polls.
    task_id = ids["Rebuild local catalog"]
    assert rebuild.get_by_text(task_id).is_hidden()
    assert "catalog.rebuild" not in rebuild.locator(".task-title").inner_text()
    rebuild.locator("summary", has_text="Details").click()
    assert rebuild.get_by_text(task_id).is_visible()
    assert rebuild.locator("details code", has_text="catalog.rebuild").is_visible()
    with ui.page.expect_response(lambda r: "/api/tasks?" in r.url, timeout=WAIT_MS):
        pass  # the list is read again
    assert rebuild.locator("details").evaluate("d => d.open")
    assert rebuild.get_by_text(task_id).is_visible()
    ui.shot("tasks-people")

    # The filter speaks the same language.
    ui.page.get_by_label("Show").select_option(label="Downloads")
    ui.page.wait_for_function(
        "() => document.querySelectorAll('tr[data-task-id]').length === 2", timeout=WAIT_MS
    )


def test_a_local_item_shows_play_and_the_file_not_download(ui: Watched, settings):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "Semana 1" / "Aula 1.webm", seconds=3, codec="libvpx")
    rebuild_local(services_of(settings))
    ui.goto("catalog")
    ui.page.locator("a.card").first.click()
    ui.page.get_by_role("heading", level=1, name="Aula 1").wait_for()
    area = ui.page.locator(".download-area")
    assert area.get_by_role("button", name="Download").count() == 0
    assert ui.page.get_by_role("button", name="Download").count() == 0
    save = area.get_by_role("link", name="Save the file")
    stream = ui.page.locator("main video").get_attribute("src")
    assert save.get_attribute("href") == stream and save.get_attribute("download") == ""
    file_row = ui.page.locator("dl.details dt", has_text="File")
    assert file_row.locator("xpath=following-sibling::dd[1]").inner_text() == "Semana 1/Aula 1.webm"
    ui.page.locator("main video").evaluate("v => { v.muted = true; }")
    area.get_by_role("button", name="Play").click()
    ui.page.wait_for_function(
        "() => { const v = document.querySelector('main video'); return v.currentTime > 0; }",
        timeout=WAIT_MS,
    )
    area.get_by_role("button", name="Pause").click()  # it says what it will do next
    area.get_by_role("button", name="Play").wait_for()
    assert ui.page.locator("main video").evaluate("v => v.paused")
    ui.shot("player-local")


@pytest.mark.parametrize(
    "view", ["tasks", "settings?setting=DOWNLOAD_ALLOW_PRIVATE_HOSTS", "sources", "player"]
)
def test_the_changed_views_fit_a_phone(browser, base, settings, view):
    now = datetime.now(UTC)
    with database(settings.database_url).session() as session:
        download = Download(url="https://example.org/" + "x" * 120 + ".mp4", kind="ytdlp")
        session.add(download)
        session.flush()
        _task(session, "downloads.fetch", {"download_id": download.id}, now, state="STARTED")
        _task(session, "catalog.rebuild", {"source": "all"}, now - timedelta(minutes=7), now)
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(
        root / "uma pasta com nome comprido" / "uma aula longa.webm", seconds=1, codec="libvpx"
    )
    rebuild_local(services_of(settings))
    with watched_page(browser, base, viewport={"width": 375, "height": 740}) as ui:
        if view == "player":
            ui.goto("catalog")
            ui.page.locator("a.card").first.click()
            ui.page.locator("main video").wait_for()
        else:
            ui.goto(view)
        ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        if view == "tasks":
            ui.page.locator("tr[data-task-id] summary").first.click()
        else:  # an alert with a link, at phone width
            ui.page.evaluate(
                "(url) => import('/ui/js/api.js').then((api) => api.post('/api/downloads',"
                " {url})).catch(() => {})",
                REFUSED,
            )
            ui.page.locator("#errors .notice-link").wait_for()
        ui.shot(f"phone-people-{view.split('?')[0]}")  # first: an overflow shows in it
        shown = ui.page.locator("main").inner_text()
        assert "null" not in shown and "undefined" not in shown
        width = ui.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (view, width)
        assert ui.violations() == [] and ui.page_errors == []
