"""ffmpeg run bounded: no shell, file and pipe protocols only, wall-clock, CPU and memory limits,
its own process group (killed whole, at once), progress read from `-progress pipe:1`."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import selectors
import shutil
import signal
import subprocess  # nosec B404  # argv lists built here; never a shell
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from core.base.errors import PermanentError
from core.base.settings import Settings

log = logging.getLogger(__name__)

PROTOCOLS = "file,pipe"
_TAIL = 2000  # bytes of ffmpeg's stderr kept for the error message


class MediaError(PermanentError):
    """ffmpeg could not read or convert a file, or it outran its limits."""


class Stopped(Exception):  # a request, not a failure
    """`should_stop` said so: ffmpeg was killed; the work may run again elsewhere."""


@dataclass(frozen=True)
class Limits:
    """What one ffmpeg run may take: seconds of wall clock, seconds of CPU, bytes of memory."""

    time_s: float
    cpu_s: int
    memory_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """MEDIA_TIME_LIMIT_S, MEDIA_CPU_LIMIT_S and MEDIA_MEMORY_MB."""
        return cls(
            settings.media_time_limit_s,
            settings.media_cpu_limit_s,
            settings.media_memory_mb * 1024 * 1024,
        )


def ffmpeg_path() -> str:
    """ffmpeg from PATH, else the one in the imageio-ffmpeg wheel; MediaError if neither."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        raise MediaError("No ffmpeg: install it, or the imageio-ffmpeg wheel.") from None


def _bounded(limits: Limits) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        _die_with_parent()
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        # SIGXCPU at the soft limit, SIGKILL a few seconds later should it be ignored.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL ffmpeg when the worker process that started it dies (a crash, a hard time
    limit), since its own process group keeps it out of reach of the pool's kill."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the wall-clock and CPU limits still end it


Progress = Callable[[float], None]  # seconds of output written so far
StopCheck = Callable[[], bool]


def command(inputs: list[str], outputs: list[str]) -> list[str]:
    """The argv: input options (the protocol whitelist first), then output options."""
    return [
        ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
        "-protocol_whitelist", PROTOCOLS, *inputs, "-progress", "pipe:1", *outputs,
    ]  # fmt: skip


def run(
    argv: list[str],
    limits: Limits,
    on_progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> None:
    """Run ffmpeg `argv` to its end within `limits`; MediaError if it fails or outruns them.

    However this ends (an error, a stop, SystemExit from a revoke), the process group is
    killed with SIGKILL before it returns: nothing ffmpeg started outlives the call."""
    process = subprocess.Popen(  # nosec B603  # argv from command(): no shell, no user text
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_bounded(limits),  # setrlimit must run in the child
        start_new_session=True,
        close_fds=True,
    )
    try:
        tail = _pump(process, limits, on_progress, should_stop)
        code, cpu_s = _reap(process)
    finally:
        _kill(process)
    if code != 0:
        raise MediaError(_reason(code, tail, cpu_s >= limits.cpu_s))


def _pump(
    process: subprocess.Popen[bytes],
    limits: Limits,
    on_progress: Progress | None,
    should_stop: StopCheck | None,
) -> bytes:
    """Read progress and errors until ffmpeg closes both; MediaError past the wall limit."""
    deadline = time.monotonic() + limits.time_s
    selector = selectors.DefaultSelector()
    if process.stdout is None or process.stderr is None:  # Popen was given PIPE for both
        raise MediaError("ffmpeg's output pipes are missing.")
    selector.register(process.stdout, selectors.EVENT_READ)
    selector.register(process.stderr, selectors.EVENT_READ)
    tail, pending = b"", b""
    open_streams = 2
    while open_streams:
        if time.monotonic() > deadline:
            raise MediaError(f"ffmpeg ran longer than its time limit ({limits.time_s:g} s).")
        if should_stop is not None and should_stop():
            raise Stopped()
        for key, _ in selector.select(timeout=0.5):
            stream: IO[bytes] = key.fileobj  # type: ignore[assignment]
            data = os.read(stream.fileno(), 65536)
            if not data:
                selector.unregister(stream)
                open_streams -= 1
            elif stream is process.stderr:
                tail = (tail + data)[-_TAIL:]
            else:
                pending = _progress_lines(pending + data, on_progress)
    selector.close()
    return tail


def _progress_lines(data: bytes, on_progress: Progress | None) -> bytes:
    """Hand each complete `out_time_us=` line's seconds to `on_progress`; keep the rest."""
    *lines, rest = data.split(b"\n")
    for line in lines:
        key, _, value = line.partition(b"=")
        if key.strip() == b"out_time_us" and on_progress is not None:
            try:
                on_progress(max(0, int(value.strip())) / 1_000_000)
            except ValueError:
                continue  # "N/A" before the first frame
    return rest


def _reap(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    """Wait for ffmpeg; its exit status and the CPU seconds it used (ffmpeg turns SIGXCPU
    into an ordinary error exit, so the status alone does not tell a CPU limit apart)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.returncode is None:  # once reaped, its pid (and group id) may be someone else's
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _reason(code: int, tail: bytes, out_of_cpu: bool) -> str:
    if out_of_cpu or code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "ffmpeg used more CPU time than its limit (MEDIA_CPU_LIMIT_S) and was killed."
    if code < 0:
        return f"ffmpeg was killed by signal {-code}."
    last = tail.decode("utf-8", "replace").strip().splitlines()
    message = last[-1] if last else f"exit status {code}"
    return f"ffmpeg could not convert this file: {message}"[:500]
