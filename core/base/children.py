"""This process's children (ffmpeg under yt-dlp): ended when the work that started them ends."""

from __future__ import annotations

import psutil


def kill_children(grace_s: float = 3.0) -> None:
    """Terminate, then kill, every child process of this one (ffmpeg started by yt-dlp)."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            continue
    _gone, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            continue
