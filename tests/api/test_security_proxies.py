"""TRUSTED_PROXIES lists proxy addresses or CIDRs: forwarded headers count only from them."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.base.errors import ConfigurationError
from core.base.settings import load_settings
from tests.api.conftest import MakeApp
from tests.api.envelope import assert_envelope
from tests.api.test_auth import TOKEN

PROXY = {"REMOTE_ADDR": "10.1.2.3"}  # inside the trusted 10.0.0.0/8
STRANGER = {"REMOTE_ADDR": "192.0.2.50"}


def client_address() -> str:
    raw = uuid.uuid4().int
    return f"198.51.{raw % 250}.{(raw >> 8) % 250 + 1}"


def guess(client: FlaskClient, environ: dict[str, str], forwarded: str | None = None) -> int:
    headers = {"X-Admin-Token": "wrong"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return client.post(
        "/api/maintenance/cleanup", headers=headers, environ_base=environ
    ).status_code


@pytest.fixture
def behind_proxy(make_app: MakeApp) -> Flask:
    # Failed authentications are counted per client address: the count shows whom the app saw.
    return make_app(
        admin_token=TOKEN, trusted_proxies="10.0.0.0/8, ::1", rate_limit_auth_failures="2/minute"
    )


def test_a_listed_proxy_gives_the_client_address(behind_proxy: Flask) -> None:
    client, first, second = behind_proxy.test_client(), client_address(), client_address()

    assert [guess(client, PROXY, first) for _ in range(3)] == [401, 401, 429]
    assert guess(client, PROXY, second) == 401  # another client behind the same proxy
    # Two proxies in a row (both listed): the client is the first address that is not one.
    assert guess(client, PROXY, f"{first}, 10.9.9.9") == 429
    # A client that sends its own X-Forwarded-For gets it appended to, never believed.
    assert guess(client, PROXY, f"{first}, {second}") == 401


def test_a_peer_not_listed_cannot_pick_its_address(behind_proxy: Flask) -> None:
    client, victim = behind_proxy.test_client(), client_address()

    # The stranger claims to be the victim (and then loopback): counted as itself each time.
    assert guess(client, STRANGER, victim) == 401
    assert guess(client, STRANGER, "127.0.0.1") == 401
    assert guess(client, STRANGER, victim) == 429
    assert guess(client, PROXY, victim) == 401  # the victim's own count is untouched


def test_a_claimed_loopback_address_opens_nothing(make_app: MakeApp) -> None:
    # No ADMIN_TOKEN: mutations from loopback only. A relayed client is not loopback, and a
    # stranger claiming loopback through X-Forwarded-For is not believed.
    app = make_app(trusted_proxies="127.0.0.1")
    client = app.test_client()
    for environ, forwarded in ((STRANGER, "127.0.0.1"), ({}, "192.0.2.9")):
        response = client.post(
            "/api/maintenance/cleanup",
            headers={"X-Forwarded-For": forwarded},
            environ_base=environ,
        )
        assert_envelope(response, 403, "forbidden")
    assert client.post("/api/maintenance/cleanup").status_code == 202


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("", []), ("0", []), ("127.0.0.1", ["127.0.0.1/32"]),
     ("10.0.0.0/8, ::1 ,172.16.0.1/12", ["10.0.0.0/8", "::1/128", "172.16.0.0/12"])],
)  # fmt: skip
def test_addresses_and_cidrs_parse(value: str, parsed: list[str]) -> None:
    assert load_settings(trusted_proxies=value).trusted_proxies == parsed


@pytest.mark.parametrize("value", ["1", "2", "10.0.0.0/8,1", "proxy.example", "10.0.0.0/33"])
def test_a_count_or_a_name_stops_with_one_line(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(trusted_proxies=value)
    line = str(caught.value)
    assert line.startswith("configuration error: TRUSTED_PROXIES") and "\n" not in line
