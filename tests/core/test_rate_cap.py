"""The per-download rate cap (CONTRACT 8.5): 1 MiB/s honoured within 10% by yt-dlp's ratelimit
and by the token bucket on the Drive stream, against loopback servers.

A measured rate with a tolerance, on purpose: the cap is the feature. The transfers are small
(3 MiB, about three seconds each) and the servers send as fast as they can, so only the cap can
hold them near 1 MiB/s; an uncapped run takes a fraction of a second (checked below)."""

from __future__ import annotations

import hashlib
import time

import pytest

from core.downloads.drive import DriveEngine
from core.downloads.engine import FetchJob
from core.downloads.state import DownloadKind
from core.downloads.ytdlp import run_ytdlp
from tests.fakes.media import MediaServer
from tests.services import drive_client

MIB = 1024 * 1024
SIZE = 3 * MIB
CAP = MIB


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1", slow_size=SIZE) as server:
        server.rate_bps = None  # as fast as loopback goes: only the cap slows it
        yield server


class Clocked:
    """A progress callback that times the transfer: from its first bytes to its last."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def __call__(self, done, total, speed, eta) -> bool:
        if done and (not self.marks or done > self.marks[-1][1]):
            self.marks.append((time.monotonic(), done))
        return True

    def rate(self) -> float:
        (start, first), (end, last) = self.marks[0], self.marks[-1]
        return (last - first) / (end - start)


def _ytdlp(url, tmp_path, rate):
    clock = Clocked()
    result = run_ytdlp(
        url, dest_dir=tmp_path / "done", work_dir=tmp_path / "work", fmt=None,
        cookies_file=None, allow_private=True, on_progress=clock, rate_bps=rate,
    )  # fmt: skip
    return result, clock


def test_ytdlp_honours_a_1_mib_per_s_cap_within_10_percent(media, tmp_path):
    result, clock = _ytdlp(f"{media.base_url}/slow.bin", tmp_path / "capped", CAP)
    assert result.size == SIZE and result.sha256 == hashlib.sha256(media.slow).hexdigest()
    rate = clock.rate()
    print(f"yt-dlp capped at 1 MiB/s: {rate / MIB:.3f} MiB/s")  # shown with pytest -s
    assert 0.9 * CAP <= rate <= 1.1 * CAP, f"{rate / MIB:.3f} MiB/s"
    _, free = _ytdlp(f"{media.base_url}/slow.bin", tmp_path / "free", None)
    assert free.rate() > 2 * rate, "without the cap the transfer must be much faster"


def _drive(settings, file_id, work, rate):
    job = FetchJob(1, f"https://drive.google.com/file/d/{file_id}/view", DownloadKind.DRIVE,
                   file_id, None, None)  # fmt: skip
    work.mkdir(parents=True)
    clock = Clocked()
    staged = DriveEngine(drive_client(settings), rate).fetch(job, work, clock)
    return staged, clock


def test_the_drive_stream_honours_a_1_mib_per_s_cap_within_10_percent(settings, drive, tmp_path):
    file_id = drive.add_file("capped.mp4", size=SIZE, seed=11)
    staged, clock = _drive(settings, file_id, tmp_path / "capped", CAP)
    assert staged.sha256 == hashlib.sha256(drive.content_of(file_id)).hexdigest()
    rate = clock.rate()
    print(f"Drive capped at 1 MiB/s: {rate / MIB:.3f} MiB/s")  # shown with pytest -s
    assert 0.9 * CAP <= rate <= 1.1 * CAP, f"{rate / MIB:.3f} MiB/s"
    _, free = _drive(settings, file_id, tmp_path / "free", None)
    assert free.rate() > 2 * rate, "without the cap the transfer must be much faster"
