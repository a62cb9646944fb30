"""A finished download is fsynced before its rename, and its folder after (seen with strace)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT

SCRIPT = """
import sys
from pathlib import Path
from core.downloads.run import durable_replace
work, final = Path(sys.argv[1]), Path(sys.argv[2])
print("START", flush=True)
durable_replace(work, final)
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_bytes_then_rename_then_folder_reach_the_disk(tmp_path):
    work = tmp_path / "partial" / "data.mp4"
    work.parent.mkdir()
    work.write_bytes(b"x" * 4096)
    final = tmp_path / "downloads" / "aula-1.mp4"
    final.parent.mkdir()
    trace = tmp_path / "trace.txt"
    subprocess.run(
        ["strace", "-f", "-o", str(trace), "-e", "trace=openat,fsync,rename,renameat,renameat2",
         sys.executable, "-c", SCRIPT, str(work), str(final)],
        cwd=ROOT, check=True, timeout=60,
    )  # fmt: skip
    calls = trace.read_text().splitlines()
    files: dict[str, str] = {}  # fd -> path, as the process opens (and reuses) descriptors
    events = []
    for line in calls:
        if m := re.search(r'openat\(AT_FDCWD, "([^"]+)", [^)]*\) = (\d+)', line):
            files[m.group(2)] = m.group(1)
        elif m := re.search(r"fsync\((\d+)\)", line):
            events.append(("fsync", files.get(m.group(1))))
        elif "rename" in line and str(final) in line:
            events.append(("rename", str(final)))
    assert events == [("fsync", str(work)), ("rename", str(final)), ("fsync", str(final.parent))]
    assert final.read_bytes() == b"x" * 4096 and not work.exists()
