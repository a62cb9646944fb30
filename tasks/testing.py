"""Test-only tasks, registered when ENABLE_TEST_TASKS is set (never in production)."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404  # runs the fixed ffmpeg command below, test tasks only
import time
from pathlib import Path

from core.jobs.taskdefs import TestTaskName
from tasks.app import AulaTask, app


@app.task(name=TestTaskName.SLEEP, bind=True)
def sleep(
    self: AulaTask, seconds: float = 1.0, steps: int = 10, marker: str = ""
) -> dict[str, int]:
    """Sleep in `steps` steps reporting progress; append a line to `marker` at each start."""
    runs = 0
    if marker:
        with Path(marker).open("a") as handle:
            handle.write(f"{self.request.id}\n")
        runs = len(Path(marker).read_text().splitlines())
    for step in range(steps):
        time.sleep(seconds / steps)
        self.progress(step + 1, steps, f"step {step + 1} of {steps}")
    return {"steps": steps, "runs": runs}


@app.task(name=TestTaskName.FFMPEG, bind=True)
def ffmpeg(self: AulaTask, marker: str, seconds: float = 60.0) -> dict[str, int]:
    """Run an endless ffmpeg, a child of the pool process as under yt-dlp; its pid in `marker`."""
    from core.downloads.ytdlp import ffmpeg_path

    command = [ffmpeg_path() or "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
               "-i", "testsrc=size=64x64:rate=5", "-f", "null", "-"]  # fmt: skip
    child = subprocess.Popen(command)  # nosec B603  # a fixed argv: no shell, no user input
    Path(marker).write_text(str(child.pid))
    ticks = int(seconds / 0.2)
    for tick in range(ticks):
        if child.poll() is not None:
            break
        time.sleep(0.2)
        self.progress(tick + 1, ticks, "ffmpeg running")
    child.kill()
    return {"pid": child.pid}


@app.task(name=TestTaskName.KILL_WORKER, bind=True)
def kill_worker(self: AulaTask, marker: str) -> None:
    """SIGKILL this task's whole worker, as a crash would: its main process, then this pool
    process; append a line to `marker` first. It never returns."""
    with Path(marker).open("a") as handle:
        handle.write(f"{self.request.id}\n")
    os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
