"""DOWNLOAD_ALLOW_PRIVATE_HOSTS opens loopback and private ranges, never link-local or metadata."""

from __future__ import annotations

import ipaddress

import pytest

from core.base.errors import ValidationFailed
from core.base.netguard import check_address, check_host, never_allowed_reason

NEVER = [
    "169.254.169.254",  # AWS, GCP, Azure metadata
    "169.254.170.2",  # ECS task metadata
    "169.254.0.1",
    "fe80::1",
    "fe80::a9fe:a9fe",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:169.254.169.254",  # mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
]
OPENED = ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.9", "192.168.1.10", "fd00::1", "fd00:ec2::253"]


@pytest.mark.parametrize("address", NEVER)
def test_link_local_and_metadata_are_never_allowed(address: str) -> None:
    assert never_allowed_reason(ipaddress.ip_address(address)) is not None
    for allow_private in (False, True):
        with pytest.raises(ValidationFailed) as caught:
            check_address(address, allow_private=allow_private)
        assert caught.value.details["reason"] == "forbidden_url"
        # No setting opens these, so none is named: the refusal says so instead.
        assert "setting" not in caught.value.details
        assert "whatever the settings" in caught.value.message


@pytest.mark.parametrize("address", OPENED)
def test_private_and_loopback_open_only_when_allowed(address: str) -> None:
    assert never_allowed_reason(ipaddress.ip_address(address)) is None
    check_address(address, allow_private=True)
    with pytest.raises(ValidationFailed) as caught:
        check_address(address, allow_private=False)
    assert caught.value.details["setting"] == "DOWNLOAD_ALLOW_PRIVATE_HOSTS"
    assert "DOWNLOAD_ALLOW_PRIVATE_HOSTS=true" in caught.value.message


def test_a_name_resolving_to_metadata_is_refused_with_private_hosts_allowed() -> None:
    def resolver(*_: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("10.0.0.8", 80)), (2, 1, 6, "", ("169.254.169.254", 80))]

    with pytest.raises(ValidationFailed) as caught:
        check_host("metadata.example", 80, allow_private=True, resolver=resolver)
    assert caught.value.details == {"reason": "forbidden_url", "address": "169.254.169.254"}


def test_global_addresses_pass_either_way() -> None:
    for allow_private in (False, True):
        check_address("142.250.72.14", allow_private=allow_private)
        check_address("2607:f8b0:4005:80a::200e", allow_private=allow_private)
