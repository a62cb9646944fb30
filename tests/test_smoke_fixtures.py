"""The fixtures themselves: a real Redis and a migrated database answer."""

from sqlalchemy import text

from core.base.db import session_scope


def test_redis_and_database_answer(settings, redis_client):
    assert redis_client.ping() is True
    with session_scope(settings.database_url) as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
