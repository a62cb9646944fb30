"""Live Drive browsing holds at most DRIVE_LIVE_CONCURRENCY slots per web process."""

from __future__ import annotations

import threading
from typing import Any

from tests.api.conftest import MakeApp
from tests.helpers import wait_for


def test_live_listings_wait_for_a_free_slot(make_app: MakeApp, drive: Any) -> None:
    # One slot (the default is 4) so that two listings are enough to show the wait.
    app = make_app(drive_live_concurrency=1)
    first, second = drive.add_folder("Primeira"), drive.add_folder("Segunda")
    drive.fail_next(1, "slow", match=first)  # the first listing's first Drive call is slow
    drive.slow_s = 2.0
    answers: dict[str, int] = {}

    def browse(folder: str) -> None:
        answers[folder] = app.test_client().get(f"/api/drive/files?folder_id={folder}").status_code

    one = threading.Thread(target=browse, args=(first,))
    one.start()
    wait_for(lambda: not drive.wait_idle(0), 10, what="the first listing to reach Drive")
    two = threading.Thread(target=browse, args=(second,))
    two.start()
    one.join(30)
    two.join(30)

    assert answers == {first: 200, second: 200}
    calls = [r for r in drive.requests if r.path.startswith("/drive/")]
    order = [(first if first in (r.path + str(r.query)) else second) for r in calls]
    # Without the cap the second listing would have asked Drive while the first one slept.
    assert order == sorted(order, key=lambda folder: folder != first), order
