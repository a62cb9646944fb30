"""Settings → Google in Chromium (CONTRACT 8.1): from a client file to two connected accounts
(one through Google's redirect, one through the pasted address), a folder picker over an
account's Drive, Reconnect once Google withdraws a grant, and Delete."""

from __future__ import annotations

import json

import pytest
import requests

from core.google import connections
from tests.e2e.ui_support import WAIT_MS, Watched, watched_page, web_process
from tests.helpers import private_redis_db

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def base(base_env, fake_google, tmp_path_factory):
    """gunicorn pointed at the session's fake Google, consent endpoints included; PUBLIC_URL is
    left at its default (http://localhost:PORT), as a user's would be."""
    env = {**base_env, **fake_google.consent_env()}
    env["REDIS_URL"] = private_redis_db(base_env["REDIS_URL"])
    log = tmp_path_factory.mktemp("ui-google") / "web.log"
    with web_process(env, log) as running:
        yield running


@pytest.fixture
def ui(browser, base, settings, fake_google):
    with watched_page(browser, base) as page:
        yield page
        assert page.violations() == []
        assert page.page_errors == []
    fake_google.account_email = "student@example.com"


def row(ui: Watched, email: str):
    return ui.page.locator("tr[data-connection]", has_text=email)


def test_a_person_connects_two_accounts_picks_folders_reconnects_and_deletes(
    ui: Watched, fake_google, tmp_path
):
    ui.goto("settings")
    page = ui.page
    section = page.locator("section.google-accounts")
    section.get_by_text("No Google client yet").wait_for()
    assert (
        section.get_by_role("link", name="The guide (docs/google.md)").get_attribute("href")
        == "/api/google/guide"
    )
    client_file = tmp_path / "client_secret_fake.json"
    client_file.write_text(json.dumps(fake_google.client_file()))
    page.get_by_label("Google client file (JSON)").set_input_files(str(client_file))
    page.get_by_role("button", name="Upload client file").click()
    section.get_by_text(f"Client {fake_google.client_id} (Desktop)").wait_for()

    # Through Google's redirect: the browser goes to the consent page and comes back.
    page.get_by_role("button", name="Connect a Google account").click()
    page.wait_for_url("**/#/settings?connected=*", timeout=WAIT_MS)
    first = row(ui, "student@example.com")
    first.locator("td.status", has_text="ok").wait_for()

    # Through the pasted address: consent happens in another device's browser.
    fake_google.account_email = "me@personal.example"
    page.get_by_role("button", name="Connect from another device").click()
    url = page.locator("code.auth-url-text").inner_text()
    consented = requests.get(url, allow_redirects=False, timeout=10)
    assert consented.status_code == 302
    page.get_by_label("Paste the address").fill(consented.headers["Location"])
    page.get_by_role("button", name="Finish connecting").click()
    second = row(ui, "me@personal.example")
    second.locator("td.status", has_text="ok").wait_for()

    # The folder picker lists that account's Drive; the account's row names what was picked.
    physics = fake_google.add_folder("Physics lessons")
    second.locator("td[data-label='Folders']", has_text="My Drive").wait_for()
    second.get_by_role("button", name="Folders").click()
    picker = page.locator("form.folder-picker")
    picker.get_by_label("Physics lessons").check()
    picker.get_by_label("All of My Drive").uncheck()
    picker.get_by_role("button", name="Save folders").click()
    folder = second.locator(f".drive-folder[data-folder-id='{physics}']")
    folder.wait_for()
    assert folder.inner_text() == "Physics lessons"
    assert physics in (folder.get_attribute("title") or "")
    assert second.locator("td[data-label='Folders']").inner_text() == "Physics lessons"

    # Google withdraws the second account's grant: its next use shows Reconnect.
    fake_google.kill_refresh_tokens("me@personal.example")
    fake_google.expire_all_tokens()
    second.get_by_role("button", name="Folders").click()
    page.locator("#errors .notice.error").wait_for()
    ui.goto("catalog")
    ui.goto("settings")
    second.locator("td.status", has_text="needs reconnecting").wait_for()
    assert second.get_by_role("button", name="Reconnect").is_visible()
    assert first.get_by_role("button", name="Reconnect").count() == 0
    ui.shot("google-accounts")

    page.get_by_role("button", name="Delete student@example.com").click()
    first.wait_for(state="detached")
    assert row(ui, "me@personal.example").count() == 1


def test_the_google_section_fits_a_phone(browser, base, fake_google, db, settings):
    from core.base.vault import Vault
    from core.google import client_config, connections

    vault = Vault(db, settings.fernet_keys)
    client_config.store_client(vault, client_config.parse_client(fake_google.client_file()))
    connections.save(
        db, vault, kind="oauth", email="a.very.long.student.name@school.example.org",
        scopes=["openid"], secret={"refresh_token": "x"}, folders=["root"],
    )  # fmt: skip
    with watched_page(browser, base, viewport={"width": 375, "height": 740}) as ui:
        ui.goto("settings")
        ui.page.locator("tr[data-connection]").first.wait_for()
        ui.shot("phone-google-accounts")
        width = ui.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        assert "undefined" not in ui.page.locator("main").inner_text()
        assert ui.violations() == [] and ui.page_errors == []


def test_folders_show_their_names_and_removing_the_credential_disconnects_its_account(
    ui: Watched, fake_google, settings, db
):
    """Settings names each folder an account indexes (the id as its tooltip), also one Drive no
    longer lets it read; the credential saved by hand and the account it connected go together."""
    from core.catalog.indexing import rebuild_drive
    from core.google.drive import DriveClient
    from tests.services import services_of

    secret, refresh = "by-hand-client-secret", "by-hand-refresh-token"
    fake_google.accept_refresh_token(
        refresh, "by.hand@example.com", ("by-hand-client", secret), scopes=connections.SCOPES
    )
    optics, old = fake_google.add_folder("Óptica – turma B"), fake_google.add_folder("Termo antigo")
    ui.goto("settings")
    page = ui.page
    page.get_by_label("OAuth client ID").fill("by-hand-client")
    page.get_by_label("OAuth client secret").fill(secret)
    page.get_by_label("Refresh token").fill(refresh)
    page.get_by_role("button", name="Save Google credentials").click()
    account = row(ui, "by.hand@example.com")  # the connection PUT made shows at once
    account.locator("td.status", has_text="ok").wait_for()
    assert "Not allowed" not in account.inner_text()  # the scopes Google says it granted
    page.locator("tr[data-kind='google'] td.configured", has_text="yes").wait_for()

    account.get_by_role("button", name="Folders").click()
    picker = page.locator("form.folder-picker")
    picker.get_by_label("Óptica – turma B").check()
    picker.get_by_label("Termo antigo").check()
    picker.get_by_label("All of My Drive").uncheck()
    picker.get_by_role("button", name="Save folders").click()
    cell = account.locator("td[data-label='Folders']")
    cell.locator(f".drive-folder[data-folder-id='{old}']").wait_for()

    # The old term's folder is deleted in Drive; the next rebuild says so, keeping its name.
    fake_google.delete(old)
    (connection,) = requests.get(f"{ui.base}/api/google/connections", timeout=10).json()["items"]
    client = DriveClient.from_settings(settings, db, connection["id"])
    rebuild_drive(services_of(settings), client)
    ui.goto("catalog")
    ui.goto("settings")
    cell.locator(".drive-folder.unreadable").wait_for()
    assert set(cell.inner_text().split(", ")) == {
        "Óptica – turma B",
        "Termo antigo (cannot be read)",
    }
    assert optics in (cell.locator(f"[data-folder-id='{optics}']").get_attribute("title") or "")
    assert old in (cell.locator(".unreadable").get_attribute("title") or "")
    assert old not in cell.inner_text() and optics not in cell.inner_text()
    ui.shot("google-folder-names")

    # Removing the stored credential disconnects the account it connected: its row goes too.
    page.get_by_role("button", name="Remove the google credential").click()
    account.wait_for(state="detached")
    page.get_by_text("No Google account connected yet.").wait_for()
    page.locator("tr[data-kind='google'] td.configured", has_text="no").wait_for()
    assert refresh in fake_google.revoked_tokens
    assert requests.get(f"{ui.base}/api/google/connections", timeout=10).json()["items"] == []
