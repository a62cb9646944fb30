"""Redaction runs in linear time and bounds its output, whatever text it is given."""

from __future__ import annotations

import subprocess
import sys

from core.base.logging import MAX_REDACTED_CHARS, REDACTED, TRUNCATED, redact, register_secret
from tests.helpers import ROOT

# Each input is 100 kB of what makes a backtracking pattern blow up: runs of backslashes inside
# a quoted secret, quotes, key= after key=, header names with nothing after them.
_ADVERSARIAL = r"""
N = 100_000
INPUTS = [
    '"token":"' + "\\" * N,
    "'token':'" + "\\" * N,
    ('"token":"' + "\\" * 7 + '"') * (N // 17),
    '"client_secret": "' + '\\"' * (N // 2),
    "'\"" * (N // 2),
    "?token=" * (N // 7),
    "key=" * (N // 4),
    "&sig=&code=" * (N // 11),
    "cookie:" * (N // 7),
    "Cookie: '" * (N // 9),
    'Authorization: "' * (N // 16),
    "cookie" + " " * N,
    "bearer " * (N // 7),
    "Basic " + "\t" * N,
    '"token": ' * (N // 9),
    '"secret":"\\' * (N // 11),
    "authorization " * (N // 14),
    "/%22token%22:%22" + "%5C" * N,
]
"""

_SCRIPT = (
    _ADVERSARIAL
    + r"""
from core.base import logging as aula_logging
for text in INPUTS:
    assert len(text) >= 99_000, len(text)
    aula_logging.redact(text)
    for pattern, replacement, _needles in aula_logging.PATTERNS:
        pattern.sub(replacement, text)  # uncapped: the pattern itself must be linear
print("done", len(INPUTS))
"""
)


def test_every_pattern_is_linear_on_100_kb_of_adversarial_input() -> None:
    # Linear, all of this takes well under a second; one backtracking pattern takes hours (a run
    # of 40 backslashes alone cost a minute). The timeout only bounds the wait on a loaded machine.
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "done 18"


def test_redacted_text_is_cut_to_a_bounded_length() -> None:
    register_secret("aaa-like-a-prefix-of-the-text")  # shares only "aaa" with the cut: kept
    cleaned = redact("a" * 100_000)

    assert len(cleaned) == MAX_REDACTED_CHARS + len(TRUNCATED)
    assert cleaned == "a" * MAX_REDACTED_CHARS + TRUNCATED


def test_a_known_secret_cut_in_two_by_the_cap_is_still_removed() -> None:
    secret = "cut-in-two-secret-value-31337"
    register_secret(secret)
    text = "x" * (MAX_REDACTED_CHARS - 10) + secret + " trailing"

    cleaned = redact(text)

    assert secret[:10] not in cleaned
    assert cleaned.endswith(REDACTED + TRUNCATED)


def test_a_secret_cut_by_the_cap_inside_a_query_is_still_removed() -> None:
    text = "y" * (MAX_REDACTED_CHARS - 20) + "?access_token=partial-query-token-value"

    cleaned = redact(text)

    assert "partial-qu" not in cleaned
    assert REDACTED in cleaned


def test_unclosed_and_escaped_secret_strings_are_redacted_to_their_end() -> None:
    assert "hidden" not in redact('{"token": "abc\\\\\\"hidden')
    assert "hidden" not in redact("{'Cookie': 'SID=hidden")
    assert redact('{"token": "a\\\\"}, "next": 1') == f'{{"token": "{REDACTED}"}}, "next": 1'
