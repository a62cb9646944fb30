"""The SSRF guard's rules as plain functions: URL normalization, address ranges, resolution.

Nothing here connects anywhere: addresses are judged as values, names resolve through fakes.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from core.base.errors import ValidationFailed
from core.base.netguard import check_host, check_url, forbidden_reason, normalize_url

FORBIDDEN = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local (cloud metadata service)",
    "169.254.1.1": "link-local",
    "100.64.0.1": "CGNAT",
    "100.127.255.254": "CGNAT",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "this network",
    "255.255.255.255": "broadcast",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "198.18.0.1": "benchmarking",
    "192.0.2.1": "documentation",
    "198.51.100.7": "documentation",
    "203.0.113.9": "documentation",
    "192.0.0.8": "IETF protocol assignment",
    "192.0.0.170": "IETF protocol assignment",
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fc00::1": "unique local",
    "fd00:ec2::254": "unique local",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "ff0e::1": "multicast",
    "2001:db8::1": "documentation",
    "3fff::1": "documentation",
    "2001:2::1": "benchmarking",
    "100::1": "discard-only",
    "64:ff9b:1::a00:1": "local-use",
    "::ffff:127.0.0.1": "loopback (embedded 127.0.0.1)",
    "::ffff:10.0.0.1": "private (embedded 10.0.0.1)",
    "::ffff:169.254.169.254": "cloud metadata",
    "::127.0.0.1": "loopback (embedded 127.0.0.1)",
    "::8.8.8.8": "IPv4-compatible",
    "2002:a00:1::1": "private (embedded 10.0.0.1)",
    "2002:7f00:1::": "loopback (embedded 127.0.0.1)",
    "64:ff9b::7f00:1": "loopback (embedded 127.0.0.1)",
    "64:ff9b::a9fe:a9fe": "embedded 169.254.169.254",
    "2001:0:4136:e378:8000:63bf:f5ff:fffe": "private (embedded 10.0.0.1)",  # Teredo client
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7": "Teredo",  # a global client (8.8.8.8) too
}
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "192.0.0.9",
    "192.0.0.10",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize(("address", "expected"), sorted(FORBIDDEN.items()))
def test_forbidden_addresses_have_a_reason(address, expected):
    reason = forbidden_reason(ipaddress.ip_address(address))
    assert reason is not None and expected in reason, (address, reason)


@pytest.mark.parametrize("address", ALLOWED)
def test_global_unicast_addresses_are_allowed(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("  https://example.com:443/a/b?x=1&y=2#frag  ", "https://example.com/a/b?x=1&y=2"),
        ("http://example.com:80/", "http://example.com/"),
        ("http://example.com:8080/v.mp4", "http://example.com:8080/v.mp4"),
        ("https://example.com:80/", "https://example.com:80/"),
        ("http://example.com./x", "http://example.com/x"),
        ("http://bücher.example/Ä?q=Ä", "http://xn--bcher-kva.example/Ä?q=Ä"),
        ("http://faß.de/", "http://xn--fa-hia.de/"),
        ("http://[::FFFF:127.0.0.1]:8080/", "http://[::ffff:7f00:1]:8080/"),
        ("http://[2001:DB8::1]/", "http://[2001:db8::1]/"),
        ("http://2130706433/", "http://2130706433/"),
        ("http://0x7f.1/", "http://0x7f.1/"),
        ("http://example.com/Path%2FKept?A=B", "http://example.com/Path%2FKept?A=B"),
    ],
)
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected
    assert normalize_url(expected) == expected  # idempotent


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/x.mp4", "scheme"),
        ("data:text/plain,hello", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("example.com/video.mp4", "scheme"),
        ("", "scheme"),
        ("http://", "host"),
        ("http:///path", "host"),
        ("http://user:pw@example.com/", "password"),
        ("http://user@example.com/", "password"),
        ("http://example.com\\@127.0.0.1/", "password"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/a\nb", "spaces"),
        ("http://example.com:99999/", "malformed"),
        ("http://example.com:0/", "port"),
        ("http://[::1/", "malformed"),
        ("http://exa$mple.com/", "host"),
        ("http://a..b/", "host"),
    ],
)
def test_normalize_url_refusals(url, why):
    with pytest.raises(ValidationFailed) as refused:
        normalize_url(url)
    assert why in refused.value.message.lower()
    assert list(refused.value.details) == ["url"]


def fake_resolver(table):
    """A getaddrinfo stand-in answering from `table` (name -> addresses)."""

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    return resolve


def test_a_name_resolving_to_loopback_is_refused():
    resolver = fake_resolver({"evil.example": ["127.0.0.1"]})
    with pytest.raises(ValidationFailed) as refused:
        check_host("evil.example", 80, allow_private=False, resolver=resolver)
    assert refused.value.details == {
        "reason": "forbidden_url",
        "address": "127.0.0.1",
        "setting": "DOWNLOAD_ALLOW_PRIVATE_HOSTS",
    }
    assert refused.value.message == (
        "Downloads may not reach 127.0.0.1, a loopback address. Set"
        " DOWNLOAD_ALLOW_PRIVATE_HOSTS=true to allow loopback and private hosts."
    )


def test_one_private_address_among_global_ones_is_enough_to_refuse():
    resolver = fake_resolver({"mixed.example": ["8.8.8.8", "2001:4860:4860::8888", "10.1.2.3"]})
    with pytest.raises(ValidationFailed) as refused:
        check_host("mixed.example", 443, allow_private=False, resolver=resolver)
    assert refused.value.details["address"] == "10.1.2.3"


def test_global_addresses_pass_and_allow_private_lets_loopback_through():
    resolver = fake_resolver({"ok.example": ["8.8.8.8", "2001:4860:4860::8888"]})
    assert check_host("ok.example", 443, allow_private=False, resolver=resolver) == [
        "2001:4860:4860::8888",
        "8.8.8.8",
    ]
    # (link-local fe80::/10 never passes: tests/core/test_netguard_never.py)
    loop = fake_resolver({"local.example": ["127.0.0.1", "fd12::1%eth0"]})
    assert check_host("local.example", 80, allow_private=True, resolver=loop) == [
        "127.0.0.1",
        "fd12::1",
    ]


def test_an_unresolvable_host_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        check_host("nowhere.invalid", 80, allow_private=False, resolver=fake_resolver({}))
    assert refused.value.details["reason"] == "unresolvable"
    with pytest.raises(ValidationFailed) as empty:
        check_host("empty.example", 80, allow_private=True, resolver=lambda *a: [])
    assert empty.value.details["reason"] == "unresolvable"


def test_check_url_asks_the_resolver_for_the_normalized_host_and_default_port():
    asked = []

    def resolver(host, port, *rest):
        asked.append((host, port))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    assert check_url("HTTPS://Example.com/v", allow_private=False, resolver=resolver) == (
        "https://example.com/v"
    )
    check_url("http://[2001:db8::1]:8080/", allow_private=True, resolver=resolver)
    assert asked == [("example.com", 443), ("2001:db8::1", 8080)]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]", "localhost", "2130706433", "0x7f.1", "127.1", "017700000001"]
)
def test_loopback_spellings_resolve_the_way_the_os_does_and_are_refused(host):
    # The real getaddrinfo, only on loopback spellings: nothing is sent anywhere.
    with pytest.raises(ValidationFailed) as refused:
        check_url(f"http://{host}:8080/video.mp4", allow_private=False)
    assert refused.value.details["reason"] == "forbidden_url"
    assert ipaddress.ip_address(refused.value.details["address"]).is_loopback


def _literal(host, port, *rest):
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))]


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"]
)
def test_literal_private_and_metadata_addresses_are_refused(url):
    with pytest.raises(ValidationFailed) as refused:
        check_url(url, allow_private=False, resolver=_literal)
    assert refused.value.details["reason"] == "forbidden_url"
