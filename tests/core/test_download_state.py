"""The download state machine on a real database: every transition from every state, each one
guarded UPDATE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from core.base.db import Database
from core.base.errors import Conflict
from core.base.models import Download
from core.downloads import state
from core.downloads.state import DownloadState, IllegalTransition

ALL = ("queued", "running", "succeeded", "failed", "canceled", "pruned")
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
    "prune": {"succeeded"},
}
CALLS: dict[str, Any] = {
    "begin": lambda s, i: state.begin(s, i, "task-1"),
    "succeed": lambda s, i: state.succeed(s, i, file_path="a-1.mp4", size=5, sha256="ab"),
    "fail": lambda s, i: state.fail(s, i, "boom"),
    "requeue": lambda s, i: state.requeue(s, i, "later"),
    "release": state.release,
    "cancel": state.cancel,
    "retry": lambda s, i: state.retry(s, i, "key"),
    "resend": lambda s, i: state.resend(s, i, s.get_one(Download, i).updated_at),
    "prune": state.prune,
}
RAISING = {"cancel", "retry"}  # the user's requests: refused with a 409; the rest answer None


def test_the_states_are_the_stored_strings() -> None:
    assert [s.value for s in DownloadState] == list(ALL)
    assert state.STATES == ALL
    assert DownloadState.QUEUED == "queued" and f"{DownloadState.FAILED}" == "failed"
    assert {"queued", "running"} == state.ACTIVE
    assert {"queued", "running", "succeeded"} == state.DEDUPED


def _row(db: Database, at: str, **fields: Any) -> int:
    values: dict[str, Any] = {"url": "https://example.org/v", "kind": "ytdlp"}
    values |= {"deliveries": 0, "attempts": 0, "dedupe_key": f"key-{at}", "task_id": None}
    with db.session() as session:
        row = Download(state=at, **(values | fields))
        session.add(row)
        session.flush()
        return int(row.id)


def _read(db: Database, download_id: int) -> Download:
    with db.session() as session:
        return session.get_one(Download, download_id)


def _apply(db: Database, name: str, download_id: int, *args: Any, **kwargs: Any) -> Any:
    with db.session() as session:
        return getattr(state, name)(session, download_id, *args, **kwargs)


@pytest.mark.parametrize("transition", sorted(EXPECTED))
@pytest.mark.parametrize("at", ALL)
def test_each_transition_leaves_only_from_its_states(
    db: Database, transition: str, at: str
) -> None:
    download_id = _row(db, at)
    assert state.legal(_read(db, download_id), transition) is (at in EXPECTED[transition])
    with db.session() as session:
        if at in EXPECTED[transition]:
            assert CALLS[transition](session, download_id) is not None
        elif transition in RAISING:
            with pytest.raises(IllegalTransition) as refused:
                CALLS[transition](session, download_id)
            assert isinstance(refused.value, Conflict) and refused.value.status == 409
        else:
            assert CALLS[transition](session, download_id) is None
    if at not in EXPECTED[transition]:
        assert _read(db, download_id).state == at, "a refused transition changes nothing"


def test_nothing_is_legal_for_a_missing_download() -> None:
    assert not any(state.legal(None, t) for t in EXPECTED)


def test_refusals_say_why_in_the_words_the_api_answers_with(db: Database) -> None:
    with pytest.raises(IllegalTransition, match=r"^The download already ended \(failed\)\.$"):
        _apply(db, "cancel", _row(db, "failed"))
    with pytest.raises(IllegalTransition, match=r"can be retried \(running\)\.$"):
        _apply(db, "retry", _row(db, "running"), "key")
    with pytest.raises(IllegalTransition, match="A canceled download cannot release"):
        _apply(db, "take_or_refuse", _row(db, "canceled"), "release", {"state": "queued"})


def test_create_is_queued() -> None:
    assert state.create(url="https://example.org/v", kind="ytdlp").state == "queued"


def test_begin_counts_deliveries_and_gives_up_after_the_limit(db: Database) -> None:
    download_id = _row(db, "queued", task_id="old")
    for n in range(1, state.MAX_DELIVERIES + 1):
        _apply(db, "begin", download_id, None if n > 1 else "task-1")
        download = _read(db, download_id)
        assert (download.state, download.deliveries, download.attempts) == ("running", n, n)
        assert download.task_id == "task-1" and download.started_at is not None
    assert _apply(db, "begin", download_id, "task-2").state == "failed"
    download = _read(db, download_id)
    assert download.state == "failed" and download.dedupe_key is None
    assert download.deliveries == state.MAX_DELIVERIES + 1, "the count that gave up stays"
    assert download.error is not None and "stopped 3 times" in download.error
    assert download.finished_at is not None


def test_succeed_records_the_file_and_full_progress(db: Database) -> None:
    download_id = _row(db, "running", deliveries=2, error="Will retry: x")
    _apply(db, "succeed", download_id, file_path="v-7.mp4", size=10, sha256="cd")
    download = _read(db, download_id)
    assert (download.state, download.deliveries, download.error) == ("succeeded", 0, None)
    assert (download.file_path, download.file_size, download.sha256) == ("v-7.mp4", 10, "cd")
    assert download.progress == {
        "downloaded_bytes": 10,
        "total_bytes": 10,
        "percent": 100.0,
        "speed_bps": None,
        "eta_s": 0,
    }
    assert isinstance(download.finished_at, datetime)


def test_fail_ends_and_gives_up_the_key_requeue_keeps_it(db: Database) -> None:
    failed = _row(db, "running", deliveries=2, dedupe_key="k1")
    waiting = _row(db, "running", deliveries=2, dedupe_key="k2")
    _apply(db, "fail", failed, "boom")
    _apply(db, "requeue", waiting, "flaky")
    one, two = _read(db, failed), _read(db, waiting)
    assert (one.state, one.error, one.dedupe_key, one.deliveries) == ("failed", "boom", None, 0)
    assert (two.state, two.error, two.dedupe_key, two.deliveries) == (
        "queued",
        "Will retry: flaky",
        "k2",
        0,
    )
    assert two.finished_at is None


def test_release_uncounts_the_delivery_never_below_zero(db: Database) -> None:
    twice = _row(db, "running", deliveries=2, dedupe_key="k1")
    fresh = _row(db, "running", deliveries=0, dedupe_key="k2")
    _apply(db, "release", twice)
    _apply(db, "release", fresh)
    assert (_read(db, twice).state, _read(db, twice).deliveries) == ("queued", 1)
    assert _read(db, fresh).deliveries == 0


def test_cancel_then_retry_then_resend(db: Database) -> None:
    download_id = _row(db, "running", task_id="t1", deliveries=1)
    _apply(db, "cancel", download_id)
    download = _read(db, download_id)
    assert (download.state, download.dedupe_key, download.error) == (
        "canceled",
        None,
        "Canceled by request.",
    )
    _apply(db, "retry", download_id, "key2")
    download = _read(db, download_id)
    assert (download.state, download.dedupe_key, download.error, download.task_id) == (
        "queued",
        "key2",
        None,
        None,
    )
    assert download.deliveries == 0 and download.finished_at is None
    assert _apply(db, "resend", download_id, download.updated_at) is not None
    assert _read(db, download_id).state == "queued"
    stale = download.updated_at
    assert _apply(db, "resend", download_id, stale) is None, "a second sender loses the claim"
