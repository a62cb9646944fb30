"""The SSRF guard: URL syntax and scheme, addresses downloads may never reach, the refusals."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import idna

from core.base.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]
Policy = Callable[[str], str | None]  # an address -> why a connection to it is refused, or None
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARS = re.compile(r"^[a-z0-9_.-]+$")
_NETS = ipaddress.ip_network
# Checked in order, after any embedded IPv4 address was judged; the first match names the reason.
_RANGES = (
    (_NETS("0.0.0.0/32"), "unspecified"),
    (_NETS("0.0.0.0/8"), '"this network"'),
    (_NETS("127.0.0.0/8"), "loopback"),
    (_NETS("169.254.169.254/32"), "link-local (cloud metadata service)"),
    (_NETS("169.254.0.0/16"), "link-local"),
    (_NETS("10.0.0.0/8"), "private"),
    (_NETS("172.16.0.0/12"), "private"),
    (_NETS("192.168.0.0/16"), "private"),
    (_NETS("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_NETS("198.18.0.0/15"), "benchmarking"),
    (_NETS("192.0.0.0/24"), "IETF protocol assignment"),
    (_NETS("192.0.2.0/24"), "documentation"),
    (_NETS("198.51.100.0/24"), "documentation"),
    (_NETS("203.0.113.0/24"), "documentation"),
    (_NETS("192.88.99.0/24"), "reserved (deprecated 6to4 relay)"),
    (_NETS("224.0.0.0/4"), "multicast"),
    (_NETS("255.255.255.255/32"), "broadcast"),
    (_NETS("240.0.0.0/4"), "reserved"),
    (_NETS("::/128"), "unspecified"),
    (_NETS("::1/128"), "loopback"),
    (_NETS("::/96"), "deprecated IPv4-compatible IPv6"),
    (_NETS("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation"),
    (_NETS("100::/64"), "discard-only"),
    (_NETS("2001::/32"), "Teredo tunnel"),
    (_NETS("2001:2::/48"), "benchmarking"),
    (_NETS("2001:db8::/32"), "documentation"),
    (_NETS("3fff::/20"), "documentation"),
    (_NETS("fc00::/7"), "unique local (private)"),
    (_NETS("fe80::/10"), "link-local"),
    (_NETS("fec0::/10"), "site-local (deprecated)"),
    (_NETS("ff00::/8"), "multicast"),
)
# Never reachable, DOWNLOAD_ALLOW_PRIVATE_HOSTS or not: link-local ranges and the cloud metadata
# services that live there (AWS also answers on fd00:ec2::254, inside the private fc00::/7).
NEVER_ALLOWED = (
    (_NETS("169.254.0.0/16"), "link-local"),
    (_NETS("fe80::/10"), "link-local"),
    (_NETS("fd00:ec2::254/128"), "cloud metadata service"),
)
# The setting that opens what forbidden_reason refuses (never NEVER_ALLOWED), named in refusals
# so that a person knows what to change.
ALLOW_PRIVATE_SETTING = "DOWNLOAD_ALLOW_PRIVATE_HOSTS"
ALLOW_PRIVATE_HINT = f"Set {ALLOW_PRIVATE_SETTING}=true to allow loopback and private hosts."
_NAT64 = _NETS("64:ff9b::/96")
_GLOBAL_EXCEPTIONS = frozenset(map(ipaddress.ip_address, ("192.0.0.9", "192.0.0.10")))


def _invalid(message: str, problem: str) -> ValidationFailed:
    return ValidationFailed(message, {"url": [problem]})


def normalize_url(url: str) -> str:
    """http(s) only, no credentials; lower-case scheme and IDNA host, no default port or fragment.

    Path and query are kept as they are; an empty path becomes "/". Idempotent.
    """
    raw = (url or "").strip()
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in raw):
        raise _invalid("The URL contains spaces or control characters.", "Spaces in the URL.")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise _invalid("The URL is malformed.", "Malformed URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _invalid(
            f"Only http and https URLs can be downloaded, not this scheme ({scheme or 'none'}).",
            "Unsupported scheme.",
        )
    if "@" in parts.netloc:
        raise _invalid(
            "URLs with a user name or password are refused: credentials would leak into logs"
            " and task records; store cookies instead.",
            "Credentials in the URL.",
        )
    netloc = _normal_host(parts.hostname or "")
    if port == 0:
        raise _invalid("The URL's port is invalid.", "Bad port.")
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _normal_host(hostname: str) -> str:
    host = hostname.rstrip(".")
    if not host:
        raise _invalid("The URL has no host.", "No host.")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    try:
        host = host if host.isascii() else idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise _invalid("The URL's host name is invalid.", "Bad host.") from None
    host = host.lower()
    if not _HOST_CHARS.match(host) or ".." in host or any(len(p) > 63 for p in host.split(".")):
        raise _invalid("The URL's host name is invalid.", "Bad host.")
    return host


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        server, client = ip.teredo
        return client if forbidden_reason(client) or not forbidden_reason(server) else server
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # NAT64, IPv4-compatible
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why a download may not connect to `ip`, or None for a global unicast address.

    An IPv6 address embedding an IPv4 one (mapped, compatible, 6to4, Teredo, NAT64) is refused
    when the embedded address is; otherwise it is judged as itself.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = forbidden_reason(inner)
            if reason or ip.ipv4_mapped is not None:
                return f"{reason} (embedded {inner})" if reason else None
    if ip in _GLOBAL_EXCEPTIONS:  # anycast services inside 192.0.0.0/24
        return None
    for network, reason in _RANGES:
        if ip.version == network.version and ip in network:
            return reason
    if ip.is_multicast:
        return "multicast"
    if not ip.is_global:
        return "reserved" if ip.is_reserved else "not globally routable"
    return None


def never_allowed_reason(ip: IPAddress) -> str | None:
    """Why `ip` may never be reached, even with DOWNLOAD_ALLOW_PRIVATE_HOSTS: link-local and
    cloud metadata addresses, also when embedded in an IPv6 address (mapped, NAT64, 6to4...)."""
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    for candidate in (ip, inner):
        for network, reason in NEVER_ALLOWED:
            same_family = candidate is not None and candidate.version == network.version
            if same_family and candidate in network:
                return reason
    return None


def check_address(address: str, *, allow_private: bool) -> None:
    """ValidationFailed (reason forbidden_url) unless a download may connect to `address`.

    `allow_private` opens loopback and private ranges, never link-local or metadata addresses.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    never = never_allowed_reason(ip)
    if never:
        raise ValidationFailed(
            f"Downloads may never reach {ip}, {_a(forbidden_reason(ip) or never)} address,"
            " whatever the settings.",
            {"reason": "forbidden_url", "address": str(ip)},
        )
    reason = None if allow_private else forbidden_reason(ip)
    if reason:
        raise ValidationFailed(
            f"Downloads may not reach {ip}, {_a(reason)} address. {ALLOW_PRIVATE_HINT}",
            {"reason": "forbidden_url", "address": str(ip), "setting": ALLOW_PRIVATE_SETTING},
        )


def _a(reason: str) -> str:
    """`reason` with its indefinite article: "a loopback", "an unspecified", "a unique local"."""
    word = reason.lstrip('"').lower()
    vowel = word[:1] in ("a", "e", "i", "o") or (word[:1] == "u" and not word.startswith("uni"))
    return f"{'an' if vowel else 'a'} {reason}"


def check_host(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo
) -> list[str]:
    """Resolve `host` as the OS would (IP literals and odd spellings too), check every address.

    Returns the addresses; ValidationFailed with reason "forbidden_url" if any is refused, or
    "unresolvable" if there is none.
    """
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        infos = resolver(name, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    addresses = sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
    if not addresses:
        raise ValidationFailed(
            f"The host {host!r} cannot be resolved.", {"reason": "unresolvable", "host": host}
        )
    for address in addresses:
        check_address(address, allow_private=allow_private)
    return addresses


def check_url(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> str:
    """Normalize `url` and refuse it if its host resolves to an address downloads may not reach."""
    normalized = normalize_url(url)
    parts = urlsplit(normalized)
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    check_host(parts.hostname or "", port, allow_private=allow_private, resolver=resolver)
    return normalized


# ---------------------------------------------------------------- at connect time (yt-dlp, direct)


class ForbiddenAddress(ConnectionRefusedError):
    """Raised instead of connecting to an address the SSRF guard refuses."""


@dataclass
class Guard:
    """The policy of one guarded yt-dlp run, and what it refused (for the error it ends with)."""

    allow_private: bool
    policy: Policy | None = None
    refused: list[str] = field(default_factory=list)

    def reason(self, address: str) -> str | None:
        """Why a connection to `address` is refused, or None."""
        if self.policy is not None:
            return self.policy(address)
        try:
            check_address(address, allow_private=self.allow_private)
        except ValidationFailed as error:
            return error.message
        return None

    def refuse(self, target: str, reason: str) -> ForbiddenAddress:
        """Record a refusal and return the error to raise."""
        self.refused.append(target)
        return ForbiddenAddress(f"Aula's SSRF guard refused {target}: {reason}")

    def refusal_error(self, what: str | None = None) -> ValidationFailed:
        """The error a guarded download ends with once it was refused (forbidden_url)."""
        target = what or (f"a forbidden address ({self.refused[0]})" if self.refused else "?")
        details = {"reason": "forbidden_url"}
        if self.refused:
            details["address"] = self.refused[0]
        message = f"The download led to {target}; it was stopped."
        if what is None and self._setting_would_open():
            details["setting"] = ALLOW_PRIVATE_SETTING
            message = f"{message} {ALLOW_PRIVATE_HINT}"
        return ValidationFailed(message, details)

    def _setting_would_open(self) -> bool:
        """Whether DOWNLOAD_ALLOW_PRIVATE_HOSTS would have let the first refused address through."""
        if self.allow_private or self.policy is not None or not self.refused:
            return False
        try:
            ip = ipaddress.ip_address(self.refused[0])
        except ValueError:  # a URL or a proxy, refused for another reason than its address
            return False
        return never_allowed_reason(ip) is None
