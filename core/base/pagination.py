"""Keyset (cursor) pagination: one helper for every list, stable while rows are added."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, literal, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.base.db import Database
from core.base.errors import ValidationFailed

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(values: list[Any]) -> str:
    """Turn the sort key of the last row into an opaque cursor."""
    packed = [{"dt": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(packed, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    """Read a cursor back; anything malformed is a ValidationFailed naming `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        packed = json.loads(raw)
        if not isinstance(packed, list) or len(packed) != width:
            raise ValueError("wrong shape")
        return [datetime.fromisoformat(v["dt"]) if isinstance(v, dict) else v for v in packed]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "The cursor is malformed; use the next_cursor of a previous page.",
            {"cursor": ["Malformed cursor."]},
        ) from None


def _check_types(values: list[Any], keys: tuple[InstrumentedAttribute[Any], ...]) -> None:
    # A cursor of the right shape can still carry the wrong kind of values (forged, or from
    # another list): refuse it as malformed rather than let the query fail.
    for value, key in zip(values, keys, strict=True):
        column_type = getattr(key.type, "impl", key.type)  # see through TypeDecorators
        try:
            expected = column_type.python_type
        except NotImplementedError:
            continue
        if expected is datetime:
            ok = isinstance(value, datetime) and value.tzinfo is not None
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise ValidationFailed(
                "The cursor is malformed; use the next_cursor of a previous page.",
                {"cursor": ["Malformed cursor."]},
            )


def keyset_page(
    session: Session,
    stmt: Select[Any],
    keys: tuple[InstrumentedAttribute[Any], ...],
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    descending: bool = True,
) -> Page[Any]:
    """One page of `stmt` ordered by `keys` (unique together), after `cursor`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}.", {"limit": ["Out of range."]}
        )
    if cursor:
        after = decode_cursor(cursor, len(keys))
        _check_types(after, keys)
        row_key = tuple_(*keys)
        bound = tuple_(*[literal(value, key.type) for value, key in zip(after, keys, strict=True)])
        stmt = stmt.where(row_key < bound if descending else row_key > bound)
    order = [key.desc() if descending else key.asc() for key in keys]
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([getattr(rows[-1], key.key) for key in keys])
    return Page(rows, next_cursor)


def newest_first(
    db: Database,
    id_column: InstrumentedAttribute[Any],
    state_column: InstrumentedAttribute[Any],
    *,
    state: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Any]:
    """Rows of `id_column`'s table, newest first, optionally only those in `state`."""
    stmt = select(id_column.class_)
    if state:
        stmt = stmt.where(state_column == state)
    with db.session() as session:
        return keyset_page(session, stmt, (id_column,), limit=limit, cursor=cursor)
