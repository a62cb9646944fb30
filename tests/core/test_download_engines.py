"""run.run: engines tried in order, a decline passes on, the file renamed into place."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.base.settings import Settings
from core.downloads.engine import Declined, Engine, FetchJob, Staged
from core.downloads.progress import Canceled, Progress
from core.downloads.run import run
from tests.conftest import settings_from_env


class Writes:
    """An engine that writes `data` into the work folder (what every real engine does)."""

    def __init__(self, data: bytes, title: str | None) -> None:
        self.data, self.title, self.calls = data, title, 0

    def fetch(self, job: FetchJob, work: Path, on_progress: Progress) -> Staged:
        self.calls += 1
        part = work / "data.mp4"
        part.write_bytes(self.data)
        if not on_progress(len(self.data), len(self.data), None, 0.0):
            raise Canceled()
        return Staged(part, hashlib.sha256(self.data).hexdigest(), self.title)


class Refuses:
    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    def fetch(self, job: FetchJob, work: Path, on_progress: Progress) -> Staged:
        self.calls += 1
        raise self.error


@pytest.fixture
def settings(base_env: dict[str, str], tmp_path: Path) -> Settings:
    """Settings with a DOWNLOAD_DIR of this test's own (no database needed)."""
    return settings_from_env(base_env, download_dir=str(tmp_path / "downloads"))


def _job(title: str | None) -> FetchJob:
    return FetchJob(41, "https://example.org/v.mp4", "ytdlp", None, None, title)


def test_a_declining_engine_passes_the_download_to_the_next(settings: Settings) -> None:
    first, second = Refuses(Declined()), Writes(b"video bytes", "From the page")
    engines: list[Engine] = [first, second]
    fetched = run(settings, _job(None), engines, lambda *_: True)
    assert (first.calls, second.calls) == (1, 1)
    assert fetched.path == settings.download_dir / "From_the_page-41.mp4"
    assert fetched.path.read_bytes() == b"video bytes" and fetched.size == 11
    assert fetched.sha256 == hashlib.sha256(b"video bytes").hexdigest()
    assert fetched.title == "From the page"


def test_the_title_the_download_has_wins_over_the_engines(settings: Settings) -> None:
    fetched = run(settings, _job("Lesson 1"), [Writes(b"x", "Other")], lambda *_: True)
    assert fetched.title == "Lesson 1" and fetched.path.name == "Lesson_1-41.mp4"


@pytest.mark.parametrize("error", [Canceled(), RuntimeError("broken")])
def test_a_cancel_or_an_error_is_not_a_decline(settings: Settings, error: Exception) -> None:
    first, second = Refuses(error), Writes(b"x", None)
    with pytest.raises(type(error)):
        run(settings, _job(None), [first, second], lambda *_: True)
    assert second.calls == 0, "only a decline hands the download on"


def test_the_last_engine_declining_is_raised(settings: Settings) -> None:
    with pytest.raises(Declined):
        run(settings, _job(None), [Refuses(Declined())], lambda *_: True)


def test_a_stop_from_progress_cancels_and_keeps_the_partial(settings: Settings) -> None:
    with pytest.raises(Canceled):
        run(settings, _job(None), [Writes(b"part", None)], lambda *_: False)
    assert (settings.download_dir / ".partial" / "41" / "data.mp4").read_bytes() == b"part"
