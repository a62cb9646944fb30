"""CONTRACT 8.1's "done when", in Chromium against the fake Google with a real worker: a new user
with only a client file connects two accounts (one through the pasted address), picks each
account's folders, syncs, and finds both accounts' folders and courses in the catalog; deleting
one account takes its items away; a revoked refresh token shows Reconnect after one sync."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.ui_support import WAIT_MS, Stack, Watched, watched_page
from tests.fakes.google import FakeGoogle, drive_file

pytestmark = pytest.mark.timeout(300)
SCHOOL, HOME = "student@example.com", "me@personal.example"


@pytest.fixture
def google(fake_google: FakeGoogle) -> Iterator[FakeGoogle]:
    """The session's fake Google with two accounts' lessons: Physics for the school account,
    Maths for the personal one, and a Classroom course each sees alone."""
    for child in fake_google.children("root", include_trashed=True):
        fake_google.delete(child)
    fake_google.clear_classroom()
    fake_google.clear_faults()
    physics, maths = fake_google.add_folder("Physics"), fake_google.add_folder("Maths")
    fake_google.add_file("Waves.mp4", physics, size=4000, seed=1)
    fake_google.add_file("Algebra.mp4", maths, size=4000, seed=2)
    for name, member, video in (("School course", SCHOOL, "Optics.mp4"),
                                ("Home course", HOME, "Guitar.mp4")):  # fmt: skip
        course = fake_google.add_course(name, members=(member,))
        file_id = fake_google.add_file(video, size=4000, seed=3)
        fake_google.add_course_material(course, "Week 1", [drive_file(file_id, video)])
    yield fake_google
    fake_google.account_email = SCHOOL
    fake_google.clear_classroom()
    for child in fake_google.children("root", include_trashed=True):
        fake_google.delete(child)


@pytest.fixture
def ui(browser, stack: Stack, settings) -> Iterator[Watched]:
    with watched_page(browser, stack.base) as page:
        yield page
        assert page.violations() == []
        assert page.page_errors == []


def _row(ui: Watched, email: str):
    return ui.page.locator("tr[data-connection]", has_text=email)


def _pick_folder(ui: Watched, email: str, folder: str) -> None:
    _row(ui, email).get_by_role("button", name="Folders").click()
    picker = ui.page.locator(f"form.folder-picker[aria-label='Drive folders of {email}']")
    picker.get_by_label(folder).check()
    picker.get_by_label("All of My Drive").uncheck()
    picker.get_by_role("button", name="Save folders").click()
    # The table redraws with the picked folder's name (the picker's own label is outside it).
    _row(ui, email).locator("td", has_text=folder).wait_for()


def _run(ui: Watched, control: str, label: str, state: str = "SUCCESS") -> None:
    ui.goto("sources")
    ui.page.get_by_role("button", name=label).click()
    ui.page.locator(f"[data-control-state='{control}'][data-state='{state}']").wait_for(
        timeout=WAIT_MS * 3
    )


def _titles(ui: Watched) -> set[str]:
    ui.goto("catalog")
    ui.page.locator("a.card").first.wait_for()
    ui.page.wait_for_function(  # every thumbnail in (or replaced by its placeholder)
        "() => [...document.querySelectorAll('a.card img')].every((i) => i.complete)"
    )
    return set(ui.page.locator("a.card .card-title").all_inner_texts())


def _courses(ui: Watched) -> set[str]:
    options = ui.page.locator("select[name='course_id'] option").all_inner_texts()
    return set(options) - {"All courses"}


def test_two_accounts_in_the_catalog_delete_one_and_reconnect_after_a_revoked_token(
    ui: Watched, google: FakeGoogle, tmp_path
):
    page = ui.page
    ui.goto("settings")
    client_file = tmp_path / "client_secret.json"
    client_file.write_text(json.dumps(google.client_file()))
    page.get_by_label("Google client file (JSON)").set_input_files(str(client_file))
    page.get_by_role("button", name="Upload client file").click()
    page.locator("section.google-accounts").get_by_text(f"Client {google.client_id}").wait_for()

    google.account_email = SCHOOL  # through Google's redirect
    page.get_by_role("button", name="Connect a Google account").click()
    page.wait_for_url("**/#/settings?connected=*", timeout=WAIT_MS)
    _row(ui, SCHOOL).locator("td.status", has_text="ok").wait_for()
    google.account_email = HOME  # through the pasted address (consent on another device)
    page.get_by_role("button", name="Connect from another device").click()
    consented = requests.get(
        page.locator("code.auth-url-text").inner_text(), allow_redirects=False, timeout=10
    )
    page.get_by_label("Paste the address").fill(consented.headers["Location"])
    page.get_by_role("button", name="Finish connecting").click()
    _row(ui, HOME).locator("td.status", has_text="ok").wait_for()
    _pick_folder(ui, SCHOOL, "Physics")
    _pick_folder(ui, HOME, "Maths")
    ui.shot("google-two-accounts")

    _run(ui, "rebuild-drive", "Rebuild Drive")
    _run(ui, "sync-classroom", "Sync Classroom")
    ui.shot("google-two-accounts-sources")
    titles = _titles(ui)
    assert {"Waves.mp4", "Algebra.mp4", "Optics.mp4", "Guitar.mp4"} <= titles, titles
    assert _courses(ui) == {"School course", "Home course"}
    ui.shot("google-two-accounts-catalog")

    ui.goto("settings")
    page.get_by_role("button", name=f"Delete {SCHOOL}").click()
    _row(ui, SCHOOL).wait_for(state="detached")
    titles = _titles(ui)
    assert {"Algebra.mp4", "Guitar.mp4"} <= titles and not {"Waves.mp4", "Optics.mp4"} & titles
    assert _courses(ui) == {"Home course"}
    ui.shot("google-one-account-deleted-catalog")

    # Google withdraws the remaining account's grant: one sync later, Settings says Reconnect.
    google.kill_refresh_tokens(HOME)
    google.expire_all_tokens()
    _run(ui, "sync-drive", "Sync Drive", state="FAILURE")
    ui.goto("settings")
    home = _row(ui, HOME)
    home.locator("td.status", has_text="needs reconnecting").wait_for()
    assert home.get_by_role("button", name="Reconnect").is_visible()
    ui.shot("google-reconnect-after-sync")
