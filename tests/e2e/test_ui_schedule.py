"""The download schedule panel in Settings and the waiting reason on the Downloads view
(CONTRACT 8.5), in Chromium against gunicorn on a database of its own."""

from __future__ import annotations

import pytest
import requests

from core.base.db import database, migrate
from core.base.models import Download
from tests.e2e.ui_support import watched_page, web_process
from tests.helpers import private_redis_db

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def stack(base_env, tmp_path_factory):
    """gunicorn on a fresh SQLite database; no worker (a paused schedule sends nothing)."""
    folder = tmp_path_factory.mktemp("ui-schedule")
    url = f"sqlite:///{folder / 'schedule.db'}"
    migrate(url)
    env = {**base_env, "DATABASE_URL": url, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    with web_process(env, folder / "web.log") as running:
        yield running, database(url)


@pytest.fixture(scope="module")
def base(stack):
    return stack[0]


def test_the_schedule_panel_saves_refuses_bad_windows_and_downloads_show_why_they_wait(
    browser, base
) -> None:
    with watched_page(browser, base) as ui:
        ui.goto("settings")
        panel = ui.page.locator("section.download-schedule")
        panel.locator(".schedule-state", has_text="at any time").wait_for()
        ui.page.get_by_label("Download windows").fill("25:00-26:00")
        panel.get_by_role("button", name="Save schedule").click()
        ui.page.locator("#errors", has_text="25:00").wait_for()
        assert requests.get(f"{base}/api/settings/downloads", timeout=10).json()["windows"] == []

        ui.page.get_by_label("Download windows").fill("22:00-06:00, 12:00-13:00")
        ui.page.get_by_label("Rate limit per download (MiB/s)").fill("1")
        ui.page.get_by_label("Downloads at once").fill("3")
        ui.page.get_by_label("Pause all downloads").check()
        panel.get_by_role("button", name="Save schedule").click()
        ui.page.locator("#status", has_text="Download schedule saved").wait_for()
        panel.locator(".schedule-state", has_text="Downloads are paused").wait_for()
        saved = requests.get(f"{base}/api/settings/downloads", timeout=10).json()
        assert saved == {"paused": True, "windows": ["22:00-06:00", "12:00-13:00"],
                         "rate_limit_bps": 1048576, "concurrency": 3}  # fmt: skip
        panel.scroll_into_view_if_needed()
        ui.shot("download-schedule")

        created = requests.post(
            f"{base}/api/downloads",
            json={"url": "https://drive.google.com/file/d/aulaWaitingFile01/view"},
            timeout=10,
        ).json()
        assert created["download"]["waiting_reason"] == "paused"
        ui.goto("downloads")
        ui.page.locator("td", has_text="waiting: downloads are paused").wait_for()
        ui.shot("downloads-waiting")
        assert ui.violations() == [] and ui.page_errors == []


def test_a_finished_download_can_be_protected_from_retention(browser, stack) -> None:
    base, db = stack
    with db.session() as session:
        done = Download(
            url="https://videos.example/kept.mp4", kind="ytdlp", state="succeeded",
            title="Kept lesson", file_path="kept.mp4", file_size=5, sha256="0" * 64,
        )  # fmt: skip
        session.add(done)
        session.flush()
        download_id = done.id
    with watched_page(browser, base) as ui:
        ui.goto("downloads")
        # exact: by default a name matches as a case-insensitive substring, and "protect
        # download #N" is inside "Unprotect download #N" (the wait below passed at once, and
        # the read after it raced the change; seen once in CI on PostgreSQL).
        protect, unprotect = (
            ui.page.get_by_role("button", name=f"{verb} download #{download_id}", exact=True)
            for verb in ("Protect", "Unprotect")
        )
        protect.click()
        unprotect.wait_for()
        shown = requests.get(f"{base}/api/downloads/{download_id}", timeout=10).json()
        assert shown["protected"] is True
        ui.shot("downloads-protected")
        unprotect.click()
        protect.wait_for()
        assert (
            requests.get(f"{base}/api/downloads/{download_id}", timeout=10).json()["protected"]
            is False
        )
        assert ui.violations() == [] and ui.page_errors == []
