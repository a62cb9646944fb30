"""deploy/k8s played by podman (issue 29): `podman kube play` of overlays/podman runs web, worker,
beat and Redis on the stand-in images until a catalog rebuild enqueued through web's API reads
SUCCESS (deploy/k8s/podman-play.sh; README, Scaling out).

`make kube-play-test` runs it (installing podman and building the images first); `make test`
leaves it out: about a minute with the images built, a few more to build them. Without podman or
the images it skips with one line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.media import make_video

WAIT_S = 240  # each of the script's waits (migrate, web ready, the task): its own bound
pytestmark = pytest.mark.timeout(4 * WAIT_S)


def test_the_pods_run_a_task_to_success(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    make_video(media / "lesson one é.mp4", seconds=2)
    done = subprocess.run(
        [str(ROOT / "deploy/k8s/podman-play.sh"), str(media)],
        capture_output=True, text=True, timeout=3.5 * WAIT_S,
        env={**os.environ, "PYTHON": sys.executable, "KUBE_PLAY_TIMEOUT_S": str(WAIT_S)},
    )  # fmt: skip
    if done.returncode == 3:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^kube-play: task \S+ SUCCESS$", done.stdout, re.MULTILINE), done.stdout
    assert "kube-play: catalog items: ['lesson one é.mp4']" in done.stdout
    assert '"status":"ready"' in done.stdout
