"""A Core select compiled once per dialect and run straight on a pooled DBAPI connection.

For the reads every request makes (is there a user? a task poll's record): through a
`Connection`, SQLAlchemy's per-call work (the connection wrapper, the execution context, the
cache lookup, the result object) cost several times what SQLite took to answer; here one call is
a pool checkout, one cursor execute and the columns' own result processors, the same processors
SQLAlchemy would apply (a DateTime column still reads as a datetime, JSON as its value). Errors
come out as SQLAlchemy's own exceptions (`DBAPIError` subclasses), as through a Connection, and
a connection the driver reports lost is invalidated so that the pool does not hand it out again.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, exc
from sqlalchemy.engine import Dialect


@dataclass(frozen=True)
class _Plan:
    sql: str
    defaults: dict[str, Any]  # bound values fixed in the statement (a LIMIT's)
    order: tuple[str, ...] | None  # bind names in order, for a positional paramstyle
    processors: tuple[Callable[[Any], Any] | None, ...]


class PreparedRead:
    """`statement` (a Core select with named bind parameters), ready to run on any engine."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self.columns: tuple[str, ...] = tuple(statement.selected_columns.keys())
        self._plans: weakref.WeakKeyDictionary[Dialect, _Plan] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def first(self, engine: Engine, **values: Any) -> tuple[Any, ...] | None:
        """The first row for these bind `values`, processed as SQLAlchemy would; None if none."""
        plan = self._plans.get(engine.dialect) or self._plan(engine.dialect)
        merged = {**plan.defaults, **values}
        params: Any = merged if plan.order is None else tuple(merged[n] for n in plan.order)
        dbapi_error = engine.dialect.loaded_dbapi.Error
        try:
            connection = engine.raw_connection()
        except dbapi_error as error:
            raise exc.DBAPIError.instance(plan.sql, params, error, dbapi_error) from error
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(plan.sql, params)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except dbapi_error as error:
            if engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
                connection.invalidate(error)
            raise exc.DBAPIError.instance(
                plan.sql, params, error, dbapi_error, dialect=engine.dialect
            ) from error
        finally:
            connection.close()  # back to the pool, reset as any checkin is
        if row is None:
            return None
        return tuple(
            value if process is None else process(value)
            for value, process in zip(row, plan.processors, strict=True)
        )

    def first_dict(self, engine: Engine, **values: Any) -> dict[str, Any] | None:
        """`first`, as a dict by column name."""
        row = self.first(engine, **values)
        return None if row is None else dict(zip(self.columns, row, strict=True))

    def _plan(self, dialect: Dialect) -> _Plan:
        with self._lock:
            found = self._plans.get(dialect)
            if found is None:
                compiled = self.statement.compile(dialect=dialect)
                found = self._plans[dialect] = _Plan(
                    sql=compiled.string,
                    defaults={k: v for k, v in compiled.params.items() if v is not None},
                    order=tuple(compiled.positiontup or ()) if compiled.positional else None,
                    processors=_processors(self.statement, dialect),
                )
            return found


def _processors(
    statement: Select[*tuple[Any, ...]], dialect: Dialect
) -> tuple[Callable[[Any], Any] | None, ...]:
    columns: Sequence[Any] = list(statement.selected_columns)
    return tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
