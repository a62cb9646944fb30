"""The OpenAPI document links answers to the operations that use them (for clients and fuzzing)."""

from __future__ import annotations

from flask import Flask


def test_every_link_names_an_operation_and_its_parameter(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    found = 0
    for operations in spec["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for answer in operation.get("responses", {}).values():
                for link in answer.get("links", {}).values():
                    found += 1
                    ref = link["operationRef"]
                    assert ref.startswith("#/paths/"), ref
                    encoded, target_method = ref.removeprefix("#/paths/").rsplit("/", 1)
                    target_path = encoded.replace("~1", "/").replace("~0", "~")
                    shared = spec["paths"][target_path].get("parameters", [])
                    own = spec["paths"][target_path][target_method].get("parameters", [])
                    names = {p.get("name") for p in [*shared, *own]}
                    assert set(link["parameters"]) <= names, (target_path, link)
    assert found >= 15
    download = spec["paths"]["/api/downloads"]["post"]["responses"]["202"]["links"]
    assert download["GetDownload"]["parameters"] == {"download_id": "$response.body#/download/id"}
