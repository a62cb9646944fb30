"""Download windows ("01:00-07:00", local time) and rates: parsed, checked, and asked about."""

from __future__ import annotations

import re
from datetime import datetime

_WINDOW = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$")
MINUTES_PER_DAY = 24 * 60


def parse_window(text: str) -> tuple[int, int]:
    """(start, end) in minutes after midnight of "HH:MM-HH:MM"; ValueError naming what is wrong.

    A window whose end comes before its start runs over midnight ("22:00-06:00"); one whose start
    and end are equal is refused (all day is the empty list of windows)."""
    match = _WINDOW.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a window like 01:00-07:00 (HH:MM-HH:MM, 24-hour)")
    hours_a, minutes_a, hours_b, minutes_b = (int(part) for part in match.groups())
    for hours, minutes in ((hours_a, minutes_a), (hours_b, minutes_b)):
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text!r}: {hours:02d}:{minutes:02d} is not a time of day")
    start, end = hours_a * 60 + minutes_a, hours_b * 60 + minutes_b
    if start == end:
        raise ValueError(f"{text!r} starts where it ends (an empty list means any time)")
    return start, end


def check_windows(windows: list[str]) -> list[str]:
    """The windows, normalized ("1:00" is refused: two digits each), or ValueError."""
    return [text.strip() for text in windows if parse_window(text)]


def in_windows(windows: list[str], now: datetime) -> bool:
    """True if the local time of `now` (TZ) lies in one of `windows`; any time when empty."""
    if not windows:
        return True
    local = now.astimezone() if now.tzinfo else now
    minute = local.hour * 60 + local.minute
    for text in windows:
        start, end = parse_window(text)
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if inside:
            return True
    return False


def rate(value: object) -> int | None:
    """A rate in bytes per second: a positive whole number, or None (empty, "none", "0")."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if isinstance(value, bool):
        raise ValueError("is a number of bytes per second, not a boolean")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError("is a whole number of bytes per second (empty for no limit)") from None
    if number < 0:
        raise ValueError("must not be negative (empty for no limit)")
    return number or None
