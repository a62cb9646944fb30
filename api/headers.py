"""Security headers on every response, CORS from CORS_ORIGINS, trusted proxies and HTTPS."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from api.access import MEDIA_ENDPOINTS
from api.errors import envelope
from api.extensions import settings

# The UI and everything else: our own origin only, no inline script or style, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Media bytes (streams, thumbnails, files) are never a document that runs anything: a file that
# is HTML after all opens sandboxed, in an opaque origin with no script.
MEDIA_CSP = "sandbox"
DOCS_PREFIX = "/api/docs"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# The one <style> element the Swagger UI bundle (flask-swagger-ui 5.34.0) injects, as Chromium
# reports it; tests/e2e/test_security_browser.py fails if an upgrade needs another.
DOCS_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=()"
    ),
}
HSTS = "max-age=31536000"
# Probes and scrapes come from inside over plain HTTP: never redirected.
NOT_REDIRECTED = frozenset({"/api/health", "/api/health/ready", "/metrics"})
CORS_ALLOW_HEADERS = [
    "Authorization", "X-Admin-Token", "Content-Type", "If-None-Match", "Range", "X-Request-ID",
]  # fmt: skip
CORS_EXPOSE_HEADERS = ["X-Request-ID", "ETag", "Content-Range", "Retry-After"]


def _docs_csp(response: Response) -> str:
    # Swagger UI's page starts itself with an inline script whose config names this host: allow
    # exactly that script by its hash, nothing else inline.
    if response.mimetype != "text/html" or response.is_streamed:
        return CSP
    page = response.get_data(as_text=True)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(page)
    )
    policy = CSP.replace("script-src 'self'", f"script-src 'self' {hashes}") if hashes else CSP
    return policy.replace("style-src 'self'", f"style-src 'self' {DOCS_STYLE}")


def security_headers(response: Response) -> Response:
    """CSP (sandbox for media), the fixed security headers, HSTS over https when FORCE_HTTPS;
    a header the view already set is kept (a media CSP is always the sandbox)."""
    # Not Headers.setdefault or `in`: each finds an absent name by raising and catching an
    # exception, and here the names are nearly always absent. One pass over those present.
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    if request.endpoint in MEDIA_ENDPOINTS:
        headers["Content-Security-Policy"] = MEDIA_CSP
    elif "content-security-policy" not in present:
        path = request.path
        docs = path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/")
        headers.add("Content-Security-Policy", _docs_csp(response) if docs else CSP)
    for name, value in HEADERS.items():
        if name.lower() not in present:
            headers.add(name, value)
    secure = settings().force_https and request.is_secure
    if secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
    return response


# A host name or IPv4 address, or a bracketed IPv6 one, with an optional port: nothing that could
# carry a path, credentials or a second URL into the Location of a redirect.
_SANE_HOST = re.compile(
    r"(?:[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+)*+\.?+|\[[0-9A-Fa-f:.]{2,45}+\])(?::[0-9]{1,5}+)?+"
)


def redirect_to_https() -> Response | None:
    """308 to https when FORCE_HTTPS and the request came over http (probes excepted)."""
    if not settings().force_https or request.is_secure or request.path in NOT_REDIRECTED:
        return None
    host = request.host
    if len(host) > 255 or not _SANE_HOST.fullmatch(host):
        return envelope(400, "validation_error", "The Host header is not a valid host name.")
    response = Response(status=308)
    query = request.query_string.decode("latin-1")
    response.headers["Location"] = f"https://{host}{quote(request.path)}" + (
        f"?{query}" if query else ""
    )
    return response


class TrustedProxies:
    """X-Forwarded-For/-Proto/-Host/-Port believed only from a peer in TRUSTED_PROXIES.

    The client is the rightmost X-Forwarded-For address that is not itself a listed proxy (each
    trusted proxy appends the peer it saw); -Proto, -Host and -Port come from the nearest proxy.
    From any other peer the headers are ignored, whatever they claim.
    """

    def __init__(self, app: Any, proxies: Iterable[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(proxy) for proxy in proxies]

    def trusted(self, address: str | None) -> bool:
        """Whether `address` is one of the listed proxies."""
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self.trusted(environ.get("REMOTE_ADDR")):
            return self.app(environ, start_response)
        chain = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [address for address in chain if address]
        hops = 1
        while hops < len(chain) and self.trusted(chain[-hops]):
            hops += 1
        fixer = ProxyFix(self.app, x_for=hops, x_proto=1, x_host=1, x_port=1)
        return fixer(environ, start_response)


def trust_proxies(app: Flask) -> None:
    """Believe TRUSTED_PROXIES' forwarded headers in front of `app`'s WSGI stack as built so far
    (Flask and the progress fast path, which reads the client's address and Host)."""
    config = app.extensions["aula.settings"]
    if config.trusted_proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, config.trusted_proxies)  # type: ignore[method-assign]


def register_headers(app: Flask) -> None:
    """Answer CORS; the proxies' trust is `trust_proxies`, the redirect to https and the security
    headers are stages of the request pipeline (api/pipeline.py)."""
    config = app.extensions["aula.settings"]
    if config.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": list(config.cors_origins)}},
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            supports_credentials=False,
            max_age=600,
        )
