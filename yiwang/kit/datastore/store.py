"""Typed data tables: create, load all-or-nothing, read by keyset pages."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, inspect, select, text, tuple_
from sqlalchemy.orm import Session

from yiwang.kit.crypto import get_suite
from yiwang.kit.datastore.convert import Bad, ErrorList, RowValidator, make_converter
from yiwang.kit.datastore.fields import (
    ROW_COLUMN,
    FieldSpec,
    FieldType,
    build_table,
    check_fields,
    column_type,
    table_name_of,
)
from yiwang.kit.datastore.readers import RowStream
from yiwang.kit.db import FastSelect
from yiwang.kit.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "LoadRejected",
    "LoadResult",
    "count_rows",
    "drop_table",
    "ensure_table",
    "load",
    "read_page",
    "validate_rows",
]

CHUNK = 1000  # rows validated, hashed and inserted at a time: small enough to stay in the CPU caches
ROWS_PER_INSERT = 100  # rows per SQLite INSERT statement (within its limit on bound variables)
LOAD_CACHE_KIB = -128 * 1024  # negative: KiB, as SQLite counts it
MODES = ("replace", "append", "upsert")
Executor = Session | Connection
Progress = Callable[[int], object]


class LoadRejected(InvalidInput):
    """A load with bad rows: nothing was changed. ``details``: ``errors`` (the first 1,000 as
    ``{row, field, title, value (masked when personal), reason}``), ``total`` (all of them)
    and ``truncated``."""

    code = "load_rejected"


class TableMismatch(Conflict):
    """The table exists with other columns: a change of fields needs a new table (version)."""

    code = "datastore_table_mismatch"


@dataclass(frozen=True, slots=True)
class LoadResult:
    count: int  # rows loaded from the input
    inserted: int
    updated: int
    content_hash: str  # hex digest of the canonical serialisation (see content hash below)
    hash_suite: str
    deleted: int = 0  # rows removed first by a replace
    errors: list[dict[str, Any]] = field(default_factory=list)


def _connection(db: Executor) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def _inspect(conn: Connection) -> Any:
    """An inspector that sees the schema as it is now. SQLite answers its table and index pragmas
    from the connection's cached schema without checking whether another connection changed it
    (a pooled connection can miss a table made again, or its new index); reading
    ``sqlite_master`` first makes it check, and reload the schema if it changed."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1").all()
    return inspect(conn)


# ----------------------------------------------------------------- tables


def ensure_table(db: Executor, table_name: str, fields: Sequence[FieldSpec]) -> str:
    """Create ``ds_<table_name>`` for ``fields`` unless it exists; return the physical name.

    Columns: ``_row`` (integer surrogate, load order) and one typed column per field; a unique
    index over the key fields. An existing table must have exactly these columns and keys,
    else :class:`TableMismatch`: a change of fields is a new table version, so pass a new name.
    Runs in the caller's transaction (both databases have transactional DDL).
    """
    check_fields(fields)
    physical = table_name_of(table_name)
    conn = _connection(db)
    inspector = _inspect(conn)
    if not inspector.has_table(physical):
        build_table(physical, fields).create(conn)
        return physical
    existing = {c["name"]: c["type"] for c in inspector.get_columns(physical)}
    wanted = {ROW_COLUMN: None, **{f.name: column_type(f.type) for f in fields}}
    differences: list[str] = sorted(str(n) for n in set(existing) ^ set(wanted))
    for f in fields:
        if f.name in existing and _python_type(existing[f.name]) is not _python_type(column_type(f.type)):
            differences.append(f.name)
    keys = [f.name for f in fields if f.key]
    unique = [
        [str(c) for c in ix["column_names"]] for ix in inspector.get_indexes(physical) if ix.get("unique")
    ]
    if sorted(keys) != sorted(unique[0] if unique else []):
        differences.append("主键")
    if differences:
        raise TableMismatch(
            f"数据表 {physical} 已存在且结构不同（{'、'.join(map(str, differences))}）："
            "信息项有变化时应建新版本的表",
            details={"table": physical, "differences": differences},
        )
    return physical


def _python_type(sql_type: Any) -> type | None:
    try:
        return sql_type.python_type
    except NotImplementedError:
        return None


def drop_table(db: Executor, table_name: str) -> None:
    """Drop the table if it exists."""
    physical = table_name_of(table_name)
    _connection(db).execute(text(f'DROP TABLE IF EXISTS "{physical}"'))


# ----------------------------------------------------------------- validation


def _chunks(
    validator: RowValidator, rows: RowStream | Iterable[Mapping[str, Any]], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """The good rows, converted, a chunk at a time (cells of CSV and XLSX column by column)."""
    if isinstance(rows, RowStream) and rows.columns is not None:
        yield from validator.tuple_chunks(rows.cells(), rows.columns, size)
        return
    good = _validate(validator, rows)
    while chunk := list(islice(good, size)):
        yield chunk


def _validate(
    validator: RowValidator, rows: RowStream | Iterable[Mapping[str, Any]]
) -> Iterator[tuple[Any, ...]]:
    if isinstance(rows, RowStream) and rows.columns is not None:
        return validator.tuples(rows.cells(), rows.columns)
    if isinstance(rows, RowStream):
        return validator.mappings(rows.mappings())
    return validator.mappings(rows)


def validate_rows(
    rows: RowStream | Iterable[Mapping[str, Any]], fields: Sequence[FieldSpec]
) -> tuple[list[dict[str, Any]], ErrorList]:
    """Convert every row; return (the good rows as dicts of Python values, the errors).

    Errors are ``{row, field, title, value, reason}``; ``row`` is the data row number (the
    first row after the header is 1; blank rows count but are skipped); personal values are
    masked. At most 1,000 are kept; ``errors.total`` counts all of them.
    """
    check_fields(fields)
    validator = RowValidator(fields, "python")
    names = validator.names
    good = [dict(zip(names, out, strict=True)) for out in _validate(validator, rows)]
    return good, validator.errors


# ----------------------------------------------------------------- loading


class _ContentHash:
    """Canonical serialisation: the rows as one JSON array of arrays (values in field order,
    file order), UTF-8, no whitespace, non-ASCII as is; dates ``YYYY-MM-DD``, datetimes
    ``YYYY-MM-DD HH:MM:SS.ffffff``, numbers as JSON numbers, booleans true/false, null.
    Fed chunk by chunk, yet independent of the chunk size."""

    def __init__(self, suite: str) -> None:
        self._hasher = get_suite(suite).new_hasher()
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=self._default)
        self._first = True
        self._hasher.update(b"[")

    @staticmethod
    def _default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat(" ", "microseconds")
        if hasattr(value, "isoformat"):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    def update(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        body = self._encoder.encode(rows)[1:-1]
        self._hasher.update((body if self._first else "," + body).encode())
        self._first = False

    def hexdigest(self) -> str:
        self._hasher.update(b"]")
        return self._hasher.hexdigest()


def load(
    db: Executor,
    table_name: str,
    fields: Sequence[FieldSpec],
    rows: RowStream | Iterable[Mapping[str, Any]],
    mode: str = "replace",
    *,
    suite: str = "standard",
    progress: Progress | None = None,
    chunk_size: int = CHUNK,
) -> LoadResult:
    """Validate and load ``rows`` into the table, all-or-nothing, in the caller's transaction.

    ``mode``: ``replace`` (delete every row, then insert), ``append`` (insert; a key that is
    already in the table is an error) or ``upsert`` (insert new keys, update existing ones).
    Rows stream through in chunks: each chunk is validated, then inserted inside a
    savepoint; after the first bad row nothing more is inserted but validation goes on
    to count every error, and the savepoint is rolled back, so a rejected load changes
    nothing and memory stays bounded. Raises :class:`LoadRejected` (details: errors, total).
    ``progress(rows_read)`` is called after each chunk. The caller commits.
    """
    if mode not in MODES:
        raise InvalidInput(f"装载方式 {mode} 无效，可选 replace、append、upsert", details={"field": "mode"})
    keys = [f.name for f in fields if f.key]
    if mode == "upsert" and not keys:
        raise InvalidInput("没有主键信息项的表不能按主键更新（upsert）", details={"field": "mode"})
    physical = ensure_table(db, table_name, fields)
    conn = _connection(db)
    dialect = conn.dialect.name
    validator = RowValidator(fields, "sqlite" if dialect == "sqlite" else "postgresql")
    hasher = _ContentHash(suite)
    writer = _Writer(conn, physical, fields, mode)
    savepoint = db.begin_nested()
    try:
        before = _count(conn, physical) if mode == "upsert" else 0
        deleted = writer.delete_all() if mode == "replace" else 0
        empty = mode == "replace" or writer.is_empty()
        if empty:
            writer.defer_indexes()  # nothing stored to clash with, and no key repeats in the input
        loaded = 0
        for chunk in _chunks(validator, rows, chunk_size):
            if validator.error_count == 0 and chunk:
                if mode == "append" and keys and not empty:
                    _check_existing(conn, physical, fields, chunk, validator)
                if validator.error_count == 0:
                    hasher.update(chunk)
                    writer.write(chunk)
            loaded += len(chunk)
            if progress is not None:
                progress(validator.rows_read)
        if validator.error_count:
            raise _rejected(validator.errors)
        writer.restore_indexes()
        after = _count(conn, physical) if mode == "upsert" else loaded
    except BaseException:
        savepoint.rollback()
        raise
    finally:
        writer.close()
    savepoint.commit()
    inserted = after - before if mode == "upsert" else loaded
    return LoadResult(
        count=loaded,
        inserted=inserted,
        updated=loaded - inserted,
        content_hash=hasher.hexdigest(),
        hash_suite=suite,
        deleted=deleted,
    )


def _rejected(errors: ErrorList) -> LoadRejected:
    first = errors[0]
    where = f"第{first['row']}行" + (f"「{first['title']}」" if first["title"] else "")
    more = f"；共 {errors.total} 处错误" if errors.total > 1 else ""
    return LoadRejected(
        f"数据有误，未装载任何数据：{where}{first['reason']}{more}",
        details={"errors": list(errors), "total": errors.total, "truncated": errors.total > len(errors)},
    )


def _check_existing(
    conn: Connection,
    physical: str,
    fields: Sequence[FieldSpec],
    chunk: list[tuple[Any, ...]],
    validator: RowValidator,
) -> None:
    """Append must not repeat a key that is already stored: name those rows."""
    positions = [i for i, f in enumerate(fields) if f.key]
    table = build_table(physical, fields)
    cols = [table.c[fields[i].name] for i in positions]
    python = [make_converter(fields[i], "python") for i in positions]

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(conv(row[i]) for conv, i in zip(python, positions, strict=True))

    rows_of = {key(row): validator.row_of(row) for row in chunk}
    wanted = list(rows_of)
    clashes: list[tuple[int, Any]] = []
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        condition = cols[0].in_([k[0] for k in part]) if len(cols) == 1 else tuple_(*cols).in_(part)
        clashes += [(rows_of[tuple(r)], r[0]) for r in conn.execute(select(*cols).where(condition))]
    for row, value in sorted(clashes, key=lambda c: c[0]):
        validator.add_error(
            row, fields[positions[0]], value, "主键在表中已存在；要更新已有数据请用 upsert 方式装载"
        )


def _count(conn: Connection, physical: str) -> int:
    return int(conn.execute(text(f'SELECT count(*) FROM "{physical}"')).scalar_one())


class _Writer:
    """Inserts chunks through the driver: on SQLite ``executemany`` of multi-row ``INSERT``s
    (a statement per 100 rows: a third of the cost of a statement per row); on PostgreSQL
    ``COPY`` for inserts and ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` for upserts."""

    def __init__(self, conn: Connection, physical: str, fields: Sequence[FieldSpec], mode: str) -> None:
        self.conn = conn
        self.physical = physical
        self.mode = mode
        self.sqlite = conn.dialect.name == "sqlite"
        names = [f'"{f.name}"' for f in fields]
        keys = [f'"{f.name}"' for f in fields if f.key]
        row = "(" + ",".join(["?" if self.sqlite else "%s"] * len(fields)) + ")"
        self.into = f'INSERT INTO "{physical}" ({",".join(names)}) VALUES '
        self.conflict = ""
        if mode == "upsert":
            others = [n for n in names if n not in keys]
            action = (
                "DO UPDATE SET " + ",".join(f"{n}=excluded.{n}" for n in others) if others else "DO NOTHING"
            )
            self.conflict = f" ON CONFLICT ({','.join(keys)}) {action}"
        self.insert = self.into + row + self.conflict
        self.copy = f'COPY "{physical}" ({",".join(names)}) FROM STDIN'
        self._dbapi: Any = conn.connection.driver_connection
        assert self._dbapi is not None
        self._cache_size: int | None = None
        self._deferred: list[str] = []
        self._row = row
        self._per_statement = 1
        if self.sqlite:
            # Key indexes of large tables are written in random order: with SQLite's default 2 MB
            # page cache each insert re-reads index pages. A larger cache for this load (memory
            # is taken only as pages are used) keeps 1,000,000-row loads at their small-table rate.
            self._cache_size = int(self._dbapi.execute("PRAGMA cache_size").fetchone()[0])
            self._dbapi.execute(f"PRAGMA cache_size = {LOAD_CACHE_KIB}")
            variables = self._dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self._per_statement = max(1, min(ROWS_PER_INSERT, variables // len(fields)))
        self._multi = self.into + ",".join([row] * self._per_statement) + self.conflict

    def close(self) -> None:
        if self._cache_size is not None:
            self._dbapi.execute(f"PRAGMA cache_size = {self._cache_size}")

    def delete_all(self) -> int:
        return int(self.conn.execute(text(f'DELETE FROM "{self.physical}"')).rowcount or 0)

    def is_empty(self) -> bool:
        return self.conn.execute(text(f'SELECT 1 FROM "{self.physical}" LIMIT 1')).first() is None

    def defer_indexes(self) -> None:
        """SQLite, loading into an empty table: drop its indexes now and build them after the rows
        (:meth:`restore_indexes`). Building an index from sorted keys costs far less than inserting
        a million random keys one by one. Inside the load's savepoint, so a failed load gets them
        back on rollback; the rows cannot break the unique key (the validator refuses keys
        repeated in the input, and the table is empty)."""
        if not self.sqlite:
            return
        found = self._dbapi.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (self.physical,),
        ).fetchall()
        for name, sql in found:
            self._dbapi.execute(f'DROP INDEX "{name}"')
            self._deferred.append(sql)
        if found:
            # Nothing is stored to conflict with: a plain insert (ON CONFLICT needs the index).
            self.insert = self.into + self._row
            self._multi = self.into + ",".join([self._row] * self._per_statement)

    def restore_indexes(self) -> None:
        for sql in self._deferred:
            self._dbapi.execute(sql)
        self._deferred.clear()

    def write(self, chunk: list[tuple[Any, ...]]) -> None:
        if self.sqlite:
            per = self._per_statement
            whole = len(chunk) - len(chunk) % per if per > 1 else 0
            if whole:
                self._dbapi.executemany(
                    self._multi,
                    [tuple(chain.from_iterable(chunk[i : i + per])) for i in range(0, whole, per)],
                )
            if whole < len(chunk):
                self._dbapi.executemany(self.insert, chunk[whole:])
            return
        with self._dbapi.cursor() as cursor:
            if self.mode == "upsert":
                cursor.executemany(self.insert, chunk)
            else:
                with cursor.copy(self.copy) as copy:
                    for row in chunk:
                        copy.write_row(row)


# ----------------------------------------------------------------- reading


def _filter_shape(
    fields: Sequence[FieldSpec], filters: Mapping[str, Any] | None
) -> tuple[tuple[tuple[str, str], ...], dict[str, Any]]:
    """Each filter as (field, how it compares: prefix, null or equal) and the bound values.

    The shape, not the values, decides the statement: a hot reader asks the same shape with
    other values, and then reuses one statement object (building one costs more than running it).
    """
    shape: list[tuple[str, str]] = []
    params: dict[str, Any] = {}
    by_name = {f.name: f for f in fields}
    for position, (name, value) in enumerate((filters or {}).items()):
        spec = by_name.get(name)
        if spec is None:
            raise InvalidInput(f"未知的信息项：{name}", details={"field": name})
        bound = f"f{position}"
        if isinstance(value, str) and value.endswith("*") and spec.type == "string":
            shape.append((name, "prefix"))
            params[bound] = value[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            continue
        if value is None:
            shape.append((name, "null"))
            continue
        try:
            converted = _filter_converter(spec.name, spec.type)(value)
        except Bad as bad:
            raise InvalidInput(f"筛选条件 {spec.label}{bad.reason}", details={"field": name}) from None
        shape.append((name, "equal"))
        params[bound] = converted
    return tuple(shape), params


@lru_cache(maxsize=1024)
def _filter_converter(name: str, field_type: FieldType) -> Callable[[Any], Any]:
    # The field's type conversion only (a filter need not pass the field's format check).
    return make_converter(FieldSpec(name=name, type=field_type), "python")


def _conditions(table: Any, shape: tuple[tuple[str, str], ...]) -> list[Any]:
    conditions: list[Any] = []
    for position, (name, how) in enumerate(shape):
        column = table.c[name]
        if how == "prefix":
            conditions.append(column.like(bindparam(f"f{position}"), escape="\\"))
        elif how == "null":
            conditions.append(column.is_(None))
        else:
            conditions.append(column == bindparam(f"f{position}", type_=column.type))
    return conditions


def _existing_table(
    db: Executor, table_name: str, fields: Sequence[FieldSpec], *, known: bool = False
) -> Any:
    physical = table_name_of(table_name)
    if not known and not _inspect(_connection(db)).has_table(physical):
        raise NotFound(f"数据表 {physical} 不存在", details={"table": physical})
    return _table_of(physical, tuple(fields))


@lru_cache(maxsize=1024)
def _table_of(physical: str, fields: tuple[FieldSpec, ...]) -> Table:
    # One Table object per table and field list: SQLAlchemy's statement cache keys on it, so a
    # hot reader (the gateway) compiles its queries once instead of on every call.
    return build_table(physical, fields)


def read_page(
    db: Executor,
    table_name: str,
    fields: Sequence[FieldSpec],
    *,
    filters: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
    limit: int = 100,
    after_row: int | None = None,
    known: bool = False,
) -> list[dict[str, Any]]:
    """One page of rows in load order, each with its ``_row`` (pass the last one as ``after_row``).

    ``filters`` maps a field name to a value (compared after the field's own conversion, so
    ``"2024/1/5"`` matches a date) or, for text fields, ``"prefix*"`` for a prefix match.
    ``columns`` picks fields (default: all). Values come back as stored; masking is the caller's.
    ``known``: the caller knows the table exists (recorded when it was loaded); skip the lookup.
    """
    physical = table_name_of(table_name)
    if not known and not _inspect(_connection(db)).has_table(physical):
        raise NotFound(f"数据表 {physical} 不存在", details={"table": physical})
    names = tuple(columns) if columns is not None else tuple(f.name for f in fields)
    shape, params = _filter_shape(fields, filters)
    query = _page_query(physical, tuple(fields), names, shape, after_row is not None)
    params["limit"] = max(1, min(int(limit), 10_000))
    if after_row is not None:
        params["after"] = int(after_row)
    return query.dicts(db, params)


@lru_cache(maxsize=4096)
def _page_query(
    physical: str,
    fields: tuple[FieldSpec, ...],
    names: tuple[str, ...],
    shape: tuple[tuple[str, str], ...],
    paged: bool,
) -> FastSelect:
    table = _table_of(physical, fields)
    unknown = [n for n in names if n not in table.c or n == ROW_COLUMN]
    if unknown:
        raise InvalidInput(f"未知的信息项：{'、'.join(unknown)}", details={"columns": unknown})
    query = select(table.c[ROW_COLUMN], *(table.c[n] for n in names)).where(*_conditions(table, shape))
    if paged:
        query = query.where(table.c[ROW_COLUMN] > bindparam("after"))
    return FastSelect(query.order_by(table.c[ROW_COLUMN]).limit(bindparam("limit")))


def count_rows(
    db: Executor,
    table_name: str,
    fields: Sequence[FieldSpec] | None = None,
    *,
    filters: Mapping[str, Any] | None = None,
) -> int:
    """How many rows the table holds (matching ``filters`` when given; they need ``fields``)."""
    if filters:
        if fields is None:
            raise ValueError("filters need fields")
        table = _existing_table(db, table_name, fields)
        shape, params = _filter_shape(fields, filters)
        query = select(func.count()).select_from(table).where(*_conditions(table, shape))
        return int(_connection(db).execute(query, params).scalar_one())
    physical = table_name_of(table_name)
    conn = _connection(db)
    if not _inspect(conn).has_table(physical):
        raise NotFound(f"数据表 {physical} 不存在", details={"table": physical})
    return _count(conn, physical)
