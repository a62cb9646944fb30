"""The pool of private Redis databases: each database has one holder at a time."""

from __future__ import annotations

import pytest

from tests.redis_dbs import RedisDatabases


def test_databases_are_handed_out_once_and_come_back_after_the_test() -> None:
    pool = RedisDatabases(count=4)
    kept = pool.take()  # a module fixture's, taken before the test's mark
    mark = pool.mark()
    taken = {pool.take(), pool.take()}
    assert kept == 1 and taken == {2, 3}
    with pytest.raises(RuntimeError, match="all 3 private Redis databases are taken"):
        pool.take()
    pool.give_back_since(mark)
    assert {pool.take(), pool.take()} == {2, 3}  # database 0 is never handed out, 1 stays kept


def test_a_number_named_by_hand_is_taken_only_when_free() -> None:
    pool = RedisDatabases(count=4)
    assert pool.take(2) == 2
    with pytest.raises(RuntimeError, match="already taken"):
        pool.take(2)
    with pytest.raises(RuntimeError, match="out of range"):
        pool.take(64)
    assert {pool.take(), pool.take()} == {1, 3}
