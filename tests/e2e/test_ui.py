"""The web UI in headless Chromium against real gunicorn, a real worker and the fake Google."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.base.db import database, session_scope
from core.catalog.indexing import rebuild_local
from core.catalog.sources.sync import sync_classroom
from core.google import connections
from core.jobs import records as jobs
from core.notify import notifications
from tests.conftest import settings_from_env
from tests.e2e.ui_support import WAIT_MS, Stack, Watched, watched_page, web_process
from tests.fakes.google import drive_file, link
from tests.fakes.media import MediaServer
from tests.media import make_video
from tests.services import classroom_client, drive_client, services_of

pytestmark = pytest.mark.timeout(180)

VIEWS = ("catalog", "downloads", "tasks", "sources", "subscriptions", "settings")


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1", slow_size=16 * 1024 * 1024) as server:
        yield server


def local_videos(settings, *names: str) -> list[Path]:
    """Fresh WebM files in the first media root (the only ones there)."""
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    return [make_video(root / name, seconds=4, codec="libvpx") for name in names]


def play_and_seek(page, target: float = 2.0) -> dict:
    """Play the view's <video> (muted), seek to `target`; its state afterwards."""
    return page.locator("main video").evaluate(
        """async (v, target) => {
          const wait = (event) => new Promise((ok, bad) => {
            if (event === 'loadedmetadata' && v.readyState >= 1) return ok();
            v.addEventListener(event, ok, {once: true});
            const failed = () => bad(new Error('media error ' + v.error.code));
            v.addEventListener('error', failed, {once: true});
            setTimeout(() => bad(new Error('timed out waiting for ' + event)), 15000);
          });
          v.muted = true;
          await wait('loadedmetadata');
          await v.play();
          v.currentTime = target;
          await wait('seeked');
          return {after: v.currentTime, duration: v.duration, error: v.error && v.error.code};
        }""",
        target,
    )


def test_the_catalog_shows_items_with_thumbnails(ui: Watched, settings):
    local_videos(settings, "aula 1 – frações.webm", "aula 2 – decimais.webm", "revisão.webm")
    rebuild_local(services_of(settings))
    ui.goto("catalog")
    cards = ui.page.locator("a.card")
    cards.nth(2).wait_for()
    assert cards.count() == 3
    images = ui.page.locator("a.card img.thumb")
    images.nth(2).wait_for()
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('a.card img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=WAIT_MS,
    )
    assert sorted(cards.all_inner_texts())[0].startswith("aula 1 – frações")
    ui.shot("catalog")
    ui.page.get_by_label("Search titles").fill("decimais")
    ui.page.wait_for_function("() => document.querySelectorAll('a.card').length === 1")
    assert "decimais" in cards.first.inner_text()
    assert ui.console_errors == []


def test_a_video_plays_and_seeks_in_the_player(ui: Watched, settings):
    local_videos(settings, "aula no navegador.webm")
    rebuild_local(services_of(settings))
    ui.goto("catalog")
    ui.page.locator("a.card").first.click()
    ui.page.get_by_role("heading", level=1, name="aula no navegador").wait_for()
    result = play_and_seek(ui.page)
    assert result["error"] is None
    assert abs(result["after"] - 2.0) < 0.2 and result["duration"] > 3.5
    assert ui.page.locator(".media-error").is_hidden()
    ui.shot("player")
    assert ui.console_errors == []


def test_a_download_from_the_player_reaches_100_and_the_item_plays(
    ui: Watched, stack: Stack, classroom, media, tmp_path
):
    course = classroom.add_course("Física 1", section="Turma A")
    video = make_video(tmp_path / "aula 2.webm", seconds=2, codec="libvpx").read_bytes()
    drive_id = classroom.add_file("aula 2.webm", mime_type="video/webm", content=video)
    classroom.add_coursework(
        course,
        "Semana 1",
        [link(f"{media.base_url}/video.mp4", "Aula gravada"), drive_file(drive_id, "aula 2.webm")],
    )
    settings = settings_from_env(stack.env)
    sync_classroom(
        database(settings.database_url),
        classroom_client(settings),
        drive_client(settings),
    )
    items = stack.api("GET", "/api/catalog/items?source=classroom").json()["items"]
    item = next(i for i in items if i["title"] == "Aula gravada")
    assert item["stream_url"] is None  # a link: it must be downloaded before it plays
    ui.goto(f"player/{item['id']}")
    assert "download it first" in ui.page.locator(".notice-inline").inner_text()
    ui.page.get_by_role("button", name="Download").click()
    ui.page.locator(".download-area progress").wait_for()  # shown while the download runs
    ui.page.locator("main video").wait_for()
    assert "succeeded" in ui.page.locator(".download-state").inner_text()
    assert ui.page.locator(".download-area progress").evaluate("p => p.value") == 100
    # Downloaded: nothing more to download, the file is there to play and save.
    assert ui.page.get_by_role("button", name="Download").is_hidden()
    assert ui.page.get_by_role("link", name="Save the file").get_attribute("href")
    result = play_and_seek(ui.page, 1.0)
    assert result["error"] is None and abs(result["after"] - 1.0) < 0.2

    ui.goto("sources")
    course_row = ui.page.locator("tr", has_text="Física 1")
    course_row.get_by_role("button", name="Download all").click()
    # The Drive video is new; the link is not a video, so it is neither enqueued nor skipped.
    course_row.locator(".course-result", has_text="1 enqueued, 0 skipped.").wait_for()
    ui.goto("downloads")
    rows = ui.page.locator("tr[data-download-id]")
    rows.nth(1).wait_for()
    for index in range(2):
        rows.nth(index).locator("td.state", has_text="succeeded").wait_for()
        assert rows.nth(index).locator("progress").evaluate("p => p.value") == 100
    ui.shot("downloads")
    rows.first.get_by_role("link", name="Play").click()
    result = play_and_seek(ui.page, 1.0)
    assert result["error"] is None and abs(result["after"] - 1.0) < 0.2


def test_a_download_added_by_url_can_be_canceled(ui: Watched, media):
    media.rate_bps = 256 * 1024  # 16 MiB at this pace outlasts the test: it must be canceled
    ui.goto("downloads")
    ui.page.get_by_label("Video URL").fill(f"{media.base_url}/slow.bin")
    ui.page.get_by_label("Format", exact=True).select_option("custom")
    ui.page.get_by_label("Custom format selector").fill("b")
    ui.page.get_by_role("button", name="Add download").click()
    row = ui.page.locator("tr[data-download-id]").first
    row.locator("td.state", has_text="running").wait_for()
    ui.page.wait_for_function(
        "() => document.querySelector('tr[data-download-id] progress')?.value > 0", timeout=WAIT_MS
    )
    row.get_by_role("button", name="Cancel").click()
    row.locator("td.state", has_text="canceled").wait_for()
    row.get_by_role("button", name="Retry").wait_for()
    assert ui.console_errors == []


def test_a_rebuild_shows_progress_and_new_items_appear(ui: Watched, settings):
    local_videos(settings)
    ui.goto("catalog")
    ui.page.locator(".summary", has_text="No items").wait_for()
    local_videos(settings, "nova aula 1.webm", "nova aula 2.webm")
    ui.goto("sources")
    ui.page.get_by_role("button", name="Rebuild local").click()
    state = ui.page.locator("[data-control-state='rebuild-local']")
    state.and_(ui.page.locator("[data-state='SUCCESS']")).filter(has_text="Done").wait_for()
    control = ui.page.locator(
        "li.task-control", has=ui.page.locator("[data-control='rebuild-local']")
    )
    assert control.locator("progress").evaluate("p => p.value") == 100
    assert "items 2" in control.locator(".task-note").inner_text()
    assert ui.page.locator("dl.details dd").first.inner_text() != "—"  # last rebuild time
    ui.shot("sources")
    ui.goto("catalog")
    ui.page.locator("a.card").nth(1).wait_for()
    assert sorted(ui.page.locator("a.card .card-title").all_inner_texts()) == [
        "nova aula 1",
        "nova aula 2",
    ]


def test_an_api_error_shows_the_envelope_message(ui: Watched, stack: Stack):
    expected = stack.api("POST", "/api/downloads", json={"url": "ftp://example.com/a.mp4"})
    assert expected.status_code == 400
    message = expected.json()["error"]["message"]
    ui.goto("downloads")
    ui.page.get_by_label("Video URL").fill("ftp://example.com/a.mp4")
    ui.page.get_by_role("button", name="Add download").click()
    alert = ui.page.locator("#errors .notice.error").first
    alert.wait_for()
    assert message in alert.inner_text() and "request " in alert.inner_text()
    assert ui.page.locator("#errors").get_attribute("role") == "alert"
    missing = stack.api("GET", "/api/catalog/items/999999").json()["error"]["message"]
    ui.goto("player/999999")
    ui.page.locator("#errors .notice", has_text=missing).wait_for()
    ui.page.route("**/api/tasks?*", lambda route: route.abort())  # the network fails
    ui.goto("tasks")
    ui.page.locator("#errors .notice", has_text="could not be reached").wait_for()


def test_repeated_polls_use_304_and_a_task_can_be_canceled(ui: Watched, stack: Stack):
    settings = settings_from_env(stack.env)
    from api.extensions import make_celery_client

    celery = make_celery_client(settings)
    record = jobs.enqueue(
        database(settings.database_url), celery, "testing.sleep", {"seconds": 20, "steps": 1}
    )
    celery.close()
    ui.goto("tasks")
    row = ui.page.locator(f"tr[data-task-id='{record.id}']")
    row.locator("td.state[data-state='STARTED']").wait_for()
    assert row.locator("td.state").inner_text() == "Running"  # the state in words

    def not_modified() -> list:
        return [
            r for r in ui.responses if r.status == 304 and r.url.endswith(f"/api/tasks/{record.id}")
        ]

    for _ in range(100):
        if len(not_modified()) >= 2:
            break
        ui.page.wait_for_timeout(200)
    assert len(not_modified()) >= 2
    sent = not_modified()[0].request.all_headers()
    assert sent.get("if-none-match")
    ui.shot("tasks")
    row.get_by_role("button", name="Cancel").click()
    row.locator("td.state[data-state='REVOKED']", has_text="Canceled").wait_for()
    ui.goto("settings")  # leaving the view stops its polls
    ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    polls = len([r for r in ui.responses if "/api/tasks" in r.url])
    ui.page.wait_for_timeout(2500)
    assert len([r for r in ui.responses if "/api/tasks" in r.url]) == polls
    assert ui.console_errors == []


def test_every_view_passes_the_strict_csp(ui: Watched, settings):
    local_videos(settings, "csp.webm")
    rebuild_local(services_of(settings))
    for view in VIEWS:
        ui.goto(view)
        ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    ui.goto("catalog")
    ui.page.locator("a.card").first.click()
    ui.page.locator("main video").wait_for()
    play_and_seek(ui.page, 1.0)
    ui.goto("settings")
    ui.shot("settings")
    assert ui.csp_headers, "the page must have been served with the CSP"
    assert ui.violations() == [] and ui.console_errors == []
    # The watch itself works: an inline script is refused and reported.
    ui.page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.x = 1'; document.body.append(s); }"
    )
    ui.page.wait_for_function("() => window.__csp.length > 0", timeout=WAIT_MS)
    assert any("script-src" in v for v in ui.violations())
    ui.page.evaluate("() => { window.__csp.length = 0; }")


def test_phone_width_has_no_horizontal_scroll(browser, stack: Stack, settings, media):
    local_videos(settings, "uma aula com um título bem comprido para caber no telefone.webm")
    rebuild_local(services_of(settings))
    stack.api("POST", "/api/downloads", json={"url": f"{media.base_url}/video.mp4?" + "x" * 120})
    with watched_page(browser, stack.base, viewport={"width": 375, "height": 740}) as ui:
        for view in (*VIEWS, "player/" + str(_first_item(stack))):
            ui.goto(view)
            ui.page.wait_for_load_state("networkidle", timeout=WAIT_MS)
            width = ui.page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert width[0] <= width[1], (view, width)
            ui.shot(f"phone-{view.split('/')[0]}")
        assert ui.violations() == []


def _first_item(stack: Stack) -> int:
    return int(stack.api("GET", "/api/catalog/items").json()["items"][0]["id"])


def test_keyboard_reaches_the_nav_and_a_card_and_enter_opens_the_player(ui: Watched, settings):
    local_videos(settings, "teclado.webm")
    rebuild_local(services_of(settings))
    ui.goto("catalog")
    ui.page.locator("a.card").first.wait_for()
    ui.page.evaluate("() => document.activeElement.blur()")
    reached: list[str] = []
    for _ in range(20):
        ui.page.keyboard.press("Tab")
        reached.append(
            ui.page.evaluate(
                "() => { const a = document.activeElement;"
                " const where = a.closest('nav') ? 'nav:' : '';"
                " return where + a.className + ':' + a.textContent.trim(); }"
            )
        )
        if reached[-1].startswith("card"):
            break
    assert any(text.startswith("nav:") for text in reached), reached
    assert reached[-1].startswith("card"), reached
    assert reached[0].startswith("skip-link"), reached
    ui.page.keyboard.press("Enter")
    ui.page.get_by_role("heading", level=1, name="teclado").wait_for()
    assert "#/player/" in ui.page.url
    nav_current = ui.page.locator("nav a[aria-current='page']")
    assert nav_current.inner_text() == "Catalog"


def test_settings_store_secrets_without_showing_them_back(
    ui: Watched, stack: Stack, tmp_path, fake_google
):
    secret, refresh = "client-secret-not-to-be-shown", "refresh-token-not-to-be-shown"
    # Credentials got elsewhere (another tool's OAuth dance): Google knows them, and Aula checks
    # them with a token and reads the account's email before storing its connection.
    fake_google.accept_refresh_token(
        refresh, "by.hand@example.com", ("aula-client", secret), scopes=connections.SCOPES
    )
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n"
        ".example.com\tTRUE\t/\tTRUE\t2147483647\tsid\tcookie-value-x\n"
    )
    ui.goto("settings")
    ui.page.get_by_label("OAuth client ID").fill("aula-client")
    ui.page.get_by_label("OAuth client secret").fill(secret)
    ui.page.get_by_label("Refresh token").fill(refresh)
    ui.page.get_by_role("button", name="Save Google credentials").click()
    ui.page.locator("tr[data-kind='google'] td.configured", has_text="yes").wait_for()
    ui.page.get_by_label("cookies.txt (Netscape format)").set_input_files(str(cookies))
    ui.page.get_by_role("button", name="Upload cookies").click()
    ui.page.locator("tr[data-kind='cookies'] td.configured", has_text="yes").wait_for()
    fingerprint = stack.api("GET", "/api/credentials").json()[0]["fingerprint"]
    assert fingerprint and fingerprint in ui.page.locator("tr[data-kind='google']").inner_text()
    assert ui.page.get_by_label("OAuth client secret").input_value() == ""
    assert ui.page.get_by_label("Refresh token").input_value() == ""
    content = ui.page.content()
    assert secret not in content and refresh not in content and "cookie-value-x" not in content

    ui.page.get_by_role("textbox", name="Admin token").fill("token-for-this-tab")
    ui.page.get_by_role("button", name="Save token").click()
    ui.page.locator(".token-state", has_text="A token is stored").wait_for()
    assert "token-for-this-tab" not in ui.page.content()
    with ui.page.expect_request(lambda r: "/api/tasks" in r.url) as sent:
        ui.goto("tasks")
    assert sent.value.all_headers().get("authorization") == "Bearer token-for-this-tab"
    ui.goto("settings")
    ui.page.get_by_role("button", name="Forget token").click()
    assert ui.page.evaluate("() => sessionStorage.getItem('aula.adminToken')") is None
    assert ui.console_errors == []


def test_with_reads_behind_the_token_the_ui_asks_for_it_and_plays_signed_urls(
    browser, base_env, settings, tmp_path
):
    token = "ui-test-admin-token-0123456789"
    local_videos(settings, "protegida.webm")
    rebuild_local(services_of(settings))
    env = {**base_env, "ADMIN_TOKEN": token, "REQUIRE_AUTH_FOR_READS": "true"}
    with web_process(env, tmp_path / "guarded-web.log") as base, watched_page(browser, base) as ui:
        ui.page.goto(f"{base}/#/catalog")
        ui.page.wait_for_url("**/#/settings", timeout=WAIT_MS)
        ui.page.locator("#errors .notice", has_text="admin token").first.wait_for()
        ui.page.get_by_role("textbox", name="Admin token").fill(token)
        ui.page.get_by_role("button", name="Save token").click()
        ui.goto("catalog")
        image = ui.page.locator("a.card img.thumb").first
        image.wait_for()
        ui.page.wait_for_function(
            "() => { const i = document.querySelector('a.card img'); return i.complete"
            " && i.naturalWidth > 0; }"
        )
        assert "sig=" in image.get_attribute("src")
        ui.page.locator("a.card").first.click()
        ui.page.locator("main video").wait_for()
        assert "sig=" in ui.page.locator("main video").get_attribute("src")
        result = play_and_seek(ui.page, 1.0)
        assert result["error"] is None and abs(result["after"] - 1.0) < 0.2
        assert ui.violations() == [] and ui.page_errors == []


def test_scrolling_down_the_catalog_loads_the_next_page(ui: Watched, settings):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "modelo.webm", seconds=1, codec="libvpx")
    for index in range(29):  # 30 items: one page of 24 and the rest
        shutil.copy(root / "modelo.webm", root / f"aula {index:02}.webm")
    rebuild_local(services_of(settings))
    ui.page.set_viewport_size({"width": 800, "height": 500})  # a page of cards overflows it
    ui.goto("catalog")
    cards = ui.page.locator("a.card")
    cards.nth(23).wait_for()
    assert cards.count() == 24
    assert ui.page.get_by_role("button", name="Load more").is_visible()
    ui.page.locator(".sentinel").scroll_into_view_if_needed()
    cards.nth(29).wait_for()
    assert cards.count() == 30
    assert ui.page.get_by_role("button", name="Load more").is_hidden()
    titles = cards.locator(".card-title").all_inner_texts()
    assert len(set(titles)) == 30


def test_a_course_is_subscribed_shows_what_it_brought_and_is_unsubscribed(
    ui: Watched, stack: Stack, settings, classroom
):
    video = classroom.add_file("aula de música.mp4", size=4_000, seed=3)
    course = classroom.add_course("Música")
    classroom.add_coursework(course, "Semana 1", [drive_file(video, "Aula de música")])
    sync_classroom(
        database(settings.database_url),
        classroom_client(settings),
        drive_client(settings),
    )
    # A delivery to show in the list (this stack sends no webhooks of its own).
    hooked = settings.model_copy(update={"webhook_urls": ["https://hooks.example.org/aula"]})
    with session_scope(settings.database_url) as session:
        notifications.record(session, hooked, "download.failed", "download:0", {"id": 0})
    ui.goto("subscriptions")
    ui.page.get_by_label("Course").select_option(label="Música")
    ui.page.get_by_role("button", name="Subscribe").click()
    ui.page.locator("#status .notice", has_text="1 video enqueued").wait_for()
    row = ui.page.locator("tr[data-subscription-id]", has_text="Course Música")
    row.locator("td.brought", has_text="1").wait_for()
    assert row.locator("td.checked").inner_text() != "—"
    delivery = ui.page.locator("tr[data-delivery-id]", has_text="download.failed")
    delivery.wait_for()
    assert "hooks.example.org" in delivery.inner_text()
    ui.shot("subscriptions")
    listed = stack.api("GET", "/api/downloads").json()["items"]
    assert [d["url"].split("/")[5] for d in listed] == [video]
    row.get_by_role("button", name="Unsubscribe Course Música").click()
    ui.page.locator(".summary", has_text="No subscriptions yet.").wait_for()
    assert stack.api("GET", "/api/subscriptions").json()["items"] == []
    assert len(stack.api("GET", "/api/downloads").json()["items"]) == 1, "downloads stay"
    ui.goto("sources")  # subscribing from the course's row
    ui.page.get_by_role("button", name="Subscribe to Música").click()
    ui.page.locator(".course-result", has_text="Subscribed").wait_for()
    ui.goto("subscriptions")
    ui.page.locator("tr[data-subscription-id]", has_text="Course Música").wait_for()
    assert len(stack.api("GET", "/api/downloads").json()["items"]) == 1, "nothing twice"
    assert ui.console_errors == []
