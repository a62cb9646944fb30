"""Whether a pooled PostgreSQL connection is still alive, asked at checkout without a round trip.

SQLAlchemy's `pool_pre_ping` sends a statement at every checkout and waits for its answer: a
round trip before every use, one of two in a progress save and one of three in a course page.
Here the question is put to the kernel instead. A connection resting in the pool owes nothing
and is owed nothing, so its socket has nothing to read. When the server ends it (a restart,
`pg_terminate_backend`, idle_session_timeout), the server sends its FATAL message and closes:
the socket becomes readable. So: readable at checkout means gone; the pool drops it, and every
connection older than it (they were most likely ended by the same restart), and hands out a
fresh one. The false alarm (something asynchronous sent to a resting connection: Aula never
LISTENs) costs a reconnection, never a failed request.

What the kernel cannot see is a peer that vanished without a word (a host cut off, a
middlebox that forgot the connection). A connection rested longer than `PING_AFTER_IDLE_S` is
therefore pinged the old way first; under load none rests that long, so the ping is never paid.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import Engine, event, exc

PING_AFTER_IDLE_S = 30.0
_RESTED = "aula_checked_in_at"


def watch(engine: Engine) -> None:
    """Check `engine`'s pooled connections at checkout as this module says (PostgreSQL)."""
    dialect = engine.dialect

    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RESTED] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.pop(_RESTED, None)
        if rested is None:
            return  # just opened
        if not socket_quiet(dbapi_connection):
            raise exc.InvalidatePoolError("the server ended the connection while it rested")
        if time.monotonic() - rested > PING_AFTER_IDLE_S and not dialect._do_ping_w_event(
            dbapi_connection
        ):
            raise exc.InvalidatePoolError("a connection rested too long did not answer")

    event.listen(engine, "checkin", on_checkin)
    event.listen(engine, "checkout", on_checkout)


def socket_quiet(dbapi_connection: Any) -> bool:
    """Whether a resting DBAPI connection (psycopg) is open with nothing waiting to be read."""
    if dbapi_connection.closed:
        return False
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    return not poller.poll(0)
