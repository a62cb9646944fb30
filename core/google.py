"""Google client: OAuth refresh-token grant, Drive v3 files and changes, paced and retried."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self

import requests

from core.errors import (
    CredentialsMissing,
    NotFound,
    TransientError,
    UpstreamRefused,
    UpstreamTimeout,
    ValidationFailed,
)
from core.http import Pacer, make_session
from core.logging import register_secret
from core.settings import Settings
from core.vault import Vault

log = logging.getLogger(__name__)
FOLDER_MIME = "application/vnd.google-apps.folder"
FILE_FIELDS = (
    "id,name,mimeType,parents,size,md5Checksum,modifiedTime,trashed,thumbnailLink,"
    "videoMediaMetadata(durationMillis)"
)
# rclone's classification of Drive's 403s: rate limits are retried, the rest are final.
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded", "backendError"})
FINAL_REASONS = {
    "downloadQuotaExceeded": "Google's download quota for this file is exceeded; try later.",
    "cannotDownloadAbusiveFile": "Google flagged this file as abusive and refuses to serve it.",
    "fileNotDownloadable": "This Google file (a Doc, Sheet or Slides) has no bytes to download.",
    "insufficientFilePermissions": "The Google account may not read this file.",
}
_pacers: dict[float, Pacer] = {}
_pacers_lock = threading.Lock()


def shared_pacer(rate: float) -> Pacer:
    """One pacer per process and rate, shared by every client in it."""
    with _pacers_lock:
        return _pacers.setdefault(rate, Pacer(rate))


@dataclass(frozen=True)
class GoogleCredentials:
    client_id: str
    client_secret: str
    refresh_token: str

    @classmethod
    def from_vault(cls, vault: Vault) -> GoogleCredentials:
        """Read and decrypt the stored credentials; CredentialsMissing when none are stored."""
        try:
            raw = json.loads(vault.get("google"))
        except NotFound:
            raise CredentialsMissing(
                "Google credentials are not configured; PUT /api/credentials/google first."
            ) from None
        creds = cls(raw["client_id"], raw["client_secret"], raw["refresh_token"])
        register_secret(creds.client_secret)
        register_secret(creds.refresh_token)
        return creds


# Not google-auth 2.62.2's Credentials.refresh: on our session against the fake, a failing token
# endpoint got 9 calls in 6.4 s (its 3 rounds over our retries), not 3 in 1 s; its Request sends
# timeout=120 over ours; its RefreshError drops the status our error mapping needs.
class GoogleAuth:
    """Access tokens from the refresh-token grant, cached until shortly before they expire."""

    def __init__(self, token_url: str, creds: GoogleCredentials, session: requests.Session) -> None:
        self.token_url = token_url
        self.creds = creds
        self.session = session
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token, refreshed when missing or about to expire."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (after a 401)."""
        with self._lock:
            self._token = None

    def _refresh(self) -> None:
        data = {
            "grant_type": "refresh_token",
            "client_id": self.creds.client_id,
            "client_secret": self.creds.client_secret,
            "refresh_token": self.creds.refresh_token,
        }
        try:
            response = self.session.post(self.token_url, data=data)
        except requests.Timeout:
            raise UpstreamTimeout("Google's token endpoint did not answer in time.") from None
        except requests.RequestException as error:
            raise TransientError(
                f"Google's token endpoint failed: {type(error).__name__}."
            ) from None
        if response.status_code in (400, 401):
            reason = _json(response).get("error", "invalid_grant")
            raise UpstreamRefused(
                f"Google refused the stored credentials ({reason}); store new ones.",
                {"reason": reason},
            )
        if response.status_code != 200:
            raise TransientError(f"Google's token endpoint answered {response.status_code}.")
        body = _json(response)
        self._token = str(body["access_token"])
        register_secret(self._token)
        lifetime = float(body.get("expires_in", 3600))
        self._expires = time.monotonic() + max(lifetime - 60, lifetime / 2)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_reason(response: requests.Response) -> str:
    """The first `errors[].reason` of a Google error body, or ''."""
    error = _json(response).get("error")
    if isinstance(error, dict):
        for item in error.get("errors") or []:
            if isinstance(item, dict) and item.get("reason"):
                return str(item["reason"])
        return str(error.get("status") or "")
    return ""


def path_segment(value: str) -> str:
    """An id made safe to stand as one URL path segment."""
    return urllib.parse.quote(value, safe="")


def quote(value: str) -> str:
    """Escape a value for a Drive `q` string literal."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


class GoogleApi:
    """Google API calls with auth, pacing, one refresh on 401 and rclone-style 403 handling."""

    max_rate_limit_retries = 5
    service = "Google"

    def __init__(self, settings: Settings, auth: GoogleAuth, session: requests.Session) -> None:
        self.base = self.base_url(settings)
        self.auth = auth
        self.session = session
        self.pacer = shared_pacer(settings.drive_rate_per_s)

    @staticmethod
    def base_url(settings: Settings) -> str:
        """Where this API's paths start."""
        raise NotImplementedError

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """A client using the credentials stored in the vault."""
        session = make_session(settings)
        token_session = make_session(settings, methods=("POST",))
        creds = GoogleCredentials.from_vault(Vault(settings.database_url, settings.fernet_keys))
        return cls(settings, GoogleAuth(settings.google_token_url, creds, token_session), session)

    def request(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        stream: bool = False,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """GET `path` under the API's base; a typed error for anything but 2xx, 206 and 416."""
        refreshed = False
        rate_limited = 0
        while True:
            self.pacer.wait()
            response = self._send(path, params, stream, headers)
            status = response.status_code
            if status == 401 and not refreshed:
                response.close()
                self.auth.invalidate()
                refreshed = True
                continue
            if status == 403 and error_reason(response) in RATE_LIMIT_REASONS:
                response.close()
                rate_limited += 1
                if rate_limited > self.max_rate_limit_retries:
                    raise TransientError(f"{self.service} kept answering rate-limit errors.")
                time.sleep(min(30.0, 0.5 * 2**rate_limited) * random.uniform(0.75, 1.25))  # noqa: S311
                continue
            if status < 400 or status == 416:
                return response
            self._raise(response)

    def _send(
        self,
        path: str,
        params: dict[str, Any] | None,
        stream: bool,
        headers: dict[str, str] | None,
    ) -> requests.Response:
        auth = {"Authorization": f"Bearer {self.auth.token()}", **(headers or {})}
        try:
            return self.session.get(
                f"{self.base}/{path}", params=params, headers=auth, stream=stream
            )
        except requests.Timeout:
            raise UpstreamTimeout(f"{self.service} did not answer in time.") from None
        except requests.RequestException as error:
            raise TransientError(
                f"{self.service} could not be reached: {type(error).__name__}."
            ) from None

    def _raise(self, response: requests.Response) -> None:
        status, reason = response.status_code, error_reason(response)
        response.close()
        if status == 404:
            raise NotFound(f"{self.service} has no such object.", {"reason": "notFound"})
        if status == 400:
            raise ValidationFailed(
                f"{self.service} refused the request ({reason or 'bad request'}).",
                {"reason": reason},
            )
        if reason in FINAL_REASONS:
            raise UpstreamRefused(FINAL_REASONS[reason], {"reason": reason})
        if status in (401, 403):
            raise UpstreamRefused(
                f"{self.service} refused access ({reason or status}).", {"reason": reason}
            )
        raise TransientError(f"{self.service} answered {status} ({reason or 'no reason'}).")

    def pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Each page's `key` list of a paged list call (pageToken / nextPageToken)."""
        token: str | None = None
        while True:
            query = {**params, **({"pageToken": token} if token else {})}
            body = _json(self.request(path, query))
            yield list(body.get(key) or [])
            token = body.get("nextPageToken")
            if not token:
                return


class DriveClient(GoogleApi):
    """Drive v3: folder listings, files, media and the changes feed."""

    service = "Google Drive"

    @staticmethod
    def base_url(settings: Settings) -> str:
        return f"{settings.drive_api_url}/drive/v3"

    def list_children(
        self, folder_id: str, page_token: str | None = None, page_size: int = 1000
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a folder's non-trashed children."""
        params: dict[str, Any] = {
            "q": f"'{quote(folder_id)}' in parents and trashed = false",
            "pageSize": page_size,
            "fields": f"nextPageToken,files({FILE_FIELDS})",
            "supportsAllDrives": "true",
            "includeItemsFromAllDrives": "true",
        }
        if page_token:
            params["pageToken"] = page_token
        body = _json(self.request("files", params))
        return list(body.get("files", [])), body.get("nextPageToken")

    def walk(self, folder_ids: list[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Every page of every folder under `folder_ids`, breadth first: (folder id, files)."""
        pending, seen = list(folder_ids), set(folder_ids)
        while pending:
            folder = pending.pop(0)
            token: str | None = None
            while True:
                files, token = self.list_children(folder, token)
                for entry in files:
                    if entry.get("mimeType") == FOLDER_MIME and entry["id"] not in seen:
                        seen.add(entry["id"])
                        pending.append(entry["id"])
                yield folder, files
                if not token:
                    break

    def get_file(self, file_id: str) -> dict[str, Any]:
        """A file's metadata."""
        return _json(
            self.request(
                f"files/{path_segment(file_id)}",
                {"fields": FILE_FIELDS, "supportsAllDrives": "true"},
            )
        )

    def media(self, file_id: str, range_header: str | None = None) -> requests.Response:
        """The file's bytes as a streamed response (206 for a range); the caller closes it."""
        headers = {"Range": range_header} if range_header else None
        return self.request(
            f"files/{path_segment(file_id)}",
            {"alt": "media", "supportsAllDrives": "true"},
            stream=True,
            headers=headers,
        )

    def start_page_token(self) -> str:
        """The token from which the changes feed starts now."""
        body = _json(self.request("changes/startPageToken", {"supportsAllDrives": "true"}))
        return str(body["startPageToken"])

    def changes(self, page_token: str) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """One page of changes: (changes, nextPageToken, newStartPageToken)."""
        params = {
            "pageToken": page_token,
            "pageSize": 1000,
            "includeRemoved": "true",
            "supportsAllDrives": "true",
            "includeItemsFromAllDrives": "true",
            "fields": (
                f"nextPageToken,newStartPageToken,changes(fileId,removed,time,file({FILE_FIELDS}))"
            ),
        }
        body = _json(self.request("changes", params))
        return (
            list(body.get("changes", [])),
            body.get("nextPageToken"),
            body.get("newStartPageToken"),
        )
