"""The yt-dlp runner against local media servers: direct files, HLS, cancel, resume, the guard."""

from __future__ import annotations

import hashlib

import av
import pytest

from core.errors import UpstreamRefused, ValidationFailed
from core.ytdlp_runner import Canceled, run_ytdlp
from tests.fakes.media import MediaServer


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
def other():
    with MediaServer("127.0.0.2", slow_size=1024) as server:
        yield server


def _run(url, tmp_path, progress=None, **kwargs):
    seen = []

    def on_progress(done, total, speed, eta):
        seen.append((done, total))
        return progress(done, total) if progress else True

    result = run_ytdlp(
        url,
        dest_dir=tmp_path / "done",
        work_dir=tmp_path / "work",
        fmt=None,
        cookies_file=None,
        on_progress=on_progress,
        **{"allow_private": True, **kwargs},
    )
    return result, seen


def test_a_direct_file_arrives_byte_exact_with_rising_progress(media, tmp_path):
    result, seen = _run(f"{media.base_url}/video.mp4", tmp_path)
    assert result.sha256 == hashlib.sha256(media.video).hexdigest()
    assert result.size == len(media.video) and result.path.parent == tmp_path / "done"
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == len(media.video)
    assert not any((tmp_path / "work").glob("*.part"))


def test_an_hls_stream_becomes_one_playable_file(media, tmp_path):
    result, _ = _run(f"{media.base_url}/hls/index.m3u8", tmp_path)
    with av.open(str(result.path)) as container:
        assert container.streams.video and container.duration / 1e6 > 5
    assert all(media.hits[f"/hls/seg{i}.ts"] >= 1 for i in range(3))


def test_cancel_stops_promptly_and_leaves_no_file(media, tmp_path):
    media.rate_bps = 512 * 1024
    with pytest.raises(Canceled):
        _run(f"{media.base_url}/slow.bin", tmp_path, progress=lambda done, total: done < 256 * 1024)
    assert media.sent["/slow.bin"] < len(media.slow) / 2
    assert not (tmp_path / "done").exists() or not any((tmp_path / "done").iterdir())


def test_an_interrupted_download_resumes_where_it_stopped(media, tmp_path):
    media.rate_bps = 2 * 1024 * 1024
    media.ranges.clear()
    with pytest.raises(Canceled):
        _run(f"{media.base_url}/slow.bin", tmp_path, progress=lambda done, total: done < 2**20)
    result, _ = _run(f"{media.base_url}/slow.bin", tmp_path)
    assert result.sha256 == hashlib.sha256(media.slow).hexdigest()
    resumed = [r for r in media.ranges if r and not r.startswith("bytes=0-")]
    assert resumed, media.ranges


def test_a_missing_file_is_a_permanent_error(media, tmp_path):
    with pytest.raises(UpstreamRefused):
        _run(f"{media.base_url}/nothing-here.mp4", tmp_path)


def _only_127_0_0_1(address):
    return None if address == "127.0.0.1" else f"{address} is not 127.0.0.1"


def test_the_guard_refuses_loopback_without_allow_private(media, tmp_path):
    with pytest.raises(ValidationFailed) as refused:
        _run(f"{media.base_url}/video.mp4", tmp_path, allow_private=False)
    assert refused.value.details["reason"] == "forbidden_url"
    assert media.hits["/never"] == 0


def test_the_guard_checks_every_redirect_at_connect_time(media, other, tmp_path):
    before = other.hits["/video.mp4"]
    target = f"{other.base_url}/video.mp4"
    with pytest.raises(ValidationFailed) as refused:
        _run(f"{media.base_url}/redirect?to={target}", tmp_path, policy=_only_127_0_0_1)
    assert refused.value.details["address"] == "127.0.0.2"
    assert other.hits["/video.mp4"] == before, "the forbidden server was reached"


def test_the_guard_checks_the_video_src_of_a_page(media, other, tmp_path):
    before = other.hits["/video.mp4"]
    page = f"{media.base_url}/page.html?src={other.base_url}/video.mp4"
    with pytest.raises(ValidationFailed):
        _run(page, tmp_path, policy=_only_127_0_0_1)
    assert other.hits["/video.mp4"] == before
