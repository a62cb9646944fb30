"""A cluster-wide counting semaphore on Redis: a sorted set of holders scored by lease expiry.

redis-py has a Lock but no semaphore; this is the sorted-set semaphore of the Redis docs
("Redis in Action" 6.3), taken and renewed atomically by Lua scripts registered with redis-py,
so a holder that dies frees its slot when its lease runs out."""

from __future__ import annotations

import redis

# KEYS[1] the set; ARGV: holder, limit, lease (ms). Expired holders go first; a holder already
# in renews its lease; 1 if the holder holds a slot now.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
  return 1
end
return 0
"""
# KEYS[1] the set; ARGV: lease (ms). How many hold a live lease.
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


class Semaphore:
    """At most `limit` holders of `key` at once, cluster-wide; each holds for `lease_s` unless
    renewed (acquiring again renews)."""

    def __init__(self, client: redis.Redis, key: str, lease_s: float) -> None:
        self.client, self.key, self.lease_ms = client, key, max(int(lease_s * 1000), 1)
        self._acquire = client.register_script(_ACQUIRE)
        self._count = client.register_script(_COUNT)

    def acquire(self, holder: str, limit: int) -> bool:
        """Take (or renew) a slot for `holder`; False if `limit` others hold one."""
        return bool(self._acquire(keys=[self.key], args=[holder, limit, self.lease_ms]))

    def release(self, holder: str) -> None:
        """Give the slot back (nothing if `holder` had none)."""
        self.client.zrem(self.key, holder)

    def count(self) -> int:
        """How many hold a slot now."""
        return int(self._count(keys=[self.key]))
