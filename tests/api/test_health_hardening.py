"""Probes anyone may send stay cheap and discreet: readiness is reused for a few seconds, and
/api/health names this machine's paths only to the admin."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from api.health import HIDDEN, READY_CACHE_S
from tests.api.conftest import MakeApp
from tests.api.test_auth import OUTSIDER, TOKEN
from tests.helpers import start_redis, stop_process_group, wait_for


def shown(app: Flask, **kwargs: object) -> dict[str, object]:
    response = app.test_client().get("/api/health", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200
    settings: dict[str, object] = response.get_json()["settings"]
    return settings


def test_paths_are_shown_to_the_admin_only(make_app: MakeApp, base_env: dict[str, str]) -> None:
    guarded, open_app = make_app(admin_token=TOKEN), make_app()
    data_dir = base_env["DATA_DIR"]

    for app, kwargs in ((guarded, {}), (guarded, {"environ_base": OUTSIDER}),
                        (open_app, {"environ_base": OUTSIDER})):  # fmt: skip
        anonymous = shown(app, **kwargs)
        assert data_dir not in str(anonymous)
        assert anonymous["data_dir"] == HIDDEN and anonymous["download_dir"] == HIDDEN
        assert anonymous["media_roots"] == [HIDDEN]
        if base_env["DATABASE_URL"].startswith("sqlite"):  # a file path; a server URL is shown
            assert anonymous["database_url"] == "sqlite:///" + HIDDEN
        assert anonymous["log_format"] == "json"  # the rest is shown as before
    admin = shown(guarded, headers={"X-Admin-Token": TOKEN}, environ_base=OUTSIDER)
    assert admin["data_dir"] == data_dir
    assert shown(open_app)["download_dir"] == base_env["DOWNLOAD_DIR"]  # this machine


def test_readiness_is_reused_for_a_few_seconds(make_app: MakeApp, tmp_path: Path) -> None:
    process, url = start_redis(tmp_path)
    try:
        app = make_app(redis_url=url)
        client = app.test_client()
        first = client.get("/api/health/ready").get_json()
        assert first["checks"]["broker"] == "ok"
    finally:
        process.kill()  # at once: the next request comes well inside READY_CACHE_S
        process.wait(timeout=30)
        stop_process_group(process)

    # The broker is gone, but an answer younger than READY_CACHE_S is reused, not re-probed.
    again = client.get("/api/health/ready").get_json()
    assert again["checks"] == first["checks"]

    def probed_again() -> bool:
        return client.get("/api/health/ready").get_json()["checks"]["broker"] != "ok"

    wait_for(probed_again, READY_CACHE_S * 6, what="readiness to be checked again")
