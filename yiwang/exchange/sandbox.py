"""The exchange's sandbox: 可用不可见 — data is usable but not visible.

A buyer holding a sandbox contract sends SQL; only aggregates over at least ``k`` distinct
source records may ever leave. This module is the whole engine and knows nothing about the
platform's database: it writes a DuckDB file from rows (:func:`build_database`), describes it
(:func:`schema`) and answers one query at a time (:func:`run_query`).

Why it is built this way:

* **Parse, never pattern-match.** The query is parsed with sqlglot (dialect ``duckdb``) and
  checked against an *allow-list* of node types: whatever the list does not name is refused, so
  a DuckDB feature we never thought of cannot slip through. The grammar is deliberately small:
  one SELECT level over base tables with JOIN, WHERE, GROUP BY, HAVING, ORDER BY and LIMIT.
* **Execute what was checked.** Columns are qualified by sqlglot against the real schema and the
  *rewritten tree* is what DuckDB runs, so the checker and the engine cannot disagree about which
  table a column comes from.
* **k-anonymity by rewrite.** For every table occurrence the rewrite adds a hidden
  ``COUNT(DISTINCT alias.__rid)`` (plain ``COUNT(*)`` when one table is queried alone, where
  rows are records); a group leaves only if every such count is at least ``k``. Counting
  distinct source records (not joined rows) defeats self-joins and cross joins that multiply
  one record into many rows. ORDER BY and LIMIT run afterwards, on the released groups.
* **What k does not stop.** Inference across queries and within one: differencing two
  queries, a CASE inside an aggregate singling out one record, the ``suppressed`` count, and
  errors or time-outs as yes/no signals. Those need the caller's audit log and query budgets
  (or noise); this module makes each single answer safe, not every sequence of answers.
* **Defence in depth.** DuckDB itself runs with external access disabled (no files, no network,
  no extensions), one thread, a memory cap, its configuration locked, and a timer that interrupts
  it. Even a parser slip cannot read a file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify

from yiwang.kit.errors import PlatformError

HIDDEN_COLUMN = "__rid"
"""The hidden record id every table carries; the k-count is ``COUNT(DISTINCT alias.__rid)``."""

RESERVED_PREFIX = "__"
"""Names starting with this belong to the sandbox (the record id, the rewrite's own aliases)."""

MAX_SQL_CHARS = 20_000
"""Longer queries are refused before parsing: no analysis needs them, and deep nesting is costly."""

_CATALOG = "__sandbox"  # the attach name of the database file inside the throw-away engine
_GROUPS = "__groups"  # the temporary table holding every group with its k-count
_COUNT = "__n"  # the column of that table holding the smallest distinct-record count
_PERSONAL_TAG = "yiwang:personal"  # the column comment that marks personal information in the file
_BATCH_ROWS = 65_536
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?$")


# --------------------------------------------------------------------------------------------
# Public shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a sandbox table; ``type`` is a DuckDB type name (VARCHAR, BIGINT, DECIMAL(18,2)…)."""

    name: str
    type: str


@dataclass(frozen=True)
class TableSpec:
    """A sandbox table: its columns and which of them hold personal information."""

    name: str
    columns: tuple[Column, ...]
    personal: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Result:
    """What may leave the sandbox: the released groups, and how many groups were held back."""

    columns: list[str]
    rows: list[list[object]]
    suppressed: int


class SandboxRefused(PlatformError):
    """The sandbox said no: ``code`` is stable (tests and the API rely on it), ``message`` is
    Chinese and says what is wrong and what is allowed."""

    code = "sandbox_refused"
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


# --------------------------------------------------------------------------------------------
# Building a sandbox database
# --------------------------------------------------------------------------------------------


def build_database(path: Path, tables: Sequence[tuple[TableSpec, Iterable[Sequence[object]]]]) -> None:
    """Write a DuckDB file holding ``tables``, each with the hidden record-id column added.

    The file appears atomically (written beside ``path``, then renamed), so a query never sees
    half a dataset and a failed load leaves the previous file untouched. Rows travel through
    Arrow in batches: Python only transposes them, DuckDB does the typed insert. Bad specs or
    rows raise ``ValueError`` naming the table, column or row at fault.
    """
    _check_specs([spec for spec, _ in tables])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        conn = duckdb.connect(str(tmp))
        try:
            for spec, rows in tables:
                _create_table(conn, spec)
                _load_rows(conn, spec, rows)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _check_specs(specs: Sequence[TableSpec]) -> None:
    """Refuse specs the sandbox could not serve safely: reserved or duplicate names (DuckDB
    names are case-insensitive), personal columns that do not exist, odd type strings (they go
    into DDL verbatim, so only plain type names with optional precision are accepted)."""
    _check_names("表", [spec.name for spec in specs])
    for spec in specs:
        if not spec.columns:
            raise ValueError(f"表 {spec.name} 没有列")
        _check_names(f"表 {spec.name} 的列", [column.name for column in spec.columns])
        for column in spec.columns:
            if not _TYPE_NAME.match(column.type):
                raise ValueError(f"表 {spec.name} 列 {column.name} 的类型 {column.type!r} 无法识别")
        unknown = {name.lower() for name in spec.personal} - {c.name.lower() for c in spec.columns}
        if unknown:
            raise ValueError(f"表 {spec.name} 的个人信息列不存在：{', '.join(sorted(unknown))}")


def _check_names(what: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not name or not name.strip() or "\x00" in name:
            raise ValueError(f"{what}名不能为空")
        if name.startswith(RESERVED_PREFIX):
            raise ValueError(f"{what}名 {name} 以 {RESERVED_PREFIX} 开头，这类名称保留给沙箱")
        if name.lower() in seen:
            raise ValueError(f"{what}名 {name} 重复（不区分大小写）")
        seen.add(name.lower())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_table(conn: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    columns = ", ".join(f"{_quote(c.name)} {c.type}" for c in spec.columns)
    try:
        conn.execute(f"CREATE TABLE {_quote(spec.name)} ({_quote(HIDDEN_COLUMN)} BIGINT NOT NULL, {columns})")
    except duckdb.Error as error:
        raise ValueError(f"表 {spec.name} 无法创建：{_first_line(error)}") from error
    personal = {name.lower() for name in spec.personal}
    for column in spec.columns:
        if column.name.lower() in personal:
            target = f"{_quote(spec.name)}.{_quote(column.name)}"
            conn.execute(f"COMMENT ON COLUMN {target} IS {_string(_PERSONAL_TAG)}")


def _load_rows(conn: duckdb.DuckDBPyConnection, spec: TableSpec, rows: Iterable[Sequence[object]]) -> None:
    """Insert ``rows`` batch by batch; the record id is the row's position (0, 1, 2…)."""
    for offset, batch in _batches(rows):
        arrow = _arrow_batch(spec, batch, offset)
        conn.register("__batch", arrow)
        try:
            conn.execute(f"INSERT INTO {_quote(spec.name)} SELECT * FROM __batch")
        except duckdb.Error as error:
            where = f"第 {offset + 1}–{offset + len(batch)} 行"
            raise ValueError(f"表 {spec.name} {where}的数据无法装入：{_first_line(error)}") from error
        finally:
            conn.unregister("__batch")


def _batches(rows: Iterable[Sequence[object]]) -> Iterator[tuple[int, list[Sequence[object]]]]:
    iterator = iter(rows)
    offset = 0
    while batch := list(itertools.islice(iterator, _BATCH_ROWS)):
        yield offset, batch
        offset += len(batch)


def _arrow_batch(spec: TableSpec, batch: list[Sequence[object]], offset: int) -> pa.Table:
    """Transpose a batch into Arrow columns; Arrow infers each column's type and DuckDB casts it
    to the declared one on insert (so '2024-01-01' fills a DATE column)."""
    width = len(spec.columns)
    for number, row in enumerate(batch, start=offset + 1):
        if len(row) != width:
            raise ValueError(f"表 {spec.name} 第 {number} 行有 {len(row)} 个值，应为 {width} 个")
    arrays = [pa.array(range(offset, offset + len(batch)), type=pa.int64())]
    arrays += [_arrow_column(values) for values in zip(*batch, strict=True)]
    names = [HIDDEN_COLUMN] + [f"c{index}" for index in range(width)]
    return pa.Table.from_arrays(arrays, names=names)


def _arrow_column(values: Sequence[object]) -> pa.Array:
    """Values of one Python type go as they are; a mixture (numbers stored as text by another
    database, say) goes as text and DuckDB's cast to the declared type decides: a value that does
    not fit is reported then, with the rows it came from."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if value is None else str(value) for value in values], type=pa.string())


# --------------------------------------------------------------------------------------------
# Opening a sandbox database
# --------------------------------------------------------------------------------------------


def _open(path: Path, memory_limit_mb: int) -> duckdb.DuckDBPyConnection:
    """A throw-away in-memory DuckDB with the file attached read-only, then locked down.

    The file is attached into a fresh in-memory engine rather than opened directly because
    DuckDB shares one engine per file within a process and refuses a second one with other
    limits; every query gets its own engine and its own memory cap this way. External access is
    switched off only after the attach (the attach itself reads a file), then the configuration
    is locked so the query cannot switch anything back on.
    """
    if not path.is_file():
        raise FileNotFoundError(path)
    conn = duckdb.connect(
        ":memory:",
        config={
            "threads": 1,
            "memory_limit": f"{memory_limit_mb}MB",
            "temp_directory": "",  # never spill to disk: too much data is refused, not written
            "autoload_known_extensions": False,
            "autoinstall_known_extensions": False,
            "allow_community_extensions": False,
            # a data-dependent error is an oracle (it fires when one record matches): return NULL
            "error_on_division_by_zero": False,
        },
    )
    try:
        conn.execute(f"ATTACH {_string(str(path))} AS {_quote(_CATALOG)} (READ_ONLY)")
        conn.execute(f"USE {_quote(_CATALOG)}")
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
    except BaseException:
        conn.close()
        raise
    return conn


def schema(path: Path) -> list[TableSpec]:
    """The tables of a sandbox file as a buyer may see them: names, types, personal columns;
    never the hidden record-id column. Tables without it (not written by
    :func:`build_database`) are not part of the sandbox and are left out."""
    conn = _open(path, memory_limit_mb=64)
    try:
        return _read_schema(conn)
    finally:
        conn.close()


def _read_schema(conn: duckdb.DuckDBPyConnection) -> list[TableSpec]:
    rows = conn.execute(
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = 'main' "
        "AND table_oid IN (SELECT table_oid FROM duckdb_tables() WHERE database_name = ?) "
        "ORDER BY table_oid, column_index",
        [_CATALOG, _CATALOG],
    ).fetchall()
    specs: list[TableSpec] = []
    for table, group in itertools.groupby(rows, key=lambda row: str(row[0])):
        members = list(group)
        if HIDDEN_COLUMN not in {str(row[1]).lower() for row in members}:
            continue
        visible = [row for row in members if str(row[1]).lower() != HIDDEN_COLUMN]
        columns = tuple(Column(str(row[1]), str(row[2])) for row in visible)
        personal = frozenset(str(row[1]) for row in visible if row[3] == _PERSONAL_TAG)
        specs.append(TableSpec(table, columns, personal))
    return specs


# --------------------------------------------------------------------------------------------
# The allow-list: what a sandbox query may be made of
# --------------------------------------------------------------------------------------------

_AGGREGATES: dict[type[exp.Expr], str] = {
    exp.Count: "COUNT",
    exp.Sum: "SUM",
    exp.Avg: "AVG",
    exp.Min: "MIN",
    exp.Max: "MAX",
    exp.Median: "MEDIAN",
    exp.Stddev: "STDDEV",
    exp.StddevPop: "STDDEV_POP",
    exp.StddevSamp: "STDDEV_SAMP",
    exp.Variance: "VARIANCE/VAR_SAMP",
    exp.VariancePop: "VAR_POP",
}
_AGGREGATE_TYPES = tuple(_AGGREGATES)

_SCALAR_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Abs: "ABS",
    exp.Round: "ROUND",
    exp.Floor: "FLOOR",
    exp.Ceil: "CEIL",
    exp.Greatest: "GREATEST",
    exp.Least: "LEAST",
    exp.Coalesce: "COALESCE",
    exp.Nullif: "NULLIF",
    exp.If: "IF",
    exp.Case: "CASE",
    exp.Cast: "CAST",
    exp.TryCast: "TRY_CAST",
    exp.Lower: "LOWER",
    exp.Upper: "UPPER",
    exp.Length: "LENGTH",
    exp.Substring: "SUBSTRING",
    exp.Trim: "TRIM",
    exp.Concat: "CONCAT",
    exp.Left: "LEFT",
    exp.Right: "RIGHT",
    exp.StartsWith: "STARTS_WITH",
    exp.Year: "YEAR",
    exp.Quarter: "QUARTER",
    exp.Month: "MONTH",
    exp.Day: "DAY",
    exp.Extract: "EXTRACT",
    exp.DateTrunc: "DATE_TRUNC",
    exp.TimestampTrunc: "DATE_TRUNC",
    exp.DateDiff: "DATE_DIFF",
    exp.CurrentDate: "CURRENT_DATE",
}

_OPERATORS: tuple[type[exp.Expr], ...] = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.IntDiv,
    exp.Mod,
    exp.Neg,
    exp.Paren,
    exp.DPipe,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
)

_LEAVES: tuple[type[exp.Expr], ...] = (
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Identifier,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.Column,
    exp.Alias,
)

# Clause nodes, with the only arguments each may carry: anything else (SAMPLE on a table, a
# time-travel version, ROLLUP, ASOF match conditions…) is refused without having to be known.
_CLAUSES: dict[type[exp.Expr], frozenset[str]] = {
    exp.From: frozenset({"this"}),
    exp.Join: frozenset({"this", "on", "using", "kind", "side"}),
    exp.Table: frozenset({"this", "alias", "db", "catalog"}),
    exp.TableAlias: frozenset({"this"}),
    exp.Column: frozenset({"this", "table"}),
    exp.Where: frozenset({"this"}),
    exp.Group: frozenset({"expressions"}),
    exp.Having: frozenset({"this"}),
    exp.Order: frozenset({"expressions"}),
    exp.Ordered: frozenset({"this", "desc", "nulls_first"}),
    exp.Limit: frozenset({"expression"}),
    exp.Offset: frozenset({"expression"}),
}
_CLAUSE_MESSAGES: dict[type[exp.Expr], dict[str, str]] = {
    exp.Group: dict.fromkeys(
        ("all", "rollup", "cube", "grouping_sets", "totals"),
        "不支持 GROUP BY ALL/ROLLUP/CUBE/GROUPING SETS，请逐个列出分组键",
    ),
    exp.Table: {"sample": "不支持 SAMPLE 抽样", "version": "不支持按时间或版本查询表"},
    exp.TableAlias: {"columns": "表别名不能重命名列"},
    exp.Column: dict.fromkeys(("db", "catalog"), "列只能写成 列名 或 表别名.列名"),
}
_SELECT_ARGS = frozenset(
    {"expressions", "distinct", "from_", "joins", "where", "group", "having", "order", "limit", "offset"}
)
_SINGLE_ARGUMENT_AGGREGATE = frozenset({"this", "big_int"})

_ONE_LEVEL = (
    "只允许一层聚合查询：SELECT 聚合… FROM 表 [JOIN 表 ON …] [WHERE …] [GROUP BY …] [HAVING …] "
    "[ORDER BY …] [LIMIT …]"
)
_NESTED: tuple[type[exp.Expr], ...] = (exp.Subquery, exp.Select, exp.SetOperation, exp.With, exp.CTE)
_NESTED += (exp.Exists, exp.Lateral, exp.Unnest, exp.Values)
_WINDOWED = (exp.Window, exp.WindowSpec, exp.Qualify)
_SELECT_ARG_MESSAGES = {
    "with_": "不支持 WITH（CTE）",
    "qualify": "不支持 QUALIFY 和窗口函数",
    "windows": "不支持窗口（WINDOW）定义",
    "sample": "不支持 SAMPLE 抽样",
    "laterals": "不支持 LATERAL",
    "pivots": "不支持 PIVOT/UNPIVOT",
    "into": "不支持 SELECT INTO",
}


def _refuse(code: str, message: str) -> SandboxRefused:
    return SandboxRefused(code, message)


def _allowed_functions() -> str:
    names = sorted(set(_AGGREGATES.values())) + sorted(set(_SCALAR_FUNCTIONS.values()))
    return "、".join(names)


# --------------------------------------------------------------------------------------------
# Planning: parse, check, qualify, rewrite
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One table occurrence in FROM/JOIN: its alias in the query and the table it reads."""

    alias: str
    table: str


@dataclass(frozen=True)
class _Plan:
    """A checked query, rewritten: ``inner`` computes every group with its k-count; ``order``,
    ``limit`` and ``offset`` apply to the released groups only."""

    columns: list[str]
    inner: exp.Select
    order: list[exp.Ordered]
    limit: int | None
    offset: int | None


def _plan(sql: str, tables: Sequence[TableSpec], personal: Mapping[str, frozenset[str]]) -> _Plan:
    """Check ``sql`` against the rules and rewrite it; raises :class:`SandboxRefused`."""
    tree = _parse(sql)
    _check_nodes(tree)
    known = {spec.name.lower(): spec for spec in tables}
    _check_sources(tree, known)
    _check_raw_rows(tree)
    names = [_output_name(projection) for projection in tree.expressions]
    qualified = _qualify(tree, tables)
    sources = _sources(qualified)
    _check_nodes(qualified)  # qualification may add nodes (USING → ON, COALESCE): check them too
    _check_personal(qualified, sources, _personal_columns(tables, personal))
    outputs = [projection.unalias() for projection in qualified.expressions]
    keys = list(qualified.args["group"].expressions) if qualified.args.get("group") else []
    for name, output in zip(names, outputs, strict=True):
        _check_grouped(output, keys, name)
    aliases = [projection.alias_or_name for projection in qualified.expressions]
    order, hidden_sorts = _map_order(qualified, outputs, aliases, keys)
    inner = _rewrite(qualified, outputs, hidden_sorts, sources)
    return _Plan(
        columns=names,
        inner=inner,
        order=order,
        limit=_integer(qualified.args.get("limit"), "LIMIT"),
        offset=_integer(qualified.args.get("offset"), "OFFSET"),
    )


def _parse(sql: str) -> exp.Select:
    """Exactly one statement, and it must be a plain SELECT."""
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse("too_large", f"查询语句过长（超过 {MAX_SQL_CHARS} 个字符）")
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except (SqlglotError, RecursionError) as error:
        raise _refuse("parse_error", f"SQL 无法解析：{_first_line(error)}") from error
    if len(statements) != 1:
        raise _refuse("parse_error", f"只能提交一条 SQL 语句，收到 {len(statements)} 条")
    statement = statements[0]
    if isinstance(statement, exp.Select):
        return statement
    if isinstance(statement, _NESTED):
        raise _refuse("forbidden_construct", f"不支持 UNION/INTERSECT/EXCEPT 和括号子查询：{_ONE_LEVEL}")
    # the first word only names the statement in the message; the decision above is the parser's
    raise _refuse("not_select", f"只允许 SELECT 查询，收到的是 {sql.split()[0].upper()} 语句")


def _check_nodes(tree: exp.Select) -> None:
    """Walk every node against the allow-list; the first node not on it refuses the query."""
    _check_args(tree, _SELECT_ARGS, _SELECT_ARG_MESSAGES)
    distinct = tree.args.get("distinct")  # SELECT DISTINCT: refused by the raw-rows check, with its reason
    for node in tree.walk():
        if node is not tree and node is not distinct:
            _check_node(node)


def _check_args(node: exp.Expr, allowed: frozenset[str], messages: Mapping[str, str]) -> None:
    for key, value in node.args.items():
        if key not in allowed and value not in (None, False, [], ""):
            reason = messages.get(key, f"不支持 {node.key.upper()} 的 {key.upper()} 部分")
            code = "forbidden_construct"
            raise _refuse(code, f"{reason}：{_ONE_LEVEL}")


def _check_node(node: exp.Expr) -> None:
    if isinstance(node, exp.Identifier) and node.name.startswith(RESERVED_PREFIX):
        raise _refuse(
            "hidden_column",
            f"名称 {node.name} 以 {RESERVED_PREFIX} 开头，保留给沙箱（如记录编号列 {HIDDEN_COLUMN}）"
            "，不能引用",
        )
    if isinstance(node, _NESTED):
        raise _refuse("forbidden_construct", f"不支持子查询、WITH、UNION、LATERAL、VALUES：{_ONE_LEVEL}")
    if isinstance(node, _WINDOWED):
        raise _refuse("forbidden_construct", f"不支持窗口函数（OVER）和 QUALIFY：{_ONE_LEVEL}")
    if isinstance(node, exp.TableColumn):
        raise _refuse("raw_rows", "不能把表名当作值使用（那会取出整行记录）：只能输出聚合值和分组键")
    if isinstance(node, exp.TableSample):
        raise _refuse("forbidden_construct", f"不支持 SAMPLE 抽样：{_ONE_LEVEL}")
    if type(node) in _CLAUSES:
        _check_args(node, _CLAUSES[type(node)], _CLAUSE_MESSAGES.get(type(node), {}))
        _check_clause(node)
    elif isinstance(node, _AGGREGATE_TYPES):
        _check_args(node, _SINGLE_ARGUMENT_AGGREGATE, {})
    elif isinstance(node, exp.Star):
        _check_star(node)
    elif isinstance(node, exp.Distinct):
        _check_distinct(node)
    elif isinstance(node, exp.Var):
        _check_var(node)
    elif type(node) in _SCALAR_FUNCTIONS or isinstance(node, _OPERATORS + _LEAVES):
        return
    elif isinstance(node, exp.Func):
        name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        raise _refuse(
            "forbidden_function", f"函数 {name.upper()} 不在允许列表中；允许的函数：{_allowed_functions()}"
        )
    else:
        raise _refuse("forbidden_construct", f"不支持的语法 {node.key.upper()}：{_ONE_LEVEL}")


def _check_clause(node: exp.Expr) -> None:
    if isinstance(node, exp.Join):
        method = str(node.args.get("method") or "").upper()
        kind = str(node.args.get("kind") or "").upper()
        if method or kind not in ("", "INNER", "OUTER", "CROSS"):
            raise _refuse(
                "forbidden_construct",
                f"不支持 {method or kind} JOIN；可用 [INNER] JOIN、LEFT/RIGHT/FULL [OUTER] JOIN、CROSS JOIN",
            )
    if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
        function = node.this
        name = function.name if isinstance(function, exp.Anonymous) else function.key
        if isinstance(function, exp.Func) and not isinstance(function, exp.Anonymous):
            name = function.sql_name()
        raise _refuse("forbidden_function", f"FROM 中不能使用表函数 {name.upper()}；只能查询沙箱中的表")


def _check_star(node: exp.Expr) -> None:
    """``*`` is allowed only as ``COUNT(*)``; in the output list it means raw rows."""
    parent = node.parent
    if isinstance(parent, exp.Count) and node.arg_key == "this" and not node.args.get("except_"):
        return
    if (
        isinstance(parent, exp.Select)
        or isinstance(parent, exp.Column)
        and isinstance(parent.parent, exp.Select)
    ):
        raise _refuse("raw_rows", "不能输出原始记录（SELECT *）：只能输出聚合值，如 COUNT(*)、AVG(列)")
    raise _refuse("forbidden_construct", "* 只能用在 COUNT(*) 中")


def _check_distinct(node: exp.Distinct) -> None:
    if not isinstance(node.parent, exp.Count) or len(node.expressions) != 1 or node.args.get("on"):
        raise _refuse("forbidden_construct", "DISTINCT 只能以 COUNT(DISTINCT 列) 的形式使用")


def _check_var(node: exp.Expr) -> None:
    """Bare words are only date-part units (EXTRACT(YEAR FROM d), INTERVAL 1 DAY…)."""
    if not isinstance(
        node.parent, exp.Extract | exp.Interval | exp.DateTrunc | exp.TimestampTrunc | exp.DateDiff
    ):
        raise _refuse("forbidden_construct", f"不支持的写法 {node.name}：{_ONE_LEVEL}")


def _check_sources(tree: exp.Select, known: Mapping[str, TableSpec]) -> None:
    """FROM and every JOIN name one sandbox table, each occurrence under its own alias."""
    if not tree.args.get("from_"):
        raise _refuse("forbidden_construct", f"查询必须有 FROM 表：{_ONE_LEVEL}")
    aliases: set[str] = set()
    listing = "、".join(spec.name for spec in known.values()) or "（无）"
    for table in _tables(tree):
        if table.args.get("db") or table.args.get("catalog") or table.name.lower() not in known:
            raise _refuse("unknown_table", f"表 {_show(table)} 不存在；可查询的表：{listing}")
        alias = table.alias_or_name.lower()
        if alias in aliases:
            raise _refuse("invalid_sql", f"表别名 {alias} 重复：同一张表出现多次时请给每次起不同的别名")
        aliases.add(alias)


def _tables(tree: exp.Select) -> list[exp.Table]:
    found = [tree.args["from_"].this] + [join.this for join in tree.args.get("joins") or []]
    for source in found:
        if not isinstance(source, exp.Table):
            raise _refuse("forbidden_construct", f"FROM/JOIN 只能是沙箱中的表：{_ONE_LEVEL}")
    return found


def _check_raw_rows(tree: exp.Select) -> None:
    """A query whose outputs hold no aggregate releases records, not statistics."""
    if not any(projection.find(*_AGGREGATE_TYPES) for projection in tree.expressions):
        raise _refuse(
            "raw_rows",
            "不能输出原始记录：每个输出列必须是聚合值（COUNT、SUM、AVG、MIN、MAX 等）或 GROUP BY 的分组键，"
            "且至少有一个聚合值",
        )
    if tree.args.get("distinct"):
        raise _refuse("forbidden_construct", "SELECT DISTINCT 不需要：分组结果本身不重复，请用 GROUP BY")


def _output_name(projection: exp.Expr) -> str:
    if isinstance(projection, exp.Alias | exp.Column):
        return projection.alias_or_name
    return projection.sql(dialect="duckdb")


def _qualify(tree: exp.Select, tables: Sequence[TableSpec]) -> exp.Select:
    """Resolve every column to its table alias (and GROUP BY / ORDER BY positions and aliases to
    expressions) against the real schema, so later checks know exactly what each column is."""
    mapping: dict[str, object] = {spec.name: {c.name: "UNKNOWN" for c in spec.columns} for spec in tables}
    try:
        qualified = qualify(
            tree.copy(),
            schema=mapping,
            dialect="duckdb",
            validate_qualify_columns=True,
            quote_identifiers=True,
        )
    except (OptimizeError, SqlglotError) as error:
        raise _refuse("invalid_sql", f"查询有误：{_translate_qualify_error(error)}") from error
    if not isinstance(qualified, exp.Select):
        raise _refuse("forbidden_construct", _ONE_LEVEL)
    return qualified


def _translate_qualify_error(error: Exception) -> str:
    text = _first_line(error)
    match = re.match(r"Column '([^']*)' could not be resolved", text)
    if match:
        return f"列 {match.group(1)} 不存在，或在多张表中都有而未写明表名"
    return text


def _sources(qualified: exp.Select) -> list[_Source]:
    return [_Source(table.alias_or_name.lower(), table.name.lower()) for table in _tables(qualified)]


def _personal_columns(
    tables: Sequence[TableSpec], extra: Mapping[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Personal columns per table: those marked in the file *and* those the caller adds; a caller
    can mark more columns personal, never fewer."""
    marked = {spec.name.lower(): {name.lower() for name in spec.personal} for spec in tables}
    for table, columns in extra.items():
        marked.setdefault(table.lower(), set()).update(name.lower() for name in columns)
    return {table: frozenset(columns) for table, columns in marked.items()}


def _check_personal(
    qualified: exp.Select, sources: list[_Source], personal: Mapping[str, frozenset[str]]
) -> None:
    """Personal columns may only be counted (COUNT(col), COUNT(DISTINCT col)) or used to link
    tables (``a.col = b.col`` in a JOIN condition): never shown, filtered on, grouped by or
    computed with."""
    table_of = {source.alias: source.table for source in sources}
    for column in qualified.find_all(exp.Column):
        table = table_of.get(column.table.lower())
        if table is None and not column.find_ancestor(exp.Order):  # ORDER BY may name an output
            raise _refuse("invalid_sql", f"查询有误：无法确定列 {_show(column)} 来自哪张表")
        if table is None or column.name.lower() not in personal.get(table, frozenset()):
            continue
        if _counted(column) or _join_key(column):
            continue
        reason = "不能按个人信息列分组" if column.find_ancestor(exp.Group) else "个人信息列不能直接使用"
        raise _refuse(
            "personal_data",
            f"{reason}：{column.table}.{column.name} 是个人信息，只能用于 COUNT(*)、"
            f"COUNT(DISTINCT {column.name}) 或表间等值连接（JOIN … ON a.{column.name} = b.{column.name}）",
        )


def _counted(column: exp.Column) -> bool:
    """``COUNT(col)`` or ``COUNT(DISTINCT col)`` (the node check keeps DISTINCT to one column)."""
    parent = column.parent
    if isinstance(parent, exp.Distinct):
        parent = parent.parent
    return isinstance(parent, exp.Count)


def _join_key(column: exp.Column) -> bool:
    """``a.col = b.col`` as a conjunct (possibly in parentheses) of a JOIN's ON condition."""
    comparison = column.parent
    if not isinstance(comparison, exp.EQ):
        return False
    if not (isinstance(comparison.this, exp.Column) and isinstance(comparison.expression, exp.Column)):
        return False
    node: exp.Expr | None = comparison.parent
    child: exp.Expr = comparison
    while isinstance(node, exp.And | exp.Paren):
        child, node = node, node.parent
    return isinstance(node, exp.Join) and child.arg_key == "on"


def _check_grouped(expression: exp.Expr, keys: Sequence[exp.Expr], name: str) -> None:
    """An output may only combine aggregates and GROUP BY keys; a bare column is a record."""
    column = _ungrouped_column(expression, keys)
    if column is not None:
        raise _refuse(
            "raw_rows",
            f"输出 {name} 中的 {_show(column)} 既不在聚合函数内，也不是 GROUP BY 的分组键："
            "只能输出聚合值和分组键",
        )


def _ungrouped_column(expression: exp.Expr, keys: Sequence[exp.Expr]) -> exp.Column | None:
    if any(expression == key for key in keys) or isinstance(expression, _AGGREGATE_TYPES):
        return None
    if isinstance(expression, exp.Column):
        return expression
    for child in expression.iter_expressions():
        found = _ungrouped_column(child, keys)
        if found is not None:
            return found
    return None


def _map_order(
    qualified: exp.Select, outputs: list[exp.Expr], aliases: list[str], keys: list[exp.Expr]
) -> tuple[list[exp.Ordered], list[exp.Expr]]:
    """Point every ORDER BY term at an output column (``__c{i}``) or, when it orders by something
    not shown (``ORDER BY COUNT(*) DESC``), at a hidden sort column (``__s{j}``) that passes the
    same checks as an output. Ordering then runs on the released groups only."""
    order: list[exp.Ordered] = []
    hidden: list[exp.Expr] = []
    terms = qualified.args["order"].expressions if qualified.args.get("order") else []
    for term in terms:
        target = term.this
        index = _output_index(target, outputs, aliases)
        if index is not None:
            reference = f"__c{index}"
        else:
            if not target.find(exp.Column, *_AGGREGATE_TYPES):
                continue  # ordering by a constant changes nothing
            _check_grouped(target, keys, f"ORDER BY {_show(target)}")
            reference = f"__s{len(hidden)}"
            hidden.append(target)
        ordered = term.copy()
        ordered.set("this", exp.column(reference, quoted=True))
        order.append(ordered)
    return order, hidden


def _output_index(target: exp.Expr, outputs: list[exp.Expr], aliases: list[str]) -> int | None:
    if isinstance(target, exp.Column) and not target.table and target.name in aliases:
        return aliases.index(target.name)
    for index, output in enumerate(outputs):
        if target == output:
            return index
    return None


def _rewrite(
    qualified: exp.Select, outputs: list[exp.Expr], sorts: list[exp.Expr], sources: list[_Source]
) -> exp.Select:
    """The aggregate query with outputs renamed ``__c{i}``, hidden sort keys ``__s{j}`` and the
    smallest distinct-record count over all table occurrences as ``__n``; ORDER BY and LIMIT move
    to the outer query so they see released groups only."""
    inner = qualified.copy()
    for key in ("order", "limit", "offset", "distinct"):
        inner.set(key, None)
    projections = [exp.alias_(o.copy(), f"__c{i}", quoted=True) for i, o in enumerate(outputs)]
    projections += [exp.alias_(s.copy(), f"__s{j}", quoted=True) for j, s in enumerate(sorts)]
    inner.set("expressions", [*projections, exp.alias_(_smallest_count(sources), _COUNT, quoted=True)])
    # A failed cast that depends on the data would tell whether one record exists: make it NULL.
    for cast in list(inner.find_all(exp.Cast)):
        if type(cast) is exp.Cast:
            cast.replace(exp.TryCast(**cast.args))
    return inner


def _smallest_count(sources: list[_Source]) -> exp.Expr:
    """The fewest distinct records any table occurrence contributes to a group."""
    if len(sources) == 1:  # one table, no join: every row is its own record, and COUNT(*) is cheaper
        return exp.Count(this=exp.Star())
    counts = [
        exp.Count(this=exp.Distinct(expressions=[exp.column(HIDDEN_COLUMN, table=s.alias, quoted=True)]))
        for s in sources
    ]
    return exp.Least(this=counts[0], expressions=counts[1:])


def _integer(clause: exp.Expr | None, name: str) -> int | None:
    if clause is None:
        return None
    value = clause.args.get("expression")
    if not (
        isinstance(value, exp.Literal)
        and not value.is_string
        and value.this.isascii()
        and value.this.isdigit()
    ):
        raise _refuse("forbidden_construct", f"{name} 只能是非负整数")
    return int(value.this)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def run_query(
    path: Path,
    sql: str,
    *,
    k: int = 10,
    personal: Mapping[str, frozenset[str]] | None = None,
    timeout_seconds: float = 5.0,
    memory_limit_mb: int = 256,
    max_rows: int = 10_000,
) -> Result:
    """Run a buyer's query on the sandbox file at ``path`` and return only what may leave.

    ``personal`` (table → column names) marks columns personal in addition to those marked in the
    file. Groups backed by fewer than ``k`` distinct records of any table occurrence are dropped
    and counted in ``Result.suppressed``. Every refusal, including errors DuckDB raises on the
    query, time-outs and results over ``max_rows``, is a :class:`SandboxRefused`.
    """
    if k < 1 or timeout_seconds <= 0 or memory_limit_mb < 16 or max_rows < 1:
        raise ValueError("k、max_rows 须 ≥ 1，timeout_seconds 须 > 0，memory_limit_mb 须 ≥ 16")
    conn = _open(path, memory_limit_mb)
    try:
        plan = _plan(sql, _read_schema(conn), personal or {})
        return _execute(conn, plan, k=k, timeout_seconds=timeout_seconds, max_rows=max_rows)
    finally:
        conn.close()


def _execute(
    conn: duckdb.DuckDBPyConnection, plan: _Plan, *, k: int, timeout_seconds: float, max_rows: int
) -> Result:
    """Materialise every group once, count the suppressed ones, fetch the released ones ordered
    and limited; one timer covers all of it."""
    released = exp.column(_COUNT, quoted=True) >= exp.Literal.number(k)
    outputs = [exp.column(f"__c{i}", quoted=True) for i in range(len(plan.columns))]
    fetch = exp.select(*outputs).from_(exp.to_table(_GROUPS, quoted=True)).where(released)
    if plan.order:
        fetch = fetch.order_by(*plan.order)
    limit = max_rows + 1 if plan.limit is None else min(plan.limit, max_rows + 1)
    fetch = fetch.limit(limit)
    if plan.offset:
        fetch = fetch.offset(plan.offset)
    count = exp.select("COUNT(*)").from_(exp.to_table(_GROUPS, quoted=True)).where(exp.not_(released))
    timer = threading.Timer(timeout_seconds, conn.interrupt)
    timer.daemon = True
    timer.start()
    try:
        conn.execute(f"CREATE TEMP TABLE {_quote(_GROUPS)} AS {plan.inner.sql(dialect='duckdb')}")
        suppressed_row = conn.execute(count.sql(dialect="duckdb")).fetchone()
        rows = conn.execute(fetch.sql(dialect="duckdb")).fetchall()
    except duckdb.Error as error:
        raise _engine_refusal(error, timeout_seconds) from error
    finally:
        timer.cancel()
    if len(rows) > max_rows:
        raise _refuse("too_large", f"结果超过 {max_rows} 行：请加 LIMIT，或按更粗的维度分组")
    suppressed = int(suppressed_row[0]) if suppressed_row else 0
    return Result(
        columns=plan.columns, rows=[[_jsonable(v) for v in row] for row in rows], suppressed=suppressed
    )


def _engine_refusal(error: duckdb.Error, timeout_seconds: float) -> SandboxRefused:
    """Translate a DuckDB error into a refusal without echoing data.

    Errors about the query itself (names, types) are shown; errors that depend on the data
    (conversions, overflows) are not, because their text quotes the offending value.
    """
    if isinstance(error, duckdb.InterruptException):
        return _refuse("timeout", f"查询超过 {timeout_seconds:g} 秒未完成，已中止：请缩小范围或简化连接")
    if isinstance(error, duckdb.OutOfMemoryException):
        return _refuse("too_large", "查询所需内存超过沙箱上限：请加筛选条件、减少连接或按更粗的维度分组")
    if isinstance(error, duckdb.BinderException | duckdb.CatalogException | duckdb.ParserException):
        return _refuse("invalid_sql", f"查询有误：{_first_line(error)}")
    return _refuse("invalid_sql", "查询运行出错（如数值溢出或类型转换失败）；为免泄露数据，不显示出错的值")


def _show(node: exp.Expr) -> str:
    """A node as the buyer would write it (without the quotes qualification adds)."""
    shown = node.copy()
    for identifier in shown.find_all(exp.Identifier):
        identifier.set("quoted", False)
    return shown.sql(dialect="duckdb")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _jsonable(value: Any) -> object:
    """Values as JSON can carry them: dates and times as ISO strings, decimals as floats,
    non-finite floats as None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return _jsonable(float(value))
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return str(value)
