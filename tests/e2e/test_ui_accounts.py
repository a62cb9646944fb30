"""The web UI with people (CONTRACT 8.2): first-run setup, sign-in, the user menu, Users and
Tokens for admins, and a viewer who sees no admin controls; in Chromium against gunicorn on a
database of its own (people change what every other test would see)."""

from __future__ import annotations

import pytest

from core.base.db import migrate
from tests.e2e.ui_support import Watched, watched_page, web_process
from tests.helpers import private_redis_db

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def base(base_env, tmp_path_factory):
    """gunicorn on a fresh SQLite database of its own; no worker (nothing here runs a task)."""
    folder = tmp_path_factory.mktemp("ui-accounts")
    url = f"sqlite:///{folder / 'people.db'}"
    migrate(url)
    env = {**base_env, "DATABASE_URL": url, "REDIS_URL": private_redis_db(base_env["REDIS_URL"])}
    with web_process(env, folder / "web.log") as running:
        yield running


def clean(page: Watched) -> None:
    assert page.violations() == []
    assert page.page_errors == []


def sign_in(ui: Watched, username: str, password: str) -> None:
    ui.page.get_by_label("Username").fill(username)
    ui.page.get_by_label("Password").fill(password)
    ui.page.get_by_role("button", name="Sign in").click()


def test_setup_sign_in_users_tokens_and_a_viewer(browser, base) -> None:
    with watched_page(browser, base) as ui:
        # First run: the header offers setup and the page says the library is open until then.
        ui.goto("catalog")
        ui.page.get_by_role("link", name="Create the admin account").click()
        ui.page.locator("main h1", has_text="Create the admin account").wait_for()
        assert "anyone who can reach this server" in ui.page.locator("main .warning").inner_text()
        ui.shot("people-setup")
        ui.page.get_by_label("Username").fill("alice")
        ui.page.get_by_label("Password").fill("alice's long password")
        ui.page.get_by_role("button", name="Create the admin account").click()
        ui.page.locator("#who", has_text="alice (admin)").wait_for()

        # Users: add a viewer.
        ui.goto("users")
        ui.page.get_by_label("Username").fill("bob")
        ui.page.get_by_label("Password").fill("bob's long password")
        ui.page.get_by_label("Role").select_option("viewer")
        ui.page.get_by_role("button", name="Add user").click()
        ui.page.locator("tr[data-user-id] td.role", has_text="viewer").wait_for()
        assert ui.page.get_by_role("button", name="Delete alice").is_disabled()
        ui.shot("people-users")

        # Account: a token shown once.
        ui.goto("account")
        ui.page.get_by_label("Token name").fill("backup script")
        ui.page.get_by_role("button", name="Create token").click()
        secret = ui.page.locator(".new-token code.secret").inner_text()
        assert secret.startswith("aula_")
        ui.page.locator("tr[data-token-id]", has_text="backup script").wait_for()
        ui.shot("people-account")
        ui.page.get_by_label("Current password").fill("alice's long password")
        ui.page.get_by_label("New password").fill("alice's newer password")
        ui.page.get_by_role("button", name="Change password").click()
        ui.page.locator("#status", has_text="Password changed").wait_for()
        ui.page.locator("tr.empty", has_text="No API tokens.").wait_for()  # tokens ended

        # Sign out: the sign-in page, and nothing behind it.
        ui.page.get_by_role("button", name="Sign out").click()
        ui.page.locator("main h1", has_text="Sign in to Aula").wait_for()
        assert ui.page.locator("header nav").is_hidden()
        ui.shot("people-signin")
        sign_in(ui, "alice", "alice's newer password")
        ui.page.locator("#who", has_text="alice (admin)").wait_for()
        clean(ui)

    with watched_page(browser, base) as viewer:
        viewer.page.goto(f"{base}/#/downloads")
        viewer.page.locator("main h1", has_text="Sign in to Aula").wait_for()
        sign_in(viewer, "bob", "wrong password!")
        viewer.page.locator("#errors", has_text="not right").wait_for()
        sign_in(viewer, "bob", "bob's long password")
        viewer.page.locator("#who", has_text="bob (viewer)").wait_for()
        viewer.page.locator("main h1").first.wait_for()
        assert viewer.page.url.endswith("#/downloads")  # back where they were going
        assert viewer.page.locator("form.add-download").is_hidden()
        assert viewer.page.get_by_role("heading", name="Add a download").is_hidden()
        for name in ("Sources", "Subscriptions", "Settings", "Users"):
            assert viewer.page.get_by_role("link", name=name, exact=True).is_hidden()
        viewer.shot("people-viewer")
        clean(viewer)


def test_the_people_views_fit_a_phone(browser, base) -> None:
    phone = {"viewport": {"width": 375, "height": 800}}
    with watched_page(browser, base, **phone) as ui:
        ui.page.goto(f"{base}/#/users")
        setup = ui.page.get_by_role("link", name="Create the admin account")
        signin = ui.page.locator("main h1", has_text="Sign in to Aula")
        setup.or_(signin).first.wait_for()
        if setup.is_visible():  # run alone: this test makes the admin itself
            ui.goto("setup")
            ui.page.get_by_label("Username").fill("carol")
            ui.page.get_by_label("Password").fill("carol's long password")
            ui.page.get_by_role("button", name="Create the admin account").click()
        else:
            sign_in(ui, "alice", "alice's newer password")
        ui.page.locator("#who", has_text="(admin)").wait_for()
        for view in ("users", "account"):
            ui.goto(view)
            ui.page.locator("main h2").first.wait_for()
            width = ui.page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 375, f"{view} is {width} px wide"
            ui.shot(f"people-{view}-phone")
        clean(ui)
