"""Convert to play: an MKV lesson and an AVI lesson play in Chromium after conversion."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from core.catalog.indexing import rebuild_local
from core.media import ffmpeg
from tests.e2e.ui_support import WAIT_MS, Watched
from tests.media import make_video
from tests.services import services_of

pytestmark = pytest.mark.timeout(240)


def _play_and_seek(page, target: float = 2.0) -> dict:
    return page.locator("main video").evaluate(
        """async (v, target) => {
          const wait = (event) => new Promise((ok, bad) => {
            if (event === 'loadedmetadata' && v.readyState >= 1) return ok();
            v.addEventListener(event, ok, {once: true});
            v.addEventListener('error', () => bad(new Error('media error ' + v.error.code)),
                               {once: true});
            setTimeout(() => bad(new Error('timed out waiting for ' + event)), 15000);
          });
          v.muted = true;
          await wait('loadedmetadata');
          await v.play();
          v.currentTime = target;
          await wait('seeked');
          return {after: v.currentTime, duration: v.duration, src: v.currentSrc,
                  error: v.error && v.error.code};
        }""",
        target,
    )


def _open(ui: Watched, title: str) -> None:
    ui.goto("catalog")
    ui.page.locator("a.card", has_text=title).first.click()
    ui.page.get_by_role("heading", level=1, name=title).wait_for()


@pytest.mark.parametrize(
    ("title", "name", "codec", "kind"),
    [
        ("Aula MKV", "Aula MKV.mkv", "libx264", "MKV, H.264"),
        ("Aula AVI", "Aula AVI.avi", "mpeg4", "AVI, MPEG-4 Part 2"),
    ],
)
def test_a_lesson_plays_after_convert_to_play(ui: Watched, settings, title, name, codec, kind):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    make_video(root / name, seconds=4, codec=codec)
    rebuild_local(services_of(settings))
    _open(ui, title)
    gate = ui.page.get_by_role("region", name="Convert to play")
    gate.wait_for()
    assert kind in gate.inner_text()
    assert ui.page.locator("main video").count() == 0  # a panel, not a black box
    play = ui.page.locator(".player-actions button", has_text="Play")
    assert not play.is_visible(), "nothing to play until the conversion is done"
    ui.shot(f"convert-{name.split('.')[-1]}-before")
    gate.get_by_role("button", name="Convert to play").click()
    ui.page.locator("main video").wait_for(timeout=WAIT_MS * 2)
    assert play.is_visible()
    result = _play_and_seek(ui.page)
    assert result["error"] is None and result["src"].split("?")[0].endswith("/playback")
    assert abs(result["after"] - 2.0) < 0.3 and 3.5 < result["duration"] < 4.5
    ui.shot(f"convert-{name.split('.')[-1]}-after")
    unexpected = [e for e in ui.console_errors if "409" not in e]  # the gate's own probe
    assert unexpected == []


def test_the_conversion_shows_its_progress(ui: Watched, settings):
    root = settings.media_roots[0]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run([
        ffmpeg.ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-t", "20", "-c:v", "mpeg4", "-q:v", "3", str(root / "Aula longa.avi"),
    ], check=True, timeout=120)  # fmt: skip
    rebuild_local(services_of(settings))
    _open(ui, "Aula longa")
    gate = ui.page.get_by_role("region", name="Convert to play")
    gate.get_by_role("button", name="Convert to play").click()
    ui.page.wait_for_function(
        "() => { const p = document.querySelector('.convert-gate progress');"
        " return p && p.hasAttribute('value') && p.value > 0 && p.value < 100; }",
        timeout=WAIT_MS * 2,
    )
    assert "%" in gate.locator(".progress-text").inner_text()
    ui.shot("convert-progress")
    ui.page.locator("main video").wait_for(timeout=WAIT_MS * 4)
    assert _play_and_seek(ui.page, 10.0)["error"] is None
