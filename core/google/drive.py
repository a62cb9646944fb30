"""Google client: Drive v3 files and changes, paced and retried, authorized by core.google.auth."""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, Self

import requests

from core.base.db import Database
from core.base.errors import (
    NotFound,
    TransientError,
    UpstreamRefused,
    UpstreamTimeout,
    ValidationFailed,
)
from core.base.http import Pacer, make_session
from core.base.settings import Settings
from core.base.vault import Vault
from core.google import connections
from core.google.auth import GoogleAuth, json_object

log = logging.getLogger(__name__)
FOLDER_MIME = "application/vnd.google-apps.folder"
FILE_FIELDS = (
    "id,name,mimeType,parents,size,md5Checksum,modifiedTime,trashed,thumbnailLink,"
    "videoMediaMetadata(durationMillis,width,height)"
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


def error_reason(response: requests.Response) -> str:
    """The first `errors[].reason` of a Google error body, or ''."""
    error = json_object(response).get("error")
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


def _marker(db: Database, connection_id: int | None) -> Callable[[str], None] | None:
    """What GoogleAuth calls on invalid_grant: the connection needs reconnecting, at once."""
    if connection_id is None:
        return None

    def mark(reason: str) -> None:
        connections.mark_needs_reconnect(db, connection_id, reason)

    return mark


def _used(db: Database, connection_id: int | None) -> Callable[[], None] | None:
    """What GoogleAuth calls after each new token: the connection's last_used_at."""
    if connection_id is None:
        return None

    def used() -> None:
        connections.mark_used(db, connection_id)

    return used


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
    def from_settings(
        cls, settings: Settings, db: Database, connection_id: int | None = None
    ) -> Self:
        """A client through `connection_id` (default: the first connection that is ok, else the
        credentials of PUT /api/credentials/google)."""
        session = make_session(settings)
        # Not POST: google-auth retries the token endpoint itself (GoogleAuth).
        token_session = make_session(settings, methods=("GET",))
        vault = Vault(db, settings.fernet_keys)
        creds = connections.credentials_for(db, vault, settings, connection_id)
        auth = GoogleAuth(
            settings.google_token_url, creds, token_session,
            on_invalid_grant=_marker(db, creds.connection_id),
            on_refreshed=_used(db, creds.connection_id),
        )  # fmt: skip
        return cls(settings, auth, session)

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
                time.sleep(min(30.0, 0.5 * 2**rate_limited) * random.uniform(0.75, 1.25))  # noqa: S311  # nosec B311  # jitter
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
            body = json_object(self.request(path, query))
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
        body = json_object(self.request("files", params))
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
        return json_object(
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
        body = json_object(self.request("changes/startPageToken", {"supportsAllDrives": "true"}))
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
        body = json_object(self.request("changes", params))
        return (
            list(body.get("changes", [])),
            body.get("nextPageToken"),
            body.get("newStartPageToken"),
        )
