"""The download state machine, without a database: every transition from every state."""

from __future__ import annotations

from typing import Any

import pytest

from core.base.errors import Conflict
from core.base.models import Download
from core.downloads import state
from core.downloads.state import DownloadState, IllegalTransition

ALL = ("queued", "running", "succeeded", "failed", "canceled")
# Written out by hand (not read from state.SOURCES), so that a changed table fails here.
EXPECTED = {
    "begin": {"queued", "running", "succeeded"},
    "succeed": {"queued", "running", "succeeded", "failed"},
    "fail": {"queued", "running", "succeeded", "failed"},
    "requeue": {"queued", "running", "succeeded", "failed"},
    "release": {"running"},
    "cancel": {"queued", "running"},
    "retry": {"failed", "canceled"},
    "resend": {"queued", "running"},
}
CALLS: dict[str, Any] = {
    "begin": lambda d: state.begin(d, "task-1"),
    "succeed": lambda d: state.succeed(d, file_path="a-1.mp4", size=5, sha256="ab"),
    "fail": lambda d: state.fail(d, "boom"),
    "requeue": lambda d: state.requeue(d, "later"),
    "release": state.release,
    "cancel": state.cancel,
    "retry": lambda d: state.retry(d, "key"),
    "resend": state.resend,
}


def _row(at: str, **fields: Any) -> Download:
    values: dict[str, Any] = {"id": 7, "url": "https://example.org/v", "kind": "ytdlp"}
    values |= {"deliveries": 0, "attempts": 0, "dedupe_key": "key", "task_id": None}
    return Download(state=at, **(values | fields))


def test_the_states_are_the_stored_strings() -> None:
    assert [s.value for s in DownloadState] == list(ALL)
    assert state.STATES == ALL
    assert DownloadState.QUEUED == "queued" and f"{DownloadState.FAILED}" == "failed"
    assert {"queued", "running"} == state.ACTIVE
    assert {"queued", "running", "succeeded"} == state.DEDUPED


@pytest.mark.parametrize("transition", sorted(EXPECTED))
@pytest.mark.parametrize("at", ALL)
def test_each_transition_leaves_only_from_its_states(transition: str, at: str) -> None:
    download = _row(at)
    assert state.legal(download, transition) is (at in EXPECTED[transition])
    if at in EXPECTED[transition]:
        CALLS[transition](download)
    else:
        with pytest.raises(IllegalTransition) as refused:
            CALLS[transition](download)
        assert isinstance(refused.value, Conflict) and refused.value.status == 409
        assert download.state == at, "a refused transition changes nothing"


def test_nothing_is_legal_for_a_missing_download() -> None:
    assert not any(state.legal(None, t) for t in EXPECTED)


def test_refusals_say_why_in_the_words_the_api_answers_with() -> None:
    with pytest.raises(IllegalTransition, match=r"^The download already ended \(failed\)\.$"):
        state.cancel(_row("failed"))
    with pytest.raises(IllegalTransition, match=r"can be retried \(running\)\.$"):
        state.retry(_row("running"), "key")
    with pytest.raises(IllegalTransition, match="A canceled download cannot release"):
        state.release(_row("canceled"))


def test_create_is_queued() -> None:
    assert state.create(url="https://example.org/v", kind="ytdlp").state == "queued"


def test_begin_counts_deliveries_and_gives_up_after_the_limit() -> None:
    download = _row("queued", task_id="old")
    for n in range(1, state.MAX_DELIVERIES + 1):
        assert state.begin(download, None if n > 1 else "task-1") is True
        assert (download.state, download.deliveries, download.attempts) == ("running", n, n)
        assert download.task_id == "task-1" and download.started_at is not None
    assert state.begin(download, "task-2") is False
    assert download.state == "failed" and download.dedupe_key is None
    assert download.deliveries == state.MAX_DELIVERIES + 1, "the count that gave up stays"
    assert download.error is not None and "stopped 3 times" in download.error
    assert download.finished_at is not None


def test_succeed_records_the_file_and_full_progress() -> None:
    download = _row("running", deliveries=2, error="Will retry: x")
    state.succeed(download, file_path="v-7.mp4", size=10, sha256="cd")
    assert (download.state, download.deliveries, download.error) == ("succeeded", 0, None)
    assert (download.file_path, download.file_size, download.sha256) == ("v-7.mp4", 10, "cd")
    assert download.progress == {
        "downloaded_bytes": 10,
        "total_bytes": 10,
        "percent": 100.0,
        "speed_bps": None,
        "eta_s": 0,
    }
    assert download.finished_at is not None


def test_fail_ends_and_gives_up_the_key_requeue_keeps_it() -> None:
    failed, waiting = _row("running", deliveries=2), _row("running", deliveries=2)
    state.fail(failed, "boom")
    state.requeue(waiting, "flaky")
    assert (failed.state, failed.error, failed.dedupe_key, failed.deliveries) == (
        "failed",
        "boom",
        None,
        0,
    )
    assert (waiting.state, waiting.error, waiting.dedupe_key, waiting.deliveries) == (
        "queued",
        "Will retry: flaky",
        "key",
        0,
    )
    assert waiting.finished_at is None


def test_release_uncounts_the_delivery_never_below_zero() -> None:
    twice, fresh = _row("running", deliveries=2), _row("running", deliveries=0)
    state.release(twice)
    state.release(fresh)
    assert (twice.state, twice.deliveries, fresh.deliveries) == ("queued", 1, 0)


def test_cancel_then_retry_then_resend() -> None:
    download = _row("running", task_id="t1", deliveries=1)
    state.cancel(download)
    assert (download.state, download.dedupe_key, download.error) == (
        "canceled",
        None,
        "Canceled by request.",
    )
    state.retry(download, "key2")
    assert (download.state, download.dedupe_key, download.error, download.task_id) == (
        "queued",
        "key2",
        None,
        None,
    )
    assert download.deliveries == 0 and download.finished_at is None
    state.resend(download)
    assert download.state == "queued"
