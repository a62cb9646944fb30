"""Media links nginx checks itself: a video's ranges served with no Python request per seek.

Behind deploy/nginx (ACCEL_REDIRECT_PREFIX set, the request marked `X-Aula-Accel: 1`) and with
MEDIA_LINK_SECRET set, a stream of a local file that Flask has authorised (session, token or
signed URL, as for any stream) is answered with a redirect to `/_direct/<file path>?md5=&expires=`.
nginx's `secure_link` module checks that link itself (deploy/nginx/aula.conf): the MD5 of
`<expires><decoded URI> <secret>`, base64url without padding, and the expiry. A `<video>` then
sends its ranges to that URL, and no seek reaches gunicorn. Flask stays the only place that
decides who may watch: it is the only issuer. Without nginx, or without the secret, nothing
changes (X-Accel-Redirect, or Flask sends the bytes).

The MD5 is nginx's choice, not ours (`secure_link_md5` offers no other digest); the secret comes
last, so the digest's length extension does not apply, and a link names one file and one expiry.
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from urllib.parse import quote

from flask import Response, request

from api.extensions import settings
from core.base import signing

DIRECT_PREFIX = "/_direct"


def link_token(secret: str, uri: str, expires: int) -> str:
    """nginx secure_link_md5 "$secure_link_expires$uri <secret>" for the decoded `uri`."""
    text = f"{expires}{uri} {secret}".encode()
    digest = hashlib.md5(text, usedforsecurity=False).digest()  # nginx's secure_link digest
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def direct_url(path: Path, now: float | None = None) -> str | None:
    """The nginx-checked URL of local file `path`, or None when this request cannot use one."""
    config = settings()
    secret = config.media_link_secret
    marked = request.headers.get("X-Aula-Accel") == "1"
    if secret is None or not marked or not config.accel_redirect_prefix:
        return None
    uri = DIRECT_PREFIX + str(path.resolve())
    try:
        uri.encode()
    except UnicodeEncodeError:
        return None  # a name that is not UTF-8: nginx and we would not agree on its bytes
    expires = signing.expiry(time.time() if now is None else now, config.media_url_ttl_s)
    token = link_token(secret.get_secret_value(), uri, expires)
    return f"{quote(uri)}?md5={token}&expires={expires}"


def redirect(url: str) -> Response:
    """A 302 to the direct link; kept by no cache (it expires, and it is this caller's)."""
    response = Response(status=302)
    response.headers["Location"] = url
    response.headers["Cache-Control"] = "private, no-store"
    return response
