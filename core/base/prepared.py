"""Core statements compiled once per dialect and run straight on a pooled DBAPI connection.

For the reads every request makes (is there a user? a task poll's record): through a
`Connection`, SQLAlchemy's per-call work (the connection wrapper, the execution context, the
cache lookup, the result object) cost several times what SQLite took to answer; here one call is
a pool checkout, one cursor execute and the columns' own result processors, the same processors
SQLAlchemy would apply (a DateTime column still reads as a datetime, JSON as its value), and the
binds' own processors (an aware datetime is stored as SQLAlchemy would store it). Errors
come out as SQLAlchemy's own exceptions (`DBAPIError` subclasses), as through a Connection, and
a connection the driver reports lost is invalidated so that the pool does not hand it out again.
Writes (one statement with RETURNING, in its own short transaction): core/base/prepared_write.py.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ClauseElement, Engine, Select, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass
class _Plan:
    sql: str
    defaults: dict[str, Any]  # bound values fixed in the statement (a LIMIT's)
    order: tuple[str, ...] | None  # bind names in order, for a positional paramstyle
    binders: tuple[tuple[str, Callable[[Any], Any]], ...]  # the binds' own processors
    dialect: Dialect
    types: tuple[Any, ...]  # the columns' types for this dialect
    # The columns' result processors, made from the first answer's description: some depend on
    # the type the database says it sent (PostgreSQL's float8 needs none, a numeric one does).
    processors: tuple[Callable[[Any], Any] | None, ...] | None = None

    def params(self, values: Mapping[str, Any]) -> Any:
        """The DBAPI parameters for these bind `values`, processed as SQLAlchemy would."""
        merged = {**self.defaults, **values}
        for name, process in self.binders:
            merged[name] = process(merged.get(name))
        return merged if self.order is None else tuple(merged[n] for n in self.order)

    def row(self, row: Sequence[Any] | None, description: Any) -> tuple[Any, ...] | None:
        """A DBAPI row (of a cursor with this `description`) through the columns' result
        processors."""
        if row is None:
            return None
        processors = self.processors
        if processors is None:  # once: racing threads make the same tuple
            processors = self.processors = tuple(
                kind.result_processor(self.dialect, column[1])
                for kind, column in zip(self.types, description, strict=True)
            )
        return tuple(
            value if process is None else process(value)
            for value, process in zip(row, processors, strict=True)
        )

    def rows(self, rows: Sequence[Sequence[Any]], description: Any) -> list[tuple[Any, ...]]:
        """DBAPI rows (of a cursor with this `description`), each as `row` gives it."""
        return [found for row in rows if (found := self.row(row, description)) is not None]


class Prepared:
    """`statement` (a Core statement with named bind parameters whose rows are its
    `exported_columns`: a select, or a DML statement with RETURNING), compiled once per dialect."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self.columns: tuple[str, ...] = tuple(
            statement.exported_columns.keys()  # type: ignore[attr-defined]
        )
        self._plans: weakref.WeakKeyDictionary[Dialect, _Plan] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def plan(self, dialect: Dialect) -> _Plan:
        """The statement compiled for `dialect` (once)."""
        found = self._plans.get(dialect)
        if found is not None:
            return found
        with self._lock:
            found = self._plans.get(dialect)
            if found is None:
                compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
                if compiled.insert_prefetch or compiled.update_prefetch:
                    # SQLAlchemy computes those per execution; nothing here would.
                    raise ValueError("columns with Python-side defaults: give them values")
                found = self._plans[dialect] = _Plan(
                    sql=compiled.string,
                    defaults={k: v for k, v in compiled.params.items() if v is not None},
                    order=tuple(compiled.positiontup or ()) if compiled.positional else None,
                    binders=_binders(compiled.bind_names, dialect),
                    dialect=dialect,
                    types=tuple(
                        column.type.dialect_impl(dialect)
                        for column in self.statement.exported_columns  # type: ignore[attr-defined]
                    ),
                )
            return found


class PreparedRead(Prepared):
    """A Core select, ready to run on any engine."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        super().__init__(statement)

    def first(self, engine: Engine, **values: Any) -> tuple[Any, ...] | None:
        """The first row for these bind `values`, processed as SQLAlchemy would; None if none
        (on psycopg in autocommit, as `read_together`: no BEGIN and ROLLBACK round trips;
        elsewhere straight on the cursor: a task poll makes two of these, so every microsecond
        of the wrapping shows)."""
        if engine.dialect.driver == "psycopg":
            rows = read_together(engine, [(self, values)])[0]
            return rows[0] if rows else None
        plan = self.plan(engine.dialect)
        params = plan.params(values)
        dbapi_error = engine.dialect.loaded_dbapi.Error
        try:
            connection = engine.raw_connection()
        except dbapi_error as error:
            raise translated(engine, None, plan.sql, params, error) from error
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(plan.sql, params)
                row, description = cursor.fetchone(), cursor.description
            finally:
                cursor.close()
        except dbapi_error as error:
            raise translated(engine, connection, plan.sql, params, error) from error
        finally:
            connection.close()  # back to the pool, reset as any checkin is
        return plan.row(row, description)

    def first_dict(self, engine: Engine, **values: Any) -> dict[str, Any] | None:
        """`first`, as a dict by column name."""
        row = self.first(engine, **values)
        return None if row is None else dict(zip(self.columns, row, strict=True))


def translated(
    engine: Engine, connection: Any, sql: str, params: Any, error: Any
) -> exc.StatementError:
    """`error` (the driver's) as SQLAlchemy's exception; a `connection` (None: none was had) the
    driver reports lost is invalidated first, so that the pool does not hand it out again."""
    if connection is not None and engine.dialect.is_disconnect(
        error, connection.dbapi_connection, None
    ):
        connection.invalidate(error)
    found: exc.StatementError = exc.DBAPIError.instance(
        sql, params, error, engine.dialect.loaded_dbapi.Error, dialect=engine.dialect
    )
    return found


@contextmanager
def _raw(engine: Engine, sql: str, params: Any) -> Iterator[Any]:
    """A pooled DBAPI connection, always given back; errors as `_translated`."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()
    except dbapi_error as error:
        raise translated(engine, None, sql, params, error) from error
    try:
        with _translated(engine, connection, sql, params):
            yield connection
    finally:
        connection.close()  # back to the pool, reset as any checkin is


@contextmanager
def _translated(engine: Engine, connection: Any, sql: str, params: Any) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy's; a connection the driver reports lost is
    invalidated, so that the pool does not hand it out again."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as error:
        raise translated(engine, connection, sql, params, error) from error


def read_together(
    engine: Engine, reads: Sequence[tuple[PreparedRead, Mapping[str, Any]]], within: Any = None
) -> list[list[tuple[Any, ...]]]:
    """Every row of each of `reads` (a PreparedRead and its bind values), processed as `first`
    processes them, on a pooled connection or `within` one in use (a session's: `connection()
    .connection`, in its transaction). On psycopg all in one round trip (pipeline mode; on a
    pooled connection in autocommit, each read seeing what was committed when it ran, as under
    READ COMMITTED, with no BEGIN or ROLLBACK round trips); elsewhere one after the other."""
    jobs = [(plan, plan.sql, plan.params(values)) for plan, values in
            ((read.plan(engine.dialect), values) for read, values in reads)]  # fmt: skip
    sql, params = (jobs[0][1], jobs[0][2]) if jobs else ("", None)
    if within is not None:
        with _translated(engine, within, sql, params):
            return _run(engine, within, jobs)
    with _raw(engine, sql, params) as connection:
        return _run(engine, connection, jobs)


def _run(
    engine: Engine, connection: Any, jobs: list[tuple[_Plan, str, Any]]
) -> list[list[tuple[Any, ...]]]:
    if engine.dialect.driver == "psycopg":
        return _pipelined(connection.dbapi_connection, jobs)
    found = []
    for plan, sql, params in jobs:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            found.append(plan.rows(cursor.fetchall(), cursor.description))
        finally:
            cursor.close()
    return found


def _pipelined(driver: Any, jobs: list[tuple[_Plan, str, Any]]) -> list[list[tuple[Any, ...]]]:
    """On psycopg: every query sent before any answer is read (one statement alone: without the
    pipeline, one round trip still, at half its CPU). A connection outside any transaction
    reads in autocommit (given back as it was)."""
    idle = driver.info.transaction_status.name == "IDLE"
    if idle:
        driver.autocommit = True
    try:
        if len(jobs) == 1:
            plan, sql, params = jobs[0]
            return [plan.rows(*rows_of(driver, sql, params))]
        return _together(driver, jobs)
    finally:
        if idle:
            driver.autocommit = False


def _together(driver: Any, jobs: list[tuple[_Plan, str, Any]]) -> list[list[tuple[Any, ...]]]:
    """`jobs` in one pipeline, a run of the same statement as one `executemany` (a list's 50
    fingerprints: a third of the CPU of 50 executes)."""
    runs: list[list[tuple[_Plan, str, Any]]] = []
    for job in jobs:
        if runs and runs[-1][0][1] == job[1]:
            runs[-1].append(job)
        else:
            runs.append([job])
    cursors = []
    with driver.pipeline():
        for run in runs:
            cursor = driver.cursor()
            if len(run) == 1:
                cursor.execute(run[0][1], run[0][2])
            else:
                cursor.executemany(run[0][1], [params for *_, params in run], returning=True)
            cursors.append(cursor)
    found = []
    for run, cursor in zip(runs, cursors, strict=True):
        for number, (plan, _, _) in enumerate(run):
            if number:
                cursor.nextset()
            found.append(plan.rows(cursor.fetchall(), cursor.description))
        cursor.close()
    return found


def rows_of(driver: Any, sql: str, params: Any) -> tuple[Sequence[Any], Any]:
    """`sql` on a new cursor of the DBAPI connection `driver`: its rows and description."""
    cursor = driver.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall(), cursor.description
    finally:
        cursor.close()


def _binders(
    names: dict[Any, str], dialect: Dialect
) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    # By the name each bind has in the compiled SQL (an anonymous one's too: `coalesce_1`).
    found: dict[str, Callable[[Any], Any]] = {}
    for bind, name in names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            found.setdefault(name, process)
    return tuple(found.items())
