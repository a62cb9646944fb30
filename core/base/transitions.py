"""The one way a state machine's row changes state: a single guarded conditional UPDATE."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, bindparam, update
from sqlalchemy.orm import Session

from core.base.models import Base

M = TypeVar("M", bound=Base)


def transition(
    executor: Session | Connection,
    model: type[M],
    row_id: Any,
    allowed_from: Iterable[str],
    values: dict[str, Any],
    *,
    where: Iterable[ColumnElement[bool]] = (),
) -> M | None:
    """Move row `row_id` of `model` to `values` (its new state among them) in one statement
    `UPDATE ... WHERE id=:id AND state IN (:allowed_from) [AND where...] RETURNING *`.

    The row count decides, not a read beforehand: a concurrent writer that moved the row first
    makes this return None, and nothing was written. Returns the updated row (an ORM object in a
    Session, a Row on a Connection)."""
    allowed = sorted({str(s) for s in allowed_from})
    table: Any = model
    stmt = (
        update(model).where(table.id == row_id, table.state.in_(allowed), *where).values(**values)
    )
    if isinstance(executor, Session):
        orm = stmt.returning(model).execution_options(
            synchronize_session=False, populate_existing=True
        )
        result: M | None = executor.scalars(orm).first()
        return result
    row: Any = executor.execute(stmt.returning(*model.__table__.columns)).first()
    return row  # type: ignore[no-any-return]


def guarded(
    executor: Session | Connection,
    model: type[M],
    row_id: Any,
    in_states: Iterable[str],
    values: dict[str, Any],
) -> bool:
    """Change fields other than the state of a row, only while it is in `in_states`: the same
    guarded UPDATE as `transition`, answering whether it applied."""
    allowed = sorted({str(s) for s in in_states})
    table: Any = model
    stmt = (
        update(model)
        .where(table.id == row_id, table.state.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(executor.execute(stmt), "rowcount", 0))


def prepare(
    model: type[M],
    allowed_from: Iterable[str],
    values: dict[str, Any],
    *,
    where: Iterable[ColumnElement[bool]] = (),
    returning: Iterable[Any] = (),
) -> Any:
    """The UPDATE of `transition`, built once for a hot path and run with `run`: the same
    `WHERE id=:row_id AND state IN (:allowed_from) [AND where...]`, its values (and `where`) free
    to hold `bindparam`s that each run fills in; RETURNING only `returning` (all columns when
    empty). Building the statement and decoding every column of the row were most of the cost
    of a task's start and end (issue 29)."""
    allowed = sorted({str(s) for s in allowed_from})
    table: Any = model
    stmt = (
        update(model)
        .where(table.id == bindparam("row_id"), table.state.in_(allowed), *where)
        .values(**values)
    )
    columns = tuple(returning) or tuple(model.__table__.columns)
    return stmt.returning(*columns)


def run(connection: Connection, prepared: Any, row_id: Any, **params: Any) -> Any:
    """Run a `prepare`d transition for `row_id`: the returned row, or None if the guard refused
    it (nothing was written)."""
    return connection.execute(prepared, {"row_id": row_id, **params}).first()
