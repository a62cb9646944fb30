"""Worker liveness in Redis: each worker instance publishes the deliveries it holds, with a TTL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from core.jobs import unacked

log = logging.getLogger(__name__)

# One hash for every worker instance: field = instance id, value = JSON {"tags", "expires", ...}.
# Expiry is judged by the Redis server's clock, so workers on hosts with skewed clocks agree.
WORKERS_KEY = "aula:workers"
# Held by the worker that reaps this round; it expires by itself (no release), so the reaper
# runs about once per liveness interval however many workers there are.
REAPER_LOCK_KEY = "aula:reaper:lock"
# Delivery tag -> [first, last] Redis server time a reaper round saw it claimed by no one.
UNCLAIMED_KEY = "aula:reaper:unclaimed"
# Instance -> [reaper rounds in a row that saw its entry expired, Redis time of the last one].
EXPIRED_KEY = "aula:reaper:expired"
# Rounds in a row a dead instance's entry must be seen expired before its deliveries go back.
EXPIRED_ROUNDS = 2
# Entries of dead instances are dropped this many TTLs after they expired (a restarted worker
# is a new instance, so they would pile up); long after any reaper judged them.
FORGET_AFTER_TTLS = 10


@dataclass(frozen=True)
class Claims:
    """What the live worker instances hold right now."""

    tags: frozenset[str]
    task_ids: frozenset[str]
    live: tuple[str, ...]
    dead: tuple[str, ...]
    # Delivery tag -> the dead instance whose last entry held it.
    dead_tags: Mapping[str, str] = dataclass_field(default_factory=dict)


def server_time(client: Any) -> float:
    """The Redis server's clock, in seconds."""
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1e6


def publish(
    client: Any,
    instance: str,
    tags: Iterable[str],
    ttl_s: float,
    task_ids: Iterable[str] = (),
    **about: object,
) -> None:
    """Say that `instance` lives and holds these delivery tags (and task ids), for `ttl_s`."""
    now = server_time(client)
    entry = {
        "tags": sorted(set(tags)),
        "task_ids": sorted(set(task_ids)),
        "expires": now + ttl_s,
        "ttl_s": ttl_s,
        **about,
    }
    client.hset(WORKERS_KEY, instance, json.dumps(entry))


def withdraw(client: Any, instance: str) -> None:
    """Forget `instance` (it stopped cleanly and holds nothing)."""
    client.hdel(WORKERS_KEY, instance)


def claims(client: Any) -> Claims:
    """The delivery tags that live instances hold; entries long dead are forgotten."""
    now = server_time(client)
    tags: set[str] = set()
    task_ids: set[str] = set()
    live: list[str] = []
    dead: list[str] = []
    dead_tags: dict[str, str] = {}
    forget: list[bytes] = []
    for field, raw in client.hgetall(WORKERS_KEY).items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        try:
            entry = json.loads(raw)
            expires, ttl = float(entry["expires"]), float(entry.get("ttl_s", 0))
            held = [str(tag) for tag in entry["tags"]]
            running = [str(task_id) for task_id in entry.get("task_ids", ())]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable liveness entry %s dropped", name)
            forget.append(field)
            continue
        if expires > now:
            live.append(name)
            tags.update(held)
            task_ids.update(running)
            continue
        dead.append(name)
        dead_tags.update(dict.fromkeys(held, name))
        if now - expires > FORGET_AFTER_TTLS * max(ttl, 1.0):
            forget.append(field)
    if forget:
        client.hdel(WORKERS_KEY, *forget)
    return Claims(frozenset(tags), frozenset(task_ids), tuple(live), tuple(dead), dead_tags)


def take_reaper_turn(client: Any, instance: str, period_s: float) -> bool:
    """True if `instance` reaps this round (no other did within the last `period_s`)."""
    milliseconds = max(int(period_s * 900), 100)  # a little under a period: no round is skipped
    return bool(client.set(REAPER_LOCK_KEY, instance, nx=True, px=milliseconds))


def reap(
    channel: Any,
    client: Any,
    claims: Claims,
    ttl_s: float,
    interval_s: float,
    instance: str | None = None,
) -> int:
    """Hand back to its queue every unacknowledged message that no live instance has claimed
    for `ttl_s`, by the Redis server's clock: seen unclaimed in rounds that far apart (a
    message just taken may not be in its worker's liveness write yet). Kombu's delivery times
    (each consuming host's clock) are not used.

    After a Redis outage longer than a TTL every entry has expired, and the owners republish
    one by one; so rounds that stopped for longer than a TTL start the count again, a reaper
    (`instance`) hands back nothing until its own entry is live again (it has reconnected and
    published), and the deliveries a dead instance's entry lists go back only once that entry
    was seen expired in EXPIRED_ROUNDS rounds in a row. `channel` is a kombu Redis channel of
    the reaper's own connection; returns how many were handed back."""
    if instance is not None and instance not in claims.live:
        return 0
    now = server_time(client)
    gap = max(ttl_s, 3 * interval_s)  # rounds further apart than this stopped (an outage)
    streaks = _expired_streaks(client, claims.dead, now, gap)
    seen = {_text(k): _sighting(v) for k, v in client.hgetall(UNCLAIMED_KEY).items()}
    unclaimed = [t for t in unacked.delivered_before(channel, float("inf")) if t not in claims.tags]
    keep: dict[str, str] = {}
    returned = 0
    for tag in unclaimed:
        first, last = seen.get(tag, (now, now))
        if now - last > gap:
            first = now  # the rounds stopped (an outage): judge it afresh
        owner = claims.dead_tags.get(tag)
        judged = owner is None or streaks.get(owner, 0) >= EXPIRED_ROUNDS
        if now - first < ttl_s or not judged:
            keep[tag] = json.dumps([first, now])
            continue
        _hand_back(channel, tag, claims)
        returned += 1
    pipe = client.pipeline()
    pipe.delete(UNCLAIMED_KEY)
    if keep:
        pipe.hset(UNCLAIMED_KEY, mapping=keep)
    pipe.execute()
    return returned


def _expired_streaks(client: Any, dead: Iterable[str], now: float, gap_s: float) -> dict[str, int]:
    """How many reaper rounds in a row (this one included) saw each dead instance's entry
    expired; a streak whose last round is more than `gap_s` ago starts again."""
    before = {_text(k): _sighting(v) for k, v in client.hgetall(EXPIRED_KEY).items()}
    streaks: dict[str, int] = {}
    for name in dead:
        count, last = before.get(name, (0.0, float("-inf")))
        streaks[name] = int(count) + 1 if now - last <= gap_s else 1
    pipe = client.pipeline()
    pipe.delete(EXPIRED_KEY)
    if streaks:
        pipe.hset(EXPIRED_KEY, mapping={n: json.dumps([c, now]) for n, c in streaks.items()})
    pipe.execute()
    return streaks


def _hand_back(channel: Any, tag: str, claims: Claims) -> None:
    task_id = unacked.task_id_of(channel, tag)
    unacked.hand_back(channel, tag)
    log.warning(
        "task %s handed back: the worker holding it stopped proving it lives",
        task_id,
        extra={"delivery_tag": tag, "live_workers": len(claims.live)},
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _sighting(raw: Any) -> tuple[float, float]:
    try:
        first, last = json.loads(raw)
        return float(first), float(last)
    except (ValueError, TypeError):
        return (float("inf"), float("-inf"))  # unreadable: judged afresh
