"""Forcing an interleaving: a competing writer run once, just before the victim's statement."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from sqlalchemy import event

from core.base.db import Database


@contextmanager
def just_before(db: Database, prefix: str, competitor: Callable[[], object]) -> Iterator[list[str]]:
    """Run `competitor` (which commits on connections of its own) once, right before the first
    statement starting with `prefix` (e.g. "UPDATE downloads") is sent to the database: between
    whatever the victim read and its write. Yields the statements it fired before (one), so a
    test can check the interleaving really happened."""
    fired: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not fired and statement.lstrip().upper().startswith(prefix.upper()):
            fired.append(statement)
            competitor()

    event.listen(db.engine, "before_cursor_execute", hook)
    try:
        yield fired
    finally:
        event.remove(db.engine, "before_cursor_execute", hook)


@contextmanager
def broadcasts(client: redis.Redis) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The Celery control broadcasts (revoke...) published while inside, decoded: Redis pub/sub
    on the pidbox fanout, as a worker receives them."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("*celery.pidbox*")
    pubsub.get_message(timeout=1.0)  # the subscription is in place before anything is sent

    def received() -> list[dict[str, Any]]:
        """What was published so far (a broadcast sent before this call is waited for)."""
        out = []
        wait = 5.0
        while (message := pubsub.get_message(timeout=wait)) is not None:
            wait = 0.0
            envelope = json.loads(message["data"])
            body = envelope["body"]
            if envelope.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            out.append(json.loads(body))
        return out

    try:
        yield received
    finally:
        pubsub.close()
