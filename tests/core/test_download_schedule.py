"""The download schedule's parts: windows (local time), rates, the settings that give defaults,
the cluster-wide semaphore on a real Redis, and the token bucket."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.base.errors import ConfigurationError, ValidationFailed
from core.base.schedule_values import check_windows, in_windows, parse_window, rate
from core.base.semaphore import Semaphore
from core.base.settings import load_settings
from core.downloads import schedule
from core.downloads.throttle import TokenBucket, limited
from tests.helpers import wait_for


def local(hour: int, minute: int = 0) -> datetime:
    """An aware time whose local (TZ) clock reads hour:minute."""
    return datetime(2026, 12, 5, hour, minute).astimezone()


@pytest.mark.parametrize(
    "bad", ["25:00-26:00", "24:00-01:00", "01:60-02:00", "1:00-7:00", "01:00", "", "07:00-07:00",
            "01:00-07:00x", "０1:00-07:00"],
)  # fmt: skip
def test_bad_windows_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError):
        parse_window(bad)


def test_a_window_over_midnight_is_valid_and_holds_the_night():
    assert check_windows(["07:00-01:00"]) == ["07:00-01:00"]  # 07:00 to 01:00 the next day
    assert in_windows(["07:00-01:00"], local(23, 59)) and in_windows(["07:00-01:00"], local(0, 30))
    assert not in_windows(["07:00-01:00"], local(3)) and not in_windows(["07:00-01:00"], local(1))
    assert in_windows(["22:00-06:00"], local(5, 59)) and not in_windows(["22:00-06:00"], local(6))


def test_windows_use_local_time_with_the_end_excluded_and_any_time_when_empty():
    assert in_windows([], local(12))
    assert in_windows(["01:00-07:00"], local(1)) and not in_windows(["01:00-07:00"], local(7))
    assert in_windows(["01:00-02:00", "12:00-13:00"], local(12, 30))


def test_rates_are_positive_or_none():
    assert rate("") is None and rate(None) is None and rate("0") is None
    assert rate("1048576") == 1048576
    for bad in ("-1", "fast", True):
        with pytest.raises(ValueError):
            rate(bad)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DOWNLOAD_WINDOWS", "25:00-26:00"), ("DOWNLOAD_RATE_LIMIT", "-5"),
     ("DOWNLOAD_CONCURRENCY", "0"), ("DOWNLOAD_TEMPLATE", "../{id}")],
)  # fmt: skip
def test_a_bad_schedule_setting_stops_the_process_naming_it(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings()


def test_defaults_come_from_the_settings_until_changed_then_everyone_reads_the_row(settings, db):
    configured = settings.model_copy(
        update={"download_windows": ["01:00-07:00"], "download_rate_limit": 5000}
    )
    first = schedule.current(db, configured)
    assert first == schedule.Schedule(False, ["01:00-07:00"], 5000, 2)
    before, after = schedule.update(db, configured, {"paused": True, "rate_limit_bps": None})
    assert before == first and after == schedule.Schedule(True, ["01:00-07:00"], None, 2)
    assert schedule.current(db, settings) == after  # another process, other defaults: the row
    with pytest.raises(ValidationFailed):
        schedule.update(db, settings, {"windows": ["25:00-26:00"]})
    with pytest.raises(ValidationFailed):
        schedule.update(db, settings, {"rate_limit_bps": -1})
    assert schedule.current(db, settings) == after


def test_the_gate_names_why_a_download_waits():
    night = schedule.Schedule(False, ["01:00-07:00"], None, 2)
    assert night.gate(local(3)) is None
    assert night.gate(local(12)) == schedule.WaitingReason.OUTSIDE_WINDOW
    paused = schedule.Schedule(True, [], None, 2)
    assert paused.gate(local(12)) == schedule.WaitingReason.PAUSED


def test_the_semaphore_admits_up_to_its_limit_and_frees_a_dead_holders_slot(redis_client):
    redis_client.delete("test:slots")
    slots = Semaphore(redis_client, "test:slots", lease_s=60)
    assert slots.acquire("a", 2) and slots.acquire("b", 2)
    assert not slots.acquire("c", 2) and slots.count() == 2
    assert slots.acquire("a", 2), "a holder renews its own slot"
    slots.release("a")
    assert slots.acquire("c", 2) and not slots.acquire("a", 2)
    short = Semaphore(redis_client, "test:slots:short", lease_s=0.2)
    assert short.acquire("dead", 1) and not short.acquire("next", 1)
    assert wait_for(lambda: short.acquire("next", 1), 5, interval=0.05, what="the lease ran out")
    redis_client.delete("test:slots", "test:slots:short")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_token_bucket_makes_n_bytes_take_n_over_rate_seconds():
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=200, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        bucket.take(300)
    assert clock.now == pytest.approx(3.0)
    clock.now += 100  # idle: the burst it may bank is bounded
    bucket.take(1000)
    assert clock.now == pytest.approx(103.8), "200 banked, 800 waited for"


def test_limited_progress_waits_for_the_bytes_between_calls_and_passes_the_answer_on():
    seen = []
    capped = limited(lambda *args: seen.append(args) or False, None)
    assert capped(5, None, None, None) is False and seen
    assert limited(print, None) is print
