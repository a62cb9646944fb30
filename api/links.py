"""OpenAPI links between operations: what a client (and the fuzzer) can do with an answer."""

from __future__ import annotations

from typing import Any

TASK = "$response.body#/task_id"
DOWNLOAD = "$response.body#/download/id"
FIRST_ITEM = "$response.body#/items/0/id"
# (path, method, status) of an answer -> {link name: (target path, method, parameter, value)}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, str, str]]] = {
    ("/api/downloads", "post", "202"): {
        "GetDownload": ("/api/downloads/{download_id}", "get", "download_id", DOWNLOAD),
        "CancelDownload": ("/api/downloads/{download_id}", "delete", "download_id", DOWNLOAD),
        "RetryDownload": ("/api/downloads/{download_id}/retry", "post", "download_id", DOWNLOAD),
        "GetDownloadTask": ("/api/tasks/{task_id}", "get", "task_id", TASK),
    },
    ("/api/catalog/items", "get", "200"): {
        "GetItem": ("/api/catalog/items/{item_id}", "get", "item_id", FIRST_ITEM),
        "GetThumbnail": ("/api/catalog/items/{item_id}/thumbnail", "get", "item_id", FIRST_ITEM),
        "GetStream": ("/api/catalog/items/{item_id}/stream", "get", "item_id", FIRST_ITEM),
        "GetPlayback": ("/api/catalog/items/{item_id}/playback", "get", "item_id", FIRST_ITEM),
    },
    ("/api/catalog/items/{item_id}/convert", "post", "202"): {
        "GetConvertTask": ("/api/tasks/{task_id}", "get", "task_id", TASK),
        "CancelConvertTask": ("/api/tasks/{task_id}", "delete", "task_id", TASK),
    },
    ("/api/classroom/courses", "get", "200"): {
        "DownloadCourse": (
            "/api/classroom/courses/{course_id}/downloads", "post", "course_id", FIRST_ITEM
        ),
    },
    ("/api/downloads", "get", "200"): {
        "GetFirstDownload": ("/api/downloads/{download_id}", "get", "download_id", FIRST_ITEM),
    },
    ("/api/tasks", "get", "200"): {
        "GetFirstTask": ("/api/tasks/{task_id}", "get", "task_id", FIRST_ITEM),
    },
}  # fmt: skip
ENQUEUING = ("/api/catalog/rebuild", "/api/catalog/sync", "/api/maintenance/cleanup",
             "/api/classroom/sync")  # fmt: skip


def _ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def document_links(spec: dict[str, Any]) -> None:
    """Add the links above to the responses of the document's operations."""
    table = dict(LINKS)
    for path in ENQUEUING:
        table[(path, "post", "202")] = {
            "GetTask": ("/api/tasks/{task_id}", "get", "task_id", TASK),
            "CancelTask": ("/api/tasks/{task_id}", "delete", "task_id", TASK),
        }
    paths = spec.get("paths", {})
    for (path, method, status), links in table.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for name, (target, target_method, parameter, value) in links.items():
            if target_method in paths.get(target, {}):
                response.setdefault("links", {})[name] = {
                    "operationRef": _ref(target, target_method),
                    "parameters": {parameter: value},
                }
