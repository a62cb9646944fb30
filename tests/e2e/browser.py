"""Headless Chromium (Debian's package) driven by Playwright, for tests that need a real browser."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_path() -> str:
    """Debian's chromium; `make test` installs it when missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("chromium is not installed: run `make browser` (Debian's chromium)")
    return path


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


PLAY_AND_SEEK = """
async ([src, target]) => {
  const v = document.createElement('video');
  v.muted = true;
  v.src = src;
  document.body.appendChild(v);
  const wait = (event) => new Promise((ok, bad) => {
    v.addEventListener(event, ok, {once: true});
    v.addEventListener('error', () => bad(new Error('media error ' + (v.error && v.error.code))),
                       {once: true});
    setTimeout(() => bad(new Error('timed out waiting for ' + event)), 15000);
  });
  await wait('loadedmetadata');
  await v.play();
  await new Promise(r => setTimeout(r, 400));
  const played = v.currentTime;
  v.currentTime = target;
  await wait('seeked');
  return {duration: v.duration, played, after: v.currentTime, error: v.error && v.error.code};
}
"""
