"""Local file names that are not UTF-8: a reversible text form for the catalog, and a readable one.

A name copied from an old USB stick or a Windows share may hold Latin-1 bytes (`Aula \\xe9.mp4`).
Python hands it over with surrogate escapes, which neither PostgreSQL `text` nor JSON can hold.
The catalog keeps such a name as text instead: each byte that is not UTF-8 becomes U+FFFD and two
hex digits (`Aula \\ufffdE9.mp4`), and a U+FFFD that was really in the name becomes its own three
bytes so written (`\\ufffdEF\\ufffdBF\\ufffdBD`), so that no real name collides with an escaped
one and `os_name(catalog_name(n)) == n` for every name. A UTF-8 name without U+FFFD (every name
until now) is its own text form: rows catalogued before keep their source_id.
"""

from __future__ import annotations

import os
import re

MARK = "\ufffd"
_ESCAPE = re.compile(MARK + "([0-9A-F]{2})")
_RUN = re.compile(f"(?:{MARK}[0-9A-F]{{2}})+")
_SURROGATES = range(0xDC80, 0xDD00)  # what os.fsdecode makes of the bytes 0x80-0xFF it cannot read


def _escape(char: str) -> str:
    code = ord(char)
    if code in _SURROGATES:
        return f"{MARK}{code - 0xDC00:02X}"
    if char == MARK or 0xD800 <= code < 0xE000:  # any other lone surrogate: as Windows keeps it
        return "".join(f"{MARK}{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return char


def catalog_name(name: str) -> str:
    """The text form of a name or relative path as the OS gave it (surrogate escapes and all);
    any str at all gives text that PostgreSQL, JSON and HTTP headers take."""
    if name.isascii():
        return name  # the common case costs one scan
    return "".join(_escape(char) for char in name)


def os_name(text: str) -> str:
    """The name or path the OS knows (surrogate escapes for bytes that are not UTF-8) of a text
    form made by catalog_name; any other text comes back as it is."""
    if MARK not in text:
        return text
    raw = bytearray()
    position = 0
    for escape in _ESCAPE.finditer(text):
        raw += os.fsencode(text[position : escape.start()])
        raw.append(int(escape.group(1), 16))
        position = escape.end()
    raw += os.fsencode(text[position:])
    return os.fsdecode(bytes(raw))


def _byte(char: str) -> str:
    if ord(char) in _SURROGATES:
        return bytes([ord(char) - 0xDC00]).decode("cp1252", "replace")
    return char


def _guess(run: re.Match[str]) -> str:
    """Escaped bytes as a person reads them: UTF-8 where they are (an escaped U+FFFD), else
    Windows-1252, what such names nearly always are (U+FFFD for its five unassigned bytes)."""
    raw = bytes(int(run.group(0)[i + 1 : i + 3], 16) for i in range(0, len(run.group(0)), 3))
    return "".join(_byte(char) for char in raw.decode("utf-8", "surrogateescape"))


def readable(text: str) -> str:
    """A title, for people, of a text form (`Aula é.mp4` for `Aula \\ufffdE9.mp4`): shown, never
    used to find the file again (two names may read alike)."""
    return _RUN.sub(_guess, text) if MARK in text else text
