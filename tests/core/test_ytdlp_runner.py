"""The yt-dlp runner against local media servers: direct files, HLS, cancel, resume, the guard."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys

import av
import psutil
import pytest
import requests

from core.base.errors import TransientError, UpstreamRefused, ValidationFailed
from core.downloads.ytdlp import Canceled, guard_ytdlp_connections, run_ytdlp
from tests.fakes.media import MediaServer
from tests.helpers import ROOT


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


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost", "2130706433", "127.1"])
def test_loopback_spellings_are_refused_at_connect_time(media, tmp_path, host):
    port = media.base_url.rsplit(":", 1)[1]
    before = media.hits["/video.mp4"]
    with pytest.raises(ValidationFailed) as refused:
        _run(f"http://{host}:{port}/video.mp4", tmp_path, allow_private=False)
    assert refused.value.details["reason"] == "forbidden_url"
    assert media.hits["/video.mp4"] == before, "the guard let a connection through"


def test_an_odd_spelling_reaches_the_address_the_os_resolves_it_to(media, tmp_path):
    port = media.base_url.rsplit(":", 1)[1]
    result, _ = _run(f"http://2130706433:{port}/video.mp4", tmp_path, policy=_only_127_0_0_1)
    assert result.sha256 == hashlib.sha256(media.video).hexdigest()


def test_hls_segments_on_a_forbidden_host_are_refused(media, other, tmp_path):
    before = sum(other.hits[f"/hls/seg{i}.ts"] for i in range(3))
    url = f"{media.base_url}/hls/remote.m3u8?base={other.base_url}/hls/"
    with pytest.raises(ValidationFailed) as refused:
        _run(url, tmp_path, policy=_only_127_0_0_1)
    assert refused.value.details["address"] == "127.0.0.2"
    assert sum(other.hits[f"/hls/seg{i}.ts"] for i in range(3)) == before


def test_hls_segments_on_another_allowed_host_download(media, other, tmp_path):
    url = f"{media.base_url}/hls/remote.m3u8?base={other.base_url}/hls/"
    result, _ = _run(url, tmp_path)
    with av.open(str(result.path)) as container:
        assert container.streams.video


@pytest.fixture
def forbidden_listener():
    """A bare TCP listener on 127.0.0.2: a connection to it would wait in its backlog."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.2", 0))
        listener.listen(8)
        listener.setblocking(False)
        yield listener


def _connected(listener):
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_a_redirect_to_ftp_is_refused_before_any_connection(media, tmp_path, forbidden_listener):
    port = forbidden_listener.getsockname()[1]
    with pytest.raises(ValidationFailed) as refused:
        _run(f"{media.base_url}/redirect?to=ftp://127.0.0.2:{port}/x.mp4", tmp_path)
    assert refused.value.details["reason"] == "forbidden_url"
    assert not _connected(forbidden_listener), "urllib's ftp handler bypassed the guard"


def test_a_live_stream_is_not_handed_to_ffmpeg(media, tmp_path, forbidden_listener):
    port = forbidden_listener.getsockname()[1]
    url = f"{media.base_url}/hls/live.m3u8?base=http://127.0.0.2:{port}/hls/"
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    with pytest.raises(UpstreamRefused) as refused:
        _run(url, tmp_path, policy=_only_127_0_0_1)
    assert "external program" in refused.value.message
    assert not _connected(forbidden_listener), "ffmpeg connected by itself"
    started = [c for c in psutil.Process().children(recursive=True) if c.pid not in before]
    assert not started, "a process was started for the live stream"


def test_the_guard_uses_only_its_own_handler_and_restores_yt_dlp(other):
    import yt_dlp
    from yt_dlp.networking import _helper, _urllib
    from yt_dlp.networking.common import Request
    from yt_dlp.networking.exceptions import NoSupportingHandlers

    originals = (_helper.create_connection, _urllib.create_connection, _urllib.FTPHandler)
    before = other.hits["/video.mp4"]
    with guard_ytdlp_connections(False, _only_127_0_0_1):
        # Only the requests handler takes this extension: it must not be used to get around us.
        request = Request(f"{other.base_url}/video.mp4", extensions={"keep_header_casing": True})
        with yt_dlp.YoutubeDL({"quiet": True}) as ydl, pytest.raises(NoSupportingHandlers):
            ydl.urlopen(request)
    assert other.hits["/video.mp4"] == before
    assert (_helper.create_connection, _urllib.create_connection, _urllib.FTPHandler) == originals


def test_the_guard_leaves_other_connections_of_the_process_alone(other):
    with guard_ytdlp_connections(False, _only_127_0_0_1):
        answer = requests.get(f"{other.base_url}/video.mp4", timeout=5)
        with socket.create_connection(("127.0.0.2", int(other.base_url.rsplit(":", 1)[1]))):
            pass
    assert answer.content == other.video


def test_a_server_error_and_a_dropped_connection_are_transient(media, tmp_path):
    with pytest.raises(TransientError):
        _run(f"{media.base_url}/status/503", tmp_path)
    with pytest.raises(TransientError):
        _run(f"{media.base_url}/drop", tmp_path / "drop")


def test_a_second_copy_never_overwrites_the_first(media, tmp_path):
    first, _ = _run(f"{media.base_url}/video.mp4", tmp_path)
    second = run_ytdlp(
        f"{media.base_url}/video.mp4",
        dest_dir=tmp_path / "done",
        work_dir=tmp_path / "work2",
        fmt=None,
        cookies_file=None,
        allow_private=True,
        on_progress=lambda *args: True,
    )
    assert first.path != second.path and first.path.exists() and second.path.exists()
    assert not [p for p in (tmp_path / "work").iterdir() if p.is_file()], "leftovers remain"


def test_progress_rises_and_ends_at_the_total(media, tmp_path):
    _result, seen = _run(f"{media.base_url}/hls/index.m3u8", tmp_path)
    done = [d for d, _ in seen]
    ratios = [d / t for d, t in seen if t]
    assert done == sorted(done) and ratios == sorted(ratios)
    assert seen[-1][0] == seen[-1][1] > 0


def test_kill_children_terminates_what_this_process_started():
    script = (
        "import subprocess, sys, psutil; from core.base.children import kill_children;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "kill_children(grace_s=5); print(psutil.pid_exists(p.pid))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "False", out.stderr


def test_a_full_disk_under_yt_dlp_is_insufficient_storage():
    import errno

    from yt_dlp.utils import DownloadError

    from core.base.errors import InsufficientStorage
    from core.base.netguard import Guard
    from core.downloads.ytdlp_errors import classify as _classify

    full = OSError(errno.ENOSPC, "No space left on device")
    wrapped = DownloadError("ERROR: unable to write data: [Errno 28]", (OSError, full, None))
    assert isinstance(_classify(wrapped, Guard(allow_private=True)), InsufficientStorage)
