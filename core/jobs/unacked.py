"""The one adapter to kombu's Redis layout: delivered-but-unacknowledged messages, handed back.

kombu's Redis transport keeps every message a consumer took and has not acknowledged in the hash
`unacked` (delivery tag -> [message, exchange, routing key]) and its delivery time in the sorted
set `unacked_index`; a queue is one list per priority step (`name`, `name\\x06\\x163`, ...). With
a kombu channel, key names and separators are read from the channel itself; readers that hold
a plain Redis client (metrics scrapes, cleanup) use the copies below. Restoring uses kombu's own
`QoS.restore_by_tag` (atomic under WATCH), so nothing here re-implements kombu's writes.
tests/core/test_unacked.py fails if kombu changes any of this.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from core.jobs.taskdefs import QueueName

SNAPSHOT_TRIES = 5
# kombu's Redis transport names (kombu.transport.redis: Channel.unacked_key, Channel.sep,
# PRIORITY_STEPS), for readers without a kombu channel.
UNACKED_KEY = "unacked"
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def bytes_to_str(value: Any) -> str:
    """kombu stores tags and payloads as bytes or str depending on the client: text either way."""
    return value.decode() if isinstance(value, bytes) else str(value)


def held_tags(channel: Any) -> set[str]:
    """Delivery tags a consuming channel holds unacknowledged (kombu's QoS._delivered)."""
    delivered = getattr(getattr(channel, "qos", None), "_delivered", None)
    if not delivered:
        return set()
    for _ in range(SNAPSHOT_TRIES):
        try:  # the consuming thread may add a delivery while this thread copies
            return {bytes_to_str(tag) for tag in list(delivered)}
        except RuntimeError:
            continue
    return set()


def delivered_before(channel: Any, cutoff: float, limit: int = 1000) -> list[str]:
    """Delivery tags of unacknowledged messages delivered before `cutoff` (Unix time)."""
    tags = channel.client.zrangebyscore(
        channel.unacked_index_key, "-inf", cutoff, start=0, num=limit
    )
    return [bytes_to_str(tag) for tag in tags]


def task_id_of(channel: Any, tag: str) -> str | None:
    """The Celery task id of an unacknowledged message, if it is still there."""
    raw = channel.client.hget(channel.unacked_key, tag)
    return _task_id(json.loads(bytes_to_str(raw))[0]) if raw else None


def hand_back(channel: Any, tag: str) -> None:
    """Put an unacknowledged message back at the head of its queue (kombu's restore_by_tag)."""
    channel.qos.restore_by_tag(tag, client=channel.client)


def queue_keys(queue: str) -> list[str]:
    """The Redis lists that hold `queue`'s waiting messages, one per priority step."""
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


def queue_depths(client: Any, queues: Iterable[str] = tuple(QueueName)) -> dict[str, int]:
    """Messages waiting in each queue, priorities summed (taken but unacked not counted)."""
    names = [str(queue) for queue in queues]
    pipe = client.pipeline(transaction=False)
    for queue in names:
        for key in queue_keys(queue):
            pipe.llen(key)
    lengths = iter(pipe.execute())
    return {queue: sum(int(next(lengths)) for _ in PRIORITY_STEPS) for queue in names}


def present_task_ids(channel: Any, queues: Iterable[str]) -> set[str]:
    """Task ids of every message waiting in `queues` or delivered and unacknowledged, read in
    one MULTI so that a message moving between the two is seen in one of them."""
    keys = [channel._q_for_pri(q, priority) for q in queues for priority in channel.priority_steps]
    return _present(channel.client, keys, channel.unacked_key)


def waiting_task_ids(client: Any, queues: Iterable[str]) -> set[str]:
    """present_task_ids for a plain Redis client (no kombu channel at hand)."""
    return _present(client, [key for q in queues for key in queue_keys(q)], UNACKED_KEY)


def _present(client: Any, keys: list[str], unacked_key: str) -> set[str]:
    pipe = client.pipeline(transaction=True)
    for key in keys:
        pipe.lrange(key, 0, -1)
    pipe.hvals(unacked_key)
    *lists, unacked = pipe.execute()
    ids = {_task_id(_parsed(raw)) for messages in lists for raw in messages}
    ids |= {_task_id(_first(_parsed(raw))) for raw in unacked}
    ids.discard(None)
    return {str(task_id) for task_id in ids}


def _parsed(raw: Any) -> Any:
    try:  # a message someone else wrote to our lists is skipped, not fatal
        return json.loads(bytes_to_str(raw))
    except ValueError:
        return None


def _first(entry: Any) -> Any:
    # An unacked entry is [message, exchange, routing key].
    return entry[0] if isinstance(entry, list) and entry else None


def _task_id(message: Any) -> str | None:
    try:
        return str(message["headers"]["id"])
    except (KeyError, TypeError):
        return None
