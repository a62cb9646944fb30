"""Indexing local media roots: new, changed and vanished files; traversal refused."""

from __future__ import annotations

import os
import shutil

import pytest

from core.base.db import database
from core.base.errors import NotFound
from core.base.models import CatalogFolder
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


def test_a_rescan_writes_and_probes_only_what_changed(settings, media_root):
    for name in ("a.mp4", "b.mp4", "c/d.mp4"):
        make_video(media_root / name, seconds=1)
    (media_root / "c" / "slides.pdf").write_bytes(b"%PDF-1.4")
    (media_root / "c" / "no-extension").write_bytes(b"plain text, not a video")
    rebuild_local(services_of(settings))
    before = {sid: item.updated_at for sid, item in _items(settings).items()}
    # A PDF is a course attachment (CONTRACT 8.3): catalogued by its name, never probed.
    assert set(before) == {"a.mp4", "b.mp4", "c/d.mp4", "c/slides.pdf"}

    make_video(media_root / "b.mp4", seconds=2)  # changed: size and mtime
    make_video(media_root / "e" / "f.mp4", seconds=1)  # new, in a new folder
    (media_root / "c" / "d.mp4").unlink()  # removed, and its folder with it
    result = rebuild_local(services_of(settings))
    assert result == {"items": 4, "changed": 2, "removed": 1}
    items = _items(settings)
    assert items["a.mp4"].updated_at == before["a.mp4"]  # unchanged: not written, not probed
    assert items["b.mp4"].updated_at > before["b.mp4"]
    assert abs(items["b.mp4"].duration_s - 2.0) < 0.2
    with database(settings.database_url).session() as session:
        folders = {f.source_id for f in session.query(CatalogFolder).filter_by(source="local")}
    assert folders == {"c", "e"}  # c keeps its slides


def test_a_file_moved_between_roots_is_probed_again(settings, media_root, tmp_path):
    other = tmp_path / "second root"
    make_video(other / "x.mp4", seconds=1)
    two_roots = settings.model_copy(update={"media_roots": [media_root, other]})
    assert rebuild_local(services_of(two_roots))["changed"] == 1
    shutil.move(other / "x.mp4", media_root / "x.mp4")  # same name, size and mtime
    assert rebuild_local(services_of(two_roots))["changed"] == 1
    assert _items(settings)["x.mp4"].extra["root"] == str(media_root)


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
