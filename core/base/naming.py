"""Download names from a template: a restricted formatter whose every value is a safe path part.

DOWNLOAD_TEMPLATE and a subscription's template name only the fields below, with simple format
specs; each value is sanitised by pathvalidate (no separators, NUL, control characters or
reserved Windows names), loses its leading dots, and each path part is cut to 200 bytes."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pathvalidate import sanitize_filename

from core.base.local_names import catalog_name, readable

FIELDS = frozenset(
    {"source", "course", "section", "position", "title", "id", "uploader", "upload_date", "ext"}
)
_KNOWN = ", ".join(sorted(FIELDS))
NUMBERS = frozenset({"position", "id"})
OPTIONAL_PARTS = frozenset({"course", "section"})  # a part naming one that is missing is left out
MAX_PART_BYTES = 200
MAX_TEMPLATE = 1024
_SPEC = re.compile(r"^(?:0?[1-9]\d?d|\.[1-9]\d{0,2})?$")  # "03d" for numbers, ".40" for text
_SAMPLE: dict[str, Any] = {name: 1 if name in NUMBERS else "x" for name in FIELDS}


class TemplateError(ValueError):
    """A template that names an unknown field, has unbalanced braces, or leaves DOWNLOAD_DIR."""


class _Restricted(string.Formatter):
    """A Formatter that only looks values up by plain name: no attributes, indexes, conversions."""

    def get_field(self, field_name: str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if field_name not in FIELDS:
            raise TemplateError(f"unknown field {{{field_name}}}; known: {_KNOWN}")
        return kwargs[field_name], field_name

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            raise TemplateError(f"conversions (!{conversion}) are not allowed")
        return value


_FORMATTER = _Restricted()


def _fields(part: str) -> list[tuple[str, str]]:
    try:
        parsed = list(_FORMATTER.parse(part))
    except ValueError as error:  # "Single '}' encountered", "expected '}' before end of string"
        raise TemplateError(f"unbalanced braces: {error}") from None
    found = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            raise TemplateError(f"unknown field {{{name}}}; known: {_KNOWN}")
        if conversion is not None or not _SPEC.match(spec or "") or "{" in (spec or ""):
            raise TemplateError(f"{{{name}:{spec}}}: only a width like :03d or :.40 is allowed")
        if (spec or "").endswith("d") and name not in NUMBERS:
            raise TemplateError(f"{{{name}:{spec}}}: only position and id are numbers")
        found.append((name, spec or ""))
    return found


def parse_template(template: str) -> list[str]:
    """The template's path parts, checked: TemplateError says what is wrong."""
    if not template or len(template) > MAX_TEMPLATE:
        raise TemplateError(f"a template is 1 to {MAX_TEMPLATE} characters")
    if "\\" in template or "\x00" in template:
        raise TemplateError("use / between folders; no backslashes or NUL")
    if template.startswith("/") or re.match(r"^[A-Za-z]:", template):
        raise TemplateError("a template is a path inside DOWNLOAD_DIR, not an absolute path")
    parts = template.split("/")
    for part in parts:
        if part.strip() in ("", ".", ".."):
            raise TemplateError("a template has no empty, '.' or '..' parts")
        _fields(part)
    if not any(name == "id" for name, _ in _fields(parts[-1])):
        raise TemplateError("the file name (last part) must contain {id}, so names never clash")
    return parts


def clean(value: Any, name: str) -> Any:
    """One field's value made a safe path part (numbers stay numbers)."""
    if name in NUMBERS:
        return int(value or 0)
    text = "" if value is None else readable(catalog_name(str(value)))  # encodable, always
    text = sanitize_filename(text, replacement_text="_", platform="universal")
    return text.lstrip(". ") or "_"


def _bytes_cut(text: str, size: int) -> str:
    return text.encode()[: max(size, 1)].decode(errors="ignore").rstrip() or "_"


def _part(part: str, names: set[str], safe: dict[str, Any]) -> str:
    """One path part, its longest text values shortened until it fits MAX_PART_BYTES (so the
    id and the extension are never cut off); never empty or dots only."""
    text = _FORMATTER.vformat(part, (), safe)
    while len(text.encode()) > MAX_PART_BYTES:
        texts = [name for name in names - NUMBERS if len(str(safe[name]).encode()) > 1]
        if not texts:
            text = _bytes_cut(text, MAX_PART_BYTES)
            break
        longest = max(texts, key=lambda name: len(str(safe[name]).encode()))
        over = len(text.encode()) - MAX_PART_BYTES
        value = str(safe[longest])
        safe = {**safe, longest: _bytes_cut(value, len(value.encode()) - over)}
        text = _FORMATTER.vformat(part, (), safe)
    text = sanitize_filename(text, replacement_text="_", platform="universal").lstrip(". ")
    return text or "_"


def render(template: str, values: Mapping[str, Any]) -> PurePosixPath:
    """The relative path `template` gives for `values` (missing course/section parts left out)."""
    parts = []
    template_parts = parse_template(template)
    for index, part in enumerate(template_parts):
        names = {name for name, _ in _fields(part)}
        missing = {name for name in names & OPTIONAL_PARTS if not values.get(name)}
        if missing and index < len(template_parts) - 1:
            continue  # a folder of a course or section the item is not in
        safe = {name: clean(values.get(name), name) for name in FIELDS}
        safe.update(dict.fromkeys(missing, ""))  # in the file name: nothing in its place
        parts.append(_part(part, names, safe))
    return PurePosixPath(*parts)


def place(root: Path, template: str, values: Mapping[str, Any]) -> Path:
    """The absolute path under `root` for `values`; TemplateError if it would lie elsewhere."""
    relative = render(template, values)
    base = root.resolve()
    final = (base / relative).resolve()
    if final == base or base not in final.parents:
        raise TemplateError("the name the template gives lies outside DOWNLOAD_DIR")
    return final


def check(template: str) -> str:
    """The template if it renders for sample values (a spec that cannot format fails here)."""
    try:
        render(template, _SAMPLE)
    except TemplateError:
        raise
    except (ValueError, KeyError, IndexError) as error:
        raise TemplateError(f"the template does not format: {error}") from None
    return template
