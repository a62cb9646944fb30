"""Plain media files fetched without yt-dlp: bytes, progress, resume, errors and the SSRF guard."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.base.errors import InsufficientStorage, TransientError, UpstreamRefused, ValidationFailed
from core.base.guarded_http import guarded_socket
from core.base.netguard import Guard
from core.downloads.direct import NotMedia, _HashingWriter, fetch_direct, is_media_url
from core.downloads.progress import Canceled
from tests.fakes.media import MediaServer


@pytest.fixture(scope="module")
def media():
    with MediaServer("127.0.0.1", slow_size=6 * 1024 * 1024) as server:
        server.rate_bps = None
        yield server


@pytest.fixture(scope="module")
def other():
    with MediaServer("127.0.0.2", slow_size=1024) as server:
        yield server


def _only_127_0_0_1(address: str) -> str | None:
    return None if address == "127.0.0.1" else "only 127.0.0.1 is allowed in this test"


def _fetch(url, tmp_path, progress=None, guard=None, **kwargs):
    seen = []

    def on_progress(done, total, speed, eta):
        seen.append((done, total))
        return progress(done, total) if progress else True

    part = tmp_path / "direct.part"
    result = fetch_direct(
        url,
        part,
        guard=guard or Guard(allow_private=True),
        on_progress=on_progress,
        read_timeout=10,
        **kwargs,
    )
    return result, seen


def test_media_urls_are_recognized_by_their_path():
    assert is_media_url("https://example.org/lessons/1.MP4?token=x")
    assert not is_media_url("https://example.org/watch?v=1.mp4")
    assert not is_media_url("https://example.org/hls/index.m3u8")


def test_a_file_arrives_byte_exact_with_rising_progress(media, tmp_path):
    result, seen = _fetch(f"{media.base_url}/slow.bin", tmp_path)
    assert result.sha256 == hashlib.sha256(media.slow).hexdigest()
    assert result.size == len(media.slow) == result.path.stat().st_size
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == len(media.slow)
    assert seen[-1] == (len(media.slow), len(media.slow))
    assert result.title == "slow"


def test_the_file_name_of_content_disposition_is_the_title(media, tmp_path):
    result, _ = _fetch(f"{media.base_url}/named/video.mp4", tmp_path)
    assert result.title == "Lesson 1"
    assert result.sha256 == hashlib.sha256(media.video).hexdigest()


def test_a_partial_file_is_resumed_by_range(media, tmp_path):
    half = len(media.slow) // 2
    (tmp_path / "direct.part").write_bytes(media.slow[:half])
    result, seen = _fetch(f"{media.base_url}/slow.bin", tmp_path)
    assert media.ranges[-1] == f"bytes={half}-"
    assert result.sha256 == hashlib.sha256(media.slow).hexdigest()
    assert seen[0][0] == half, "progress starts at the resume point"


def test_a_whole_partial_file_is_not_fetched_again(media, tmp_path):
    (tmp_path / "direct.part").write_bytes(media.video)
    sent = media.sent["/video.mp4"]
    result, _ = _fetch(f"{media.base_url}/video.mp4", tmp_path)
    assert result.sha256 == hashlib.sha256(media.video).hexdigest()
    assert media.sent["/video.mp4"] == sent


def test_a_server_that_ignores_range_gets_a_fresh_start(media, tmp_path):
    (tmp_path / "direct.part").write_bytes(b"x" * 1000)  # wrong bytes: must not survive
    result, _ = _fetch(f"{media.base_url}/norange/video.mp4", tmp_path)
    assert result.sha256 == hashlib.sha256(media.video).hexdigest()
    assert result.size == len(media.video)


def test_cancel_stops_the_transfer(media, tmp_path):
    with pytest.raises(Canceled):
        _fetch(f"{media.base_url}/slow.bin", tmp_path, progress=lambda done, _t: done < 2**20)
    assert (tmp_path / "direct.part").stat().st_size < len(media.slow)


def test_a_page_is_left_to_yt_dlp_with_nothing_written(media, tmp_path):
    with pytest.raises(NotMedia):
        _fetch(f"{media.base_url}/page/lesson.mp4?src=/video.mp4", tmp_path)
    assert not (tmp_path / "direct.part").exists()


@pytest.mark.parametrize(
    ("path", "error"),
    [("/status/404.mp4", UpstreamRefused), ("/status/403.mp4", UpstreamRefused),
     ("/status/500.mp4", TransientError), ("/status/429.mp4", TransientError),
     ("/drop.mp4", TransientError)],
)  # fmt: skip
def test_refusals_are_permanent_and_outages_transient(media, tmp_path, path, error):
    with pytest.raises(error):
        _fetch(f"{media.base_url}{path}", tmp_path, resumes=0)


def test_the_guard_refuses_loopback_without_allow_private(media, tmp_path):
    before = media.hits["/video.mp4"]
    with pytest.raises(ValidationFailed) as refused:
        _fetch(f"{media.base_url}/video.mp4", tmp_path, guard=Guard(allow_private=False))
    assert refused.value.details == {
        "reason": "forbidden_url",
        "address": "127.0.0.1",
        "setting": "DOWNLOAD_ALLOW_PRIVATE_HOSTS",
    }
    assert "Set DOWNLOAD_ALLOW_PRIVATE_HOSTS=true" in refused.value.message
    assert media.hits["/video.mp4"] == before


def test_the_guard_checks_a_redirect_at_connect_time(media, other, tmp_path):
    before = other.hits["/video.mp4"]
    target = f"{other.base_url}/video.mp4"
    with pytest.raises(ValidationFailed) as refused:
        _fetch(f"{media.base_url}/redirect/x.mp4?to={target}", tmp_path,
               guard=Guard(True, _only_127_0_0_1))  # fmt: skip
    assert refused.value.details["address"] == "127.0.0.2"
    assert other.hits["/video.mp4"] == before, "the forbidden server was reached"


def test_an_allowed_redirect_is_followed(media, tmp_path):
    target = f"{media.base_url}/video.mp4"
    result, _ = _fetch(f"{media.base_url}/redirect/x.mp4?to={target}", tmp_path,
                       guard=Guard(True, _only_127_0_0_1))  # fmt: skip
    assert result.sha256 == hashlib.sha256(media.video).hexdigest()


def test_a_redirect_to_ftp_is_refused_without_connecting(media, tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        with pytest.raises(ValidationFailed) as refused:
            _fetch(f"{media.base_url}/redirect/x.mp4?to=ftp://127.0.0.1:{port}/x.mp4", tmp_path)
        assert refused.value.details["reason"] == "forbidden_url"
        with pytest.raises(BlockingIOError):
            listener.accept()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "2130706433", "127.1"])
def test_loopback_spellings_are_refused_before_connecting(host):
    guard = Guard(allow_private=False)
    with pytest.raises(ConnectionRefusedError):
        guarded_socket(host, 9, 2.0, guard)
    assert guard.refused


def test_cookies_from_a_cookies_file_are_sent(media, tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\n"
    )
    _fetch(f"{media.base_url}/video.mp4", tmp_path, cookies=cookies)
    assert media.cookies[-1] == "session=abc123"


def test_a_partial_file_longer_than_the_file_is_fetched_again(media, tmp_path):
    (tmp_path / "direct.part").write_bytes(media.video + b"stale tail")
    result, _ = _fetch(f"{media.base_url}/video.mp4", tmp_path)
    assert result.sha256 == hashlib.sha256(media.video).hexdigest()
    assert (tmp_path / "direct.part").read_bytes() == media.video


def test_a_full_disk_is_insufficient_storage_not_a_broken_connection():
    writer = _HashingWriter(Path("/dev/full"), hashlib.sha256())  # every write: ENOSPC
    try:
        with pytest.raises(InsufficientStorage) as full:
            writer.copy(io.BytesIO(b"x" * 100_000))
    finally:
        writer.close()
    assert "disk of the download folder is full" in full.value.message


def test_a_drive_transfer_onto_a_full_disk_is_insufficient_storage(media):
    from core.downloads.drive import _write_body

    response = requests.get(f"{media.base_url}/video.mp4", stream=True, timeout=10)
    with pytest.raises(InsufficientStorage):
        _write_body(response, Path("/dev/full"), 0, None, (hashlib.sha256(),), lambda *a: True)
    response.close()


def _self_signed(folder: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (no CA trusts it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_a_certificate_no_ca_trusts_is_refused(tmp_path):
    with MediaServer("127.0.0.1", slow_size=1024, tls=_self_signed(tmp_path)) as server:
        with pytest.raises(UpstreamRefused) as refused:
            _fetch(f"{server.base_url}/video.mp4", tmp_path / "work", resumes=0)
        assert "TLS certificate" in refused.value.message
        assert server.hits["/video.mp4"] == 0, "a request went over an unverified connection"


def test_https_through_the_guarded_connection_when_the_certificate_is_trusted(
    tmp_path, monkeypatch
):
    context = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # read by the default context
    (tmp_path / "work").mkdir()
    with MediaServer("127.0.0.1", slow_size=1024, tls=context) as server:
        result, _ = _fetch(f"{server.base_url}/video.mp4", tmp_path / "work")
        assert result.sha256 == hashlib.sha256(server.video).hexdigest()
