"""Download names from templates (CONTRACT 8.5): the restricted formatter, and every field made a
safe path part under DOWNLOAD_DIR, whatever the title holds."""

from __future__ import annotations

import pytest

from core.base.library_settings import DEFAULT_TEMPLATE
from core.base.naming import MAX_PART_BYTES, TemplateError, check, place, render

VALUES = {"source": "drive", "course": "Física 1", "section": "Módulo 2", "position": 3,
          "title": "Aula 3", "id": 42, "uploader": None, "upload_date": "20261204",
          "ext": "mp4"}  # fmt: skip


def named(**changes):
    return str(render(DEFAULT_TEMPLATE, {**VALUES, **changes}))


def test_the_default_template_names_course_section_position_title_and_id():
    assert named() == "Física 1/Módulo 2/003 - Aula 3 [42].mp4"


def test_parts_without_a_course_or_section_are_left_out_with_their_separator():
    assert named(section=None) == "Física 1/003 - Aula 3 [42].mp4"
    assert named(course=None, section=None) == "003 - Aula 3 [42].mp4"
    assert named(course="", section="") == "003 - Aula 3 [42].mp4"


@pytest.mark.parametrize(
    "template",
    [
        "../{id}.{ext}",
        "{course}/../../{id}.{ext}",
        "/etc/{id}.{ext}",
        "C:/x/{id}.{ext}",
        "\\\\server\\share\\{id}",
        "{course}//{id}.{ext}",
        "./{id}.{ext}",
        "{secret}/{id}.{ext}",
        "{title.__class__}/{id}.{ext}",
        "{title[0]}/{id}.{ext}",
        "{title!r} [{id}].{ext}",
        "{title:{id}} [{id}]",
        "{title:>999999} [{id}]",
        "{title:03d} [{id}]",
        "{title [{id}].{ext}",
        "{title}} [{id}].{ext}",
        "}{ [{id}]",
        "{} [{id}]",
        "{0} [{id}]",
        "{title}.{ext}",  # no {id}: two lessons of one title would clash
        "",
        "{id}\x00.{ext}",
    ],
)
def test_bad_templates_are_refused(template):
    with pytest.raises(TemplateError):
        check(template)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("a/b\\c", "003 - a_b_c [42].mp4"),
        ("nul\x00byte", "003 - nul_byte [42].mp4"),
        ("bell\x07tab\tnewline\n", "003 - bell_tab_newline_ [42].mp4"),
        ("..hidden", "003 - hidden [42].mp4"),
        ("...", "003 - _ [42].mp4"),
        ("", "003 - _ [42].mp4"),
        ('a:b*c?d"e<f>g|h', "003 - a_b_c_d_e_f_g_h [42].mp4"),
    ],
)
def test_titles_are_made_safe(title, expected):
    assert named(course=None, section=None, title=title) == expected


@pytest.mark.parametrize("name", ["CON", "nul", "COM1", "LPT9", "aux", ".git", "..", "."])
def test_reserved_and_dot_names_never_form_a_folder(name):
    path = render("{course}/{section}/{id}.{ext}", {**VALUES, "course": name, "section": name})
    for part in path.parts[:-1]:
        assert part.upper().split(".")[0] not in {"CON", "NUL", "COM1", "LPT9", "AUX"}
        assert not part.startswith("."), part


def test_a_300_byte_unicode_title_is_cut_to_200_bytes_keeping_the_id_and_extension():
    title = "é" * 150 + "😀" * 10  # 300 bytes of UTF-8 plus 40
    course = "ç" * 300
    path = render(DEFAULT_TEMPLATE, {**VALUES, "title": title, "course": course})
    assert all(len(part.encode()) <= MAX_PART_BYTES for part in path.parts)
    assert path.name.endswith(" [42].mp4") and path.name.startswith("003 - éé")
    path.name.encode().decode()  # cut on a character boundary


def test_the_result_always_lies_under_the_download_dir(tmp_path):
    root = tmp_path / "downloads"
    for hostile in ("../../etc", "/etc/passwd", "..", "~root", "$HOME", "%2e%2e"):
        final = place(root, DEFAULT_TEMPLATE, {**VALUES, "course": hostile, "title": hostile})
        assert final.is_relative_to(root.resolve()), final


def test_format_specs_pad_numbers_and_cut_text():
    check("{position:02d} {title:.5} [{id}].{ext}")
    path = render("{position:02d} {title:.5} [{id}].{ext}", {**VALUES, "title": "Introdução"})
    assert str(path) == "03 Intro [42].mp4"


def test_a_missing_course_in_the_file_name_leaves_a_file_name():
    template = "{course} - {title} [{id}].{ext}"
    assert str(render(template, {**VALUES, "course": None})) == "- Aula 3 [42].mp4"
    assert str(render(template, VALUES)) == "Física 1 - Aula 3 [42].mp4"
