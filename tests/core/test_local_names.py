"""Local names that are not UTF-8: a text form that maps back to the exact bytes, never clashes,
and that every store and header takes; names made from them never fail to encode."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from core.base.db import database
from core.base.local_names import catalog_name, os_name, readable
from core.base.models import CatalogItem
from core.base.naming import render
from core.catalog import store as catalog
from core.catalog.courses.models import CourseEntry
from core.catalog.indexing import rebuild_local, resolve_local
from core.catalog.models import Subtitle
from core.catalog.placement import placement
from core.media.conditional import content_disposition
from tests.media import make_video
from tests.services import services_of

# Any name a POSIX file system holds: bytes other than NUL and "/".
NAMES = st.binary(min_size=1, max_size=24).map(
    lambda raw: raw.replace(b"\0", b"").replace(b"/", b"")
)


@given(st.lists(NAMES, min_size=1, max_size=4), st.lists(NAMES, min_size=1, max_size=4))
def test_the_text_form_maps_back_and_never_clashes(first: list[bytes], second: list[bytes]) -> None:
    raws = [b"/".join(part for part in parts if part) or b"x" for parts in (first, second)]
    texts = [catalog_name(os.fsdecode(raw)) for raw in raws]
    for raw, text in zip(raws, texts, strict=True):
        assert os.fsencode(os_name(text)) == raw
        text.encode("utf-8")  # what PostgreSQL text, orjson and json all need
        orjson.dumps(text)
        assert text.count("/") == raw.count(b"/")  # folders stay folders
    assert (texts[0] == texts[1]) == (raws[0] == raws[1])


def test_a_utf8_name_is_its_own_text_form_and_the_escape_text_is_not() -> None:
    for name in ("Aula 1 – Matemática.mp4", "back\\slash.mp4", "CON", "Pasta. /Aula .mp4"):
        assert catalog_name(name) == name == os_name(name)
    latin = catalog_name(os.fsdecode(b"Aula \xe9.mp4"))
    literal = catalog_name("Aula \ufffdE9.mp4")  # a real file named like the escape
    assert latin == "Aula \ufffdE9.mp4" != literal
    assert os_name(literal) == "Aula \ufffdE9.mp4"
    assert readable(latin) == "Aula é.mp4" and readable(literal) == "Aula \ufffdE9.mp4"
    assert readable(catalog_name(os.fsdecode(b"x\x81y"))) == "x\ufffdy"  # not in Windows-1252


def test_headers_and_download_names_take_any_name() -> None:
    name = os.fsdecode(b"Apostila \xe9.pdf")
    assert content_disposition(name, "attachment") == (
        "attachment; filename=\"Apostila _.pdf\"; filename*=UTF-8''Apostila%20%C3%A9.pdf"
    )
    values = {"course": os.fsdecode(b"Curso \xe9"), "section": "x\ud800y", "position": 1,
              "title": "CON", "id": 7, "ext": "mp4"}  # fmt: skip
    path = render("{course}/{section}/{position:03d} - {title} [{id}].{ext}", values)
    assert str(path).encode("utf-8") and path.parts[0] == "Curso é"


def test_a_media_root_named_in_latin1_is_indexed(settings) -> None:
    root = Path(os.fsdecode(os.fsencode(settings.media_roots[0].parent) + b"/Raiz \xe9"))
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "Aula.mp4", seconds=1)
    make_video(root / os.fsdecode(b"M\xf3dulo") / "Aula 2.mp4", seconds=1)
    latin = settings.model_copy(update={"media_roots": [root]})
    try:
        assert rebuild_local(services_of(latin))["items"] == 2
        again = rebuild_local(services_of(latin))
        assert again["changed"] == 0 and again["removed"] == 0
        db = database(settings.database_url)
        items = {item.source_id: item for item in catalog.list_items(db, limit=10).items}
        assert set(items) == {"Aula.mp4", "M\ufffdF3dulo/Aula 2.mp4"}
        assert resolve_local(latin, "M\ufffdF3dulo/Aula 2.mp4").read_bytes()
        json.dumps(items["Aula.mp4"].extra, ensure_ascii=False).encode("utf-8")
        with db.session() as session:
            titles = set(session.scalars(select(CourseEntry.title)))
        assert titles == {"Raiz é", "Módulo"}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_lesson_in_latin1_folders_is_placed_as_its_course_page_shows_it(settings) -> None:
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    section = os.fsdecode(b"M\xf3dulo \xe9/Se\xe7\xe3o 1")
    for name in ("Aula 1.mp4", os.fsdecode(b"Aula 2 \xe9.mp4")):
        make_video(root / section / name, seconds=1)
    rebuild_local(services_of(settings))
    db = database(settings.database_url)
    with db.session() as session:
        item = session.scalars(select(CatalogItem).where(CatalogItem.title == "Aula 2 é")).one()
        shown = placement(session, item)
        session.execute(update(CourseEntry).values(hidden=True))  # the catalog's own view next
        fallback = placement(session, item)
    for placed in (shown, fallback):
        assert (placed.course, placed.section, placed.season, placed.position) == (
            "Módulo é",
            "Seção 1",
            1,
            2,
        )
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


def test_a_subtitle_named_in_latin1_joins_the_video_that_reads_the_same(settings) -> None:
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / "Curso" / "Aula é.mp4", seconds=1)  # UTF-8
    make_video(root / "Outro" / "Aula é.mp4", seconds=1)  # and its Latin-1 look-alike below
    make_video(root / "Outro" / os.fsdecode(b"Aula \xe9.mp4"), seconds=1)
    cue = "1\n00:00:00,000 --> 00:00:01,000\nOl\u00e1\n".encode("latin-1")
    for folder in ("Curso", "Outro"):
        (root / folder / os.fsdecode(b"Aula \xe9.pt.srt")).write_bytes(cue)

    rebuild_local(services_of(settings))

    db = database(settings.database_url)
    with db.session() as session:
        joined = {
            (item.source_id, subtitle.language)
            for subtitle, item in session.execute(
                select(Subtitle, CatalogItem).join(CatalogItem, CatalogItem.id == Subtitle.item_id)
            )
        }
    # Alone, the look-alike joins; beside a video of its own exact name, that one.
    assert joined == {("Curso/Aula é.mp4", "pt"), ("Outro/Aula \ufffdE9.mp4", "pt")}
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
