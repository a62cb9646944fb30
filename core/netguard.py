"""The SSRF guard: URL syntax and scheme, and addresses a download may never reach."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _refuse(message: str, reason: str = "forbidden_url", **details: Any) -> ValidationFailed:
    return ValidationFailed(message, {"reason": reason, **details})


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, IDNA host, no default port or fragment; http(s) only."""
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValidationFailed("The URL is malformed.", {"url": ["Malformed URL."]}) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValidationFailed(
            "Only http and https URLs can be downloaded.", {"url": ["Unsupported scheme."]}
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "URLs with a user name or password are refused; store cookies instead.",
            {"url": ["Credentials in the URL."]},
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationFailed("The URL has no host.", {"url": ["No host."]})
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip(host) else host
    except UnicodeError:
        raise ValidationFailed("The URL's host name is invalid.", {"url": ["Bad host."]}) from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why a download may not connect to `ip`, or None for a global unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = forbidden_reason(inner)
            return f"embeds {inner}: {reason}" if reason else None
    checks = (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip in _CGNAT if ip.version == 4 else False, "shared address space (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((reason for hit, reason in checks if hit), None)


def check_address(address: str, *, allow_private: bool) -> None:
    """ValidationFailed (reason forbidden_url) unless a download may connect to `address`."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    reason = forbidden_reason(ip)
    if reason and not allow_private:
        raise _refuse(
            f"Downloads may not reach {ip} ({reason}); set DOWNLOAD_ALLOW_PRIVATE_HOSTS to allow.",
            address=str(ip),
        )


def check_host(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo
) -> list[str]:
    """Resolve `host` as the OS would and check every address; return them."""
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _refuse(f"The host {host!r} cannot be resolved.", reason="unresolvable") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise _refuse(f"The host {host!r} has no address.", reason="unresolvable")
    for address in addresses:
        check_address(address, allow_private=allow_private)
    return addresses


def check_url(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> str:
    """Normalize `url` and refuse it if its host resolves to an address downloads may not reach."""
    normalized = normalize_url(url)
    parts = urlsplit(normalized)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    check_host(parts.hostname or "", port, allow_private=allow_private, resolver=resolver)
    return normalized
