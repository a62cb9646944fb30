"""Where relative paths in the settings point: the `.env` folder in use, else the repository."""

from __future__ import annotations

import os
from pathlib import Path

# The repository (the image's /app): what relative paths mean when no `.env` is in use. Counted
# from this module's dotted name, so it stays right wherever the module moves inside core/.
ROOT = Path(__file__).resolve().parents[__name__.count(".")]
ENV_FILE = ".env"
SQLITE_PREFIX = "sqlite:///"


def base_dir() -> Path:
    """What relative paths in settings are relative to: the folder of the `.env` in use (read
    from the working directory, as pydantic-settings does), else the repository.

    Made absolute once, at load, so that web (whose Flask `send_file` would take a relative path
    from api/), worker and beat mean the same files whatever their working directory.
    """
    try:
        env_file = Path(ENV_FILE).absolute()
    except OSError:  # the working folder was removed: no `.env` is in use
        return ROOT
    return env_file.parent if env_file.is_file() else ROOT


def absolute_path(value: str | Path, base: Path) -> Path:
    """`value` with `~` expanded and made absolute against `base` (`..` folded, links kept)."""
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def absolute_sqlite_url(url: str, base: Path) -> str:
    """A `sqlite:///relative` URL made `sqlite:////absolute`; any other URL unchanged."""
    if not url.startswith(SQLITE_PREFIX):
        return url
    path, sep, query = url.removeprefix(SQLITE_PREFIX).partition("?")
    if not path or path == ":memory:" or path.startswith(("/", "file:")):
        return url
    return f"{SQLITE_PREFIX}{absolute_path(path, base)}{sep}{query}"
