"""Test-only tasks, registered when ENABLE_TEST_TASKS is set (never in production)."""

from __future__ import annotations

import time
from pathlib import Path

from tasks.app import AulaTask, app


@app.task(name="testing.sleep", bind=True)
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
