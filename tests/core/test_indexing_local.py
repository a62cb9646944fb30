"""Indexing local media roots: new, changed and vanished files; traversal refused."""

from __future__ import annotations

import os
import shutil

import pytest

from core.base.db import database
from core.base.errors import NotFound
from core.catalog import store as catalog
from core.catalog.indexing import rebuild_local, resolve_local
from tests.media import make_video
from tests.services import services_of


@pytest.fixture
def media_root(settings):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def _items(settings):
    return {
        item.source_id: item
        for item in catalog.list_items(database(settings.database_url), limit=200).items
    }


def test_rebuild_indexes_new_changed_and_vanished_files(settings, media_root):
    make_video(media_root / "Aula 1 – Matemática.mp4", seconds=1)
    make_video(media_root / "turma b" / "aula2.mkv", seconds=2)
    (media_root / "notes.txt").write_text("not a video")
    (media_root / ".hidden.mp4").write_bytes(b"x")
    first = rebuild_local(services_of(settings))
    items = _items(settings)
    assert set(items) == {"Aula 1 – Matemática.mp4", "turma b/aula2.mkv"}
    assert first == {"items": 2, "changed": 2, "removed": 0}
    assert abs(items["turma b/aula2.mkv"].duration_s - 2.0) < 0.2
    assert items["turma b/aula2.mkv"].folder_id == "turma b"

    # Unchanged files are not probed again; a changed one is; a removed one leaves.
    make_video(media_root / "turma b" / "aula2.mkv", seconds=3)
    (media_root / "Aula 1 – Matemática.mp4").unlink()
    second = rebuild_local(services_of(settings))
    items = _items(settings)
    assert set(items) == {"turma b/aula2.mkv"}
    assert second == {"items": 1, "changed": 1, "removed": 1}
    assert abs(items["turma b/aula2.mkv"].duration_s - 3.0) < 0.2
    assert rebuild_local(services_of(settings))["changed"] == 0


def test_title_search_ignores_case_and_accents(settings, media_root):
    make_video(media_root / "Aula de Matemática.mp4", seconds=1)
    make_video(media_root / "Aula de História.mp4", seconds=1)
    rebuild_local(services_of(settings))
    found = catalog.list_items(database(settings.database_url), q="MATEMATICA aula").items
    assert [item.title for item in found] == ["Aula de Matemática"]
    assert catalog.list_items(database(settings.database_url), q="100%_").items == []


def test_paths_never_escape_the_media_root(settings, media_root, tmp_path):
    make_video(media_root / "ok.mp4", seconds=1)
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"outside")
    os.symlink(secret, media_root / "link-out.mp4")
    rebuild_local(services_of(settings))
    assert "link-out.mp4" not in _items(settings)
    assert resolve_local(settings, "ok.mp4").name == "ok.mp4"
    for attempt in ("../secret.mp4", str(secret), "link-out.mp4", "sub/../../secret.mp4", ""):
        with pytest.raises(NotFound):
            resolve_local(settings, attempt)
