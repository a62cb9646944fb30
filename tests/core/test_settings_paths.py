"""Path settings are made absolute once, at load, so every process means the same files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.base.paths import ROOT, absolute_path, absolute_sqlite_url
from core.base.settings import Settings, load_settings
from tests.core.test_settings import clean_env
from tests.helpers import process_env

# No Aula variable from the environment; the working folder is an empty tmp_path (no `.env`).
pytestmark = pytest.mark.usefixtures(clean_env.__name__)


def test_relative_paths_are_taken_from_the_repository_without_a_dotenv(
    clean_env: pytest.MonkeyPatch,
) -> None:
    sep = os.pathsep
    clean_env.setenv("DATA_DIR", "data")
    clean_env.setenv("DOWNLOAD_DIR", "./data/../downloads")
    clean_env.setenv("MEDIA_ROOTS", f"media/a{sep}/srv/b{sep}media/c d")
    clean_env.setenv("DATABASE_URL", "sqlite:///data/aula.db")

    settings = load_settings()

    assert settings.data_dir == ROOT / "data"
    assert settings.download_dir == ROOT / "downloads"  # `..` folded
    assert settings.media_roots == [ROOT / "media/a", Path("/srv/b"), ROOT / "media/c d"]
    assert settings.database_url == f"sqlite:///{ROOT}/data/aula.db"
    assert settings.temp_dir == ROOT / "data/tmp"


def test_relative_paths_are_taken_from_the_folder_of_the_dotenv_in_use(
    tmp_path: Path,
) -> None:
    # clean_env made tmp_path the working folder: its `.env` is the one in use.
    (tmp_path / ".env").write_text(
        "DATA_DIR=var\nMEDIA_ROOTS=lessons\nDATABASE_URL=sqlite:///var/aula.db\n"
    )

    settings = load_settings()

    assert settings.data_dir == tmp_path / "var"
    assert settings.download_dir == tmp_path / "var/downloads"  # the default, relative too
    assert settings.media_roots == [tmp_path / "lessons"]
    assert settings.database_url == f"sqlite:///{tmp_path}/var/aula.db"


def test_home_is_expanded(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    clean_env.setenv("HOME", str(home))
    clean_env.setenv("DATA_DIR", "~/aula")
    clean_env.setenv("MEDIA_ROOTS", f"~/Videos{os.pathsep}~")
    clean_env.setenv("DATABASE_URL", "sqlite:///~/aula/aula.db")

    settings = load_settings()

    assert settings.data_dir == home / "aula"
    assert settings.media_roots == [home / "Videos", home]
    assert settings.database_url == f"sqlite:///{home}/aula/aula.db"


def test_absolute_paths_are_kept(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("DATA_DIR", str(tmp_path / "data"))
    clean_env.setenv("DOWNLOAD_DIR", str(tmp_path / "dl"))
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/a.db")

    settings = load_settings()

    assert settings.data_dir == tmp_path / "data"
    assert settings.download_dir == tmp_path / "dl"
    assert settings.database_url == f"sqlite:///{tmp_path}/a.db"  # sqlite:////tmp/...


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/aula.db", "sqlite:////base/var/aula.db"),
        ("sqlite:///../aula.db", "sqlite:////aula.db"),
        ("sqlite:////srv/aula.db", "sqlite:////srv/aula.db"),
        ("sqlite:///var/aula.db?timeout=20", "sqlite:////base/var/aula.db?timeout=20"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite:///file:aula.db?mode=ro&uri=true", "sqlite:///file:aula.db?mode=ro&uri=true"),
        ("postgresql+psycopg://u@db/aula", "postgresql+psycopg://u@db/aula"),
    ],
)
def test_sqlite_urls(url: str, expected: str) -> None:
    assert absolute_sqlite_url(url, Path("/base")) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("var", "/base/var"), ("/srv/x", "/srv/x"), ("a/./b/../c", "/base/a/c"), (".", "/base")],
)
def test_absolute_path(value: str, expected: str) -> None:
    assert absolute_path(value, Path("/base")) == Path(expected)


def test_overrides_are_resolved_too() -> None:
    settings = load_settings(data_dir=Path("elsewhere"), media_roots="m")

    assert settings.data_dir == ROOT / "elsewhere"
    assert settings.media_roots == [ROOT / "m"]


def _paths_seen_from(cwd: Path) -> str:
    """DATA_DIR, DOWNLOAD_DIR, MEDIA_ROOTS and DATABASE_URL as a process started in `cwd` reads
    them, with the relative defaults and MEDIA_ROOTS=media (`-P`: `cwd` is not put on sys.path,
    where api/limits.py would hide the `limits` package, as no real launcher does)."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in process_env({}).items() if k.upper() not in names}
    env["MEDIA_ROOTS"] = "media"
    env["PYTHONPATH"] = str(ROOT)
    code = (
        "from core.base.settings import load_settings; s = load_settings();"
        " print(s.data_dir, s.download_dir, s.media_roots, s.database_url)"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_processes_in_other_working_folders_agree(tmp_path: Path) -> None:
    # web's gunicorn app lives in api/ (where Flask's send_file resolved relative paths).
    seen = {_paths_seen_from(cwd) for cwd in (ROOT, ROOT / "api", tmp_path)}

    assert len(seen) == 1, seen
    assert str(ROOT / "var/downloads") in seen.pop()
