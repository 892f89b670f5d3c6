"""The sandbox engine: only aggregates over at least k distinct records ever leave.

Expected values are computed by a plain DuckDB connection over the same rows, so every test
compares the sandbox with the engine it wraps rather than with numbers written by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yiwang.exchange import sandbox
from yiwang.exchange.sandbox import (
    Column,
    Result,
    SandboxRefused,
    TableSpec,
    build_database,
    run_query,
    schema,
)

# Region sizes: three large groups and four below the default k = 10 (one of them a single record).
REGION_SIZES = {"广州": 900, "深圳": 700, "珠海": 380, "汕尾": 9, "云浮": 6, "河源": 4, "潮州": 1}
SMALL_REGIONS = sum(1 for size in REGION_SIZES.values() if size < 10)

PEOPLE = TableSpec(
    "people",
    (
        Column("id", "VARCHAR"),
        Column("region", "VARCHAR"),
        Column("age", "BIGINT"),
        Column("salary", "DOUBLE"),
        Column("id_number", "VARCHAR"),
        Column("joined", "DATE"),
    ),
    personal=frozenset({"id_number"}),
)
Row = tuple[str, str, int, float, str, dt.date]


def make_people() -> list[Row]:
    rng = random.Random(20240601)
    regions = [region for region, size in REGION_SIZES.items() for _ in range(size)]
    rng.shuffle(regions)
    return [
        (
            f"P{number:05d}",
            region,
            rng.randint(18, 80),
            round(rng.uniform(3000, 60000), 2),
            f"440103{rng.randint(1950, 2005)}{number:08d}",
            dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 1500)),
        )
        for number, region in enumerate(regions)
    ]


def direct(rows: Sequence[Sequence[object]], columns: Sequence[Column], sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a plain DuckDB holding ``rows`` as table ``t``: the reference result."""
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE t ({', '.join(f'{c.name} {c.type}' for c in columns)})")
        if rows:
            arrays = [pa.array(list(values)) for values in zip(*rows, strict=True)]
            con.register("source", pa.Table.from_arrays(arrays, names=[c.name for c in columns]))
            con.execute("INSERT INTO t SELECT * FROM source")
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def people() -> list[Row]:
    return make_people()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, people: list[Row]) -> Path:
    path = tmp_path_factory.mktemp("sandbox") / "people.duckdb"
    jobs = TableSpec("jobs", (Column("region", "VARCHAR"), Column("openings", "BIGINT")))
    build_database(path, [(PEOPLE, people), (jobs, [("广州", 3)] * 40 + [("深圳", 5)] * 15)])
    return path


def refused(path: Path, sql: str, **options: object) -> SandboxRefused:
    with pytest.raises(SandboxRefused) as caught:
        run_query(path, sql, **options)  # type: ignore[arg-type]
    return caught.value


class TestBuildDatabase:
    def test_hidden_record_id_numbers_rows_in_order(self, tmp_path: Path) -> None:
        path = tmp_path / "d.duckdb"
        spec = TableSpec("t", (Column("x", "BIGINT"),))
        build_database(path, [(spec, [(10,), (20,), (30,)])])
        con = duckdb.connect(str(path), read_only=True)
        try:
            assert con.execute('SELECT "__rid", x FROM t ORDER BY 1').fetchall() == [
                (0, 10),
                (1, 20),
                (2, 30),
            ]
        finally:
            con.close()

    def test_values_are_cast_to_the_declared_types(self, tmp_path: Path) -> None:
        path = tmp_path / "d.duckdb"
        spec = TableSpec("t", (Column("d", "DATE"), Column("v", "DECIMAL(10,2)"), Column("s", "VARCHAR")))
        build_database(path, [(spec, [("2024-03-01", Decimal("1.25"), None)] * 12)])
        result = run_query(path, "SELECT d, SUM(v), COUNT(s) FROM t GROUP BY d")
        assert result.rows == [["2024-03-01", 15.0, 0]]

    def test_mixed_python_types_are_cast_by_duckdb(self, tmp_path: Path) -> None:
        path = tmp_path / "d.duckdb"
        spec = TableSpec("t", (Column("n", "BIGINT"), Column("s", "VARCHAR")))
        build_database(path, [(spec, [(1, "a"), ("2", 3), (None, None)] * 4)])
        assert run_query(path, "SELECT SUM(n), COUNT(DISTINCT s) FROM t").rows == [[12, 2]]

    def test_100k_rows_load_in_well_under_two_seconds(self, tmp_path: Path) -> None:
        rows = [(i, f"r{i % 50}", i * 0.5, "2024-01-01") for i in range(100_000)]
        spec = TableSpec(
            "big", (Column("i", "BIGINT"), Column("r", "VARCHAR"), Column("x", "DOUBLE"), Column("d", "DATE"))
        )
        started = time.perf_counter()
        build_database(tmp_path / "big.duckdb", [(spec, rows)])
        assert time.perf_counter() - started < 2.0
        assert run_query(tmp_path / "big.duckdb", "SELECT COUNT(*) FROM big").rows == [[100_000]]

    def test_a_failed_load_leaves_the_previous_file_and_no_temporary_files(self, tmp_path: Path) -> None:
        path = tmp_path / "d.duckdb"
        spec = TableSpec("t", (Column("x", "BIGINT"),))
        build_database(path, [(spec, [(1,)] * 10)])
        with pytest.raises(ValueError, match="第 2 行"):
            build_database(path, [(spec, [(1,), (1, 2)])])
        with pytest.raises(ValueError, match="无法装入"):
            build_database(path, [(spec, [("not a number",)])])
        assert run_query(path, "SELECT COUNT(*) FROM t").rows == [[10]]
        assert [p.name for p in tmp_path.iterdir()] == ["d.duckdb"]

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            (TableSpec("__t", (Column("x", "BIGINT"),)), "保留给沙箱"),
            (TableSpec("t", (Column("__rid", "BIGINT"),)), "保留给沙箱"),
            (TableSpec("t", (Column("x", "BIGINT"), Column("X", "BIGINT"))), "重复"),
            (TableSpec("t", ()), "没有列"),
            (TableSpec("t", (Column("x", "BIGINT); DROP TABLE y; --"),)), "类型"),
            (TableSpec("t", (Column("x", "BIGINT"),), frozenset({"y"})), "个人信息列不存在"),
        ],
    )
    def test_bad_specs_are_refused(self, tmp_path: Path, spec: TableSpec, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            build_database(tmp_path / "d.duckdb", [(spec, [])])
        assert not (tmp_path / "d.duckdb").exists()


class TestSchema:
    def test_lists_tables_without_the_hidden_column_and_with_personal_columns(self, db: Path) -> None:
        tables = {spec.name: spec for spec in schema(db)}
        assert set(tables) == {"people", "jobs"}
        assert tables["people"].columns == PEOPLE.columns
        assert tables["people"].personal == frozenset({"id_number"})
        assert tables["jobs"].personal == frozenset()


class TestRefusals:
    @pytest.mark.parametrize(
        ("sql", "code"),
        [
            ("SELEC COUNT(*) FROM people", "parse_error"),
            ("CHECKPOINT", "not_select"),
            ("SELECT COUNT(*) FROM people WHERE", "parse_error"),
            ("SELECT COUNT(*) FROM people; SELECT COUNT(*) FROM jobs", "parse_error"),
            ("CREATE TABLE x AS SELECT COUNT(*) FROM people", "not_select"),
            ("DROP TABLE people", "not_select"),
            ("INSERT INTO people (id) VALUES ('x')", "not_select"),
            ("ATTACH '/tmp/other.duckdb' AS other", "not_select"),
            ("COPY people TO '/tmp/out.csv'", "not_select"),
            ("PRAGMA database_list", "not_select"),
            ("SET threads = 8", "not_select"),
            ("INSTALL httpfs", "not_select"),
            ("LOAD httpfs", "not_select"),
            ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", "forbidden_function"),
            ("SELECT COUNT(*) FROM read_parquet('x.parquet')", "forbidden_function"),
            ("SELECT COUNT(*) FROM glob('*')", "forbidden_function"),
            ("SELECT COUNT(*) FROM duckdb_tables()", "forbidden_function"),
            ("SELECT COUNT(*), read_text('/etc/passwd') FROM people", "forbidden_function"),
            ("SELECT COUNT(*), current_setting('threads') FROM people", "forbidden_function"),
            ("SELECT string_agg(region) FROM people", "forbidden_function"),
            ("SELECT COUNT(*) FROM '/etc/passwd'", "unknown_table"),
            ("SELECT COUNT(*) FROM nosuch", "unknown_table"),
            ("SELECT COUNT(*) FROM information_schema.tables", "unknown_table"),
            ("SELECT COUNT(*) FROM sqlite_master", "unknown_table"),
            ("SELECT COUNT(*) FROM main.people", "unknown_table"),
            ("SELECT COUNT(*) FROM people WHERE age IN (SELECT age FROM people)", "forbidden_construct"),
            ("SELECT COUNT(*) FROM (SELECT * FROM people) p", "forbidden_construct"),
            ("WITH p AS (SELECT * FROM people) SELECT COUNT(*) FROM p", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people UNION SELECT COUNT(*) FROM jobs", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people EXCEPT SELECT COUNT(*) FROM jobs", "forbidden_construct"),
            ("SELECT region, COUNT(*) OVER () FROM people", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people QUALIFY ROW_NUMBER() OVER () = 1", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people USING SAMPLE 10", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people p, LATERAL (SELECT 1)", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people p ASOF JOIN jobs j ON p.age >= j.openings", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people p POSITIONAL JOIN jobs j", "forbidden_construct"),
            ("SELECT region, COUNT(*) FROM people GROUP BY ROLLUP (region)", "forbidden_construct"),
            ("SELECT DISTINCT region, COUNT(*) FROM people GROUP BY region", "forbidden_construct"),
            ("SELECT COUNT(*) FROM people LIMIT age", "forbidden_construct"),
            ("SELECT * FROM people", "raw_rows"),
            ("FROM people", "raw_rows"),
            ("SELECT id FROM people", "raw_rows"),
            ("SELECT DISTINCT region FROM people", "raw_rows"),
            ("SELECT region FROM people GROUP BY region", "raw_rows"),
            ("SELECT p.*, COUNT(*) FROM people p GROUP BY region", "raw_rows"),
            ("SELECT id, COUNT(*) FROM people", "raw_rows"),
            ("SELECT region, age, COUNT(*) FROM people GROUP BY region", "raw_rows"),
            ("SELECT MAX(p) FROM people p", "raw_rows"),
            ("SELECT region, COUNT(*) FROM people GROUP BY region ORDER BY age", "raw_rows"),
            ("SELECT id_number, COUNT(*) FROM people GROUP BY id_number", "personal_data"),
            ("SELECT LEFT(id_number, 6) AS area, COUNT(*) FROM people GROUP BY area", "personal_data"),
            ("SELECT MAX(id_number) FROM people", "personal_data"),
            ("SELECT COUNT(*) FROM people WHERE id_number = '440103199001010001'", "personal_data"),
            ("SELECT COUNT(DISTINCT LEFT(id_number, 6)) FROM people", "personal_data"),
            ("SELECT COUNT(*) FROM people a JOIN people b ON a.id_number = 'x'", "personal_data"),
            (
                "SELECT COUNT(*) FROM people a JOIN people b ON a.id_number = b.id_number OR a.age = 1",
                "personal_data",
            ),
            ("SELECT COUNT(__rid) FROM people", "hidden_column"),
            ("SELECT COUNT(DISTINCT p.__rid) FROM people p", "hidden_column"),
            ("SELECT COUNT(*) FROM people WHERE __rid < 5", "hidden_column"),
            ("SELECT COUNT(*) FROM people WHERE nosuch = 1", "invalid_sql"),
            ("SELECT SUM(region) FROM people", "invalid_sql"),
            ("SELECT COUNT(*) FROM people a, people a", "invalid_sql"),
        ],
    )
    def test_refused_with_its_code(self, db: Path, sql: str, code: str) -> None:
        error = refused(db, sql)
        assert error.code == code, error.message
        assert not error.message.isascii()  # a Chinese message for people

    def test_subquery_message_says_only_one_aggregate_level_is_allowed(self, db: Path) -> None:
        message = refused(db, "SELECT COUNT(*) FROM (SELECT * FROM people) p").message
        assert "只允许一层聚合查询" in message

    def test_caller_can_mark_more_columns_personal(self, db: Path) -> None:
        assert run_query(db, "SELECT AVG(salary) FROM people").rows
        error = refused(db, "SELECT AVG(salary) FROM people", personal={"people": frozenset({"salary"})})
        assert error.code == "personal_data"

    def test_personal_columns_may_be_counted_and_used_to_link_tables(self, db: Path) -> None:
        result = run_query(
            db,
            "SELECT COUNT(DISTINCT a.id_number), COUNT(b.id_number) FROM people a "
            "JOIN people b ON (a.id_number = b.id_number AND a.age > 0)",
        )
        assert result.rows == [[2000, 2000]]

    def test_data_dependent_errors_do_not_echo_values(self, db: Path, people: list[Row]) -> None:
        error = refused(db, "SELECT SUM(age * 9223372036854775807) FROM people")
        assert error.code == "invalid_sql"
        assert not any(str(row[2] * 9223372036854775807) in error.message for row in people)

    def test_a_failing_cast_is_null_rather_than_an_oracle(self, db: Path) -> None:
        result = run_query(db, "SELECT COUNT(CAST(region AS INTEGER)), COUNT(*) FROM people")
        assert result.rows == [[0, 2000]]


class TestKAnonymity:
    def test_group_counts_equal_duckdb_and_small_groups_are_suppressed(
        self, db: Path, people: list[Row]
    ) -> None:
        result = run_query(db, "SELECT region, COUNT(*) AS n FROM people GROUP BY region")
        expected = direct(
            people,
            PEOPLE.columns,
            "SELECT region, COUNT(*) FROM t GROUP BY region HAVING COUNT(*) >= 10",
        )
        assert result.columns == ["region", "n"]
        assert sorted(map(tuple, result.rows)) == sorted(expected)
        assert len(result.rows) == len(REGION_SIZES) - SMALL_REGIONS
        assert result.suppressed == SMALL_REGIONS

    def test_aggregates_equal_duckdb(self, db: Path, people: list[Row]) -> None:
        sql = (
            "SELECT region, COUNT(*), ROUND(AVG(salary), 4), MIN(age), MAX(age), ROUND(STDDEV(salary), 4), "
            "COUNT(DISTINCT age) FROM {t} GROUP BY region"
        )
        result = run_query(db, sql.format(t="people"))
        expected = direct(people, PEOPLE.columns, sql.format(t="t") + " HAVING COUNT(*) >= 10")
        assert sorted(map(tuple, result.rows)) == sorted(expected)

    def test_single_record_groups_are_suppressed(self, db: Path) -> None:
        result = run_query(db, "SELECT id, MIN(id) FROM people GROUP BY id")
        assert result.rows == []
        assert result.suppressed == 2000

    def test_a_query_without_group_by_is_one_group_under_k(self, db: Path) -> None:
        result = run_query(db, "SELECT COUNT(*) FROM people WHERE id = 'P00007'")
        assert result == Result(columns=["COUNT(*)"], rows=[], suppressed=1)

    def test_cross_join_multiplying_one_record_is_suppressed(self, db: Path) -> None:
        result = run_query(db, "SELECT a.id, COUNT(*) FROM people a CROSS JOIN jobs b GROUP BY a.id")
        assert result.rows == []  # each group holds 55 rows but one record of a
        assert result.suppressed == 2000

    def test_self_join_isolating_one_record_is_suppressed(self, db: Path) -> None:
        sql = (
            "SELECT COUNT(*), AVG(a.salary) FROM people a JOIN people b ON a.region = b.region "
            "WHERE a.id = 'P00001'"
        )
        result = run_query(db, sql)
        assert result.rows == []
        assert result.suppressed == 1

    def test_every_table_occurrence_must_reach_k(self, db: Path) -> None:
        # 广州 has 40 job rows and 深圳 15; with k = 20 the 深圳 group fails on the jobs side
        sql = "SELECT p.region, COUNT(*) FROM people p JOIN jobs j ON p.region = j.region GROUP BY p.region"
        result = run_query(db, sql, k=20)
        assert result.rows == [["广州", 900 * 40]]
        assert result.suppressed == 1

    @pytest.mark.parametrize(("k", "released"), [(1, 7), (5, 5), (10, 3), (500, 2), (5000, 0)])
    def test_k_is_configurable(self, db: Path, k: int, released: int) -> None:
        result = run_query(db, "SELECT region, COUNT(*) FROM people GROUP BY region", k=k)
        assert len(result.rows) == released
        assert result.suppressed == len(REGION_SIZES) - released
        assert all(isinstance(row[1], int) and row[1] >= k for row in result.rows)


class TestOutput:
    def test_order_and_limit_apply_to_released_groups_only(self, db: Path) -> None:
        result = run_query(db, "SELECT region, COUNT(*) AS n FROM people GROUP BY region ORDER BY n LIMIT 1")
        assert result.rows == [["珠海", 380]]  # not 潮州 with its single record
        assert result.suppressed == SMALL_REGIONS

    def test_order_by_position_alias_and_hidden_aggregate(self, db: Path) -> None:
        by_position = run_query(db, "SELECT region, COUNT(*) FROM people GROUP BY 1 ORDER BY 2 DESC")
        assert [row[0] for row in by_position.rows] == ["广州", "深圳", "珠海"]
        hidden = run_query(db, "SELECT region, AVG(age) FROM people GROUP BY region ORDER BY COUNT(*) ASC")
        assert [row[0] for row in hidden.rows] == ["珠海", "深圳", "广州"]
        assert len(hidden.columns) == 2

    def test_offset(self, db: Path) -> None:
        result = run_query(
            db, "SELECT region, COUNT(*) n FROM people GROUP BY region ORDER BY n DESC LIMIT 5 OFFSET 1"
        )
        assert [row[0] for row in result.rows] == ["深圳", "珠海"]

    def test_values_are_json_friendly(self, db: Path) -> None:
        sql = (
            "SELECT DATE_TRUNC('year', joined) AS y, YEAR(joined) AS yy, "
            "SUM(CAST(salary AS DECIMAL(18, 2))), AVG(age) FROM people GROUP BY 1, 2 ORDER BY 2"
        )
        result = run_query(db, sql)
        json.dumps(result.rows, allow_nan=False)
        first = result.rows[0]
        assert isinstance(first[0], str)
        assert first[0].startswith("2020-01-01")
        assert isinstance(first[2], float)

    def test_more_rows_than_max_rows_is_refused_unless_limited(self, db: Path) -> None:
        sql = "SELECT id, COUNT(*) FROM people GROUP BY id"
        assert refused(db, sql, k=1, max_rows=100).code == "too_large"
        assert len(run_query(db, sql + " LIMIT 100", k=1, max_rows=100).rows) == 100

    def test_heavy_query_times_out(self, db: Path) -> None:
        started = time.perf_counter()
        error = refused(db, "SELECT COUNT(*) FROM people a, people b, people c", timeout_seconds=0.2)
        assert error.code == "timeout"
        assert time.perf_counter() - started < 3

    def test_engine_is_locked_down_even_without_the_parser(self, db: Path) -> None:
        con = sandbox._open(db, memory_limit_mb=64)
        try:
            with pytest.raises(duckdb.PermissionException):
                con.execute("SELECT * FROM read_csv('/etc/passwd')")
            with pytest.raises(duckdb.Error):
                con.execute("SET enable_external_access = true")
            with pytest.raises(duckdb.Error):
                con.execute('INSERT INTO people ("__rid") VALUES (-1)')
            assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
        finally:
            con.close()


# --------------------------------------------------------------------------------------------
# Properties: for random data, the sandbox equals DuckDB filtered by group size
# --------------------------------------------------------------------------------------------

AGGREGATES = ["COUNT(*)", "SUM(x)", "MIN(x)", "MAX(x)", "COUNT(DISTINCT x)", "ROUND(AVG(x), 6)"]
SMALL = TableSpec("s", (Column("g", "VARCHAR"), Column("h", "BIGINT"), Column("x", "BIGINT")))
small_rows = st.lists(
    st.tuples(st.sampled_from("abcdefg"), st.integers(0, 4), st.one_of(st.none(), st.integers(-50, 50))),
    max_size=80,
)
PROPERTY_SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class TestProperties:
    @PROPERTY_SETTINGS
    @given(
        rows=small_rows,
        key=st.sampled_from(["g", "h"]),
        aggregate=st.sampled_from(AGGREGATES),
        k=st.integers(1, 8),
    )
    def test_result_is_duckdb_filtered_by_group_size(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        rows: list[tuple[str, int, int | None]],
        key: str,
        aggregate: str,
        k: int,
    ) -> None:
        path = tmp_path_factory.mktemp("prop") / "s.duckdb"
        build_database(path, [(SMALL, rows)])
        result = run_query(path, f"SELECT {key}, {aggregate} FROM s GROUP BY {key}", k=k)
        groups = direct(rows, SMALL.columns, f"SELECT {key}, {aggregate}, COUNT(*) FROM t GROUP BY {key}")
        expected = sorted((group[0], group[1]) for group in groups if int(group[2]) >= k)
        assert sorted(map(tuple, result.rows)) == expected
        assert result.suppressed == sum(1 for group in groups if int(group[2]) < k)
        sizes = {group[0]: group[2] for group in groups}
        assert all(int(sizes[row[0]]) >= k for row in result.rows)

    @PROPERTY_SETTINGS
    @given(rows=small_rows, k=st.integers(1, 8))
    def test_joined_groups_need_k_distinct_records_on_both_sides(
        self, tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, int | None]], k: int
    ) -> None:
        path = tmp_path_factory.mktemp("prop") / "s.duckdb"
        build_database(path, [(SMALL, rows)])
        sql = "SELECT a.g, COUNT(*) FROM {t} a JOIN {t} b ON a.h = b.h GROUP BY a.g"
        result = run_query(path, sql.format(t="s"), k=k)
        numbered = [(*row, number) for number, row in enumerate(rows)]
        groups = direct(
            numbered,
            (*SMALL.columns, Column("n", "BIGINT")),
            sql.format(t="t").replace("COUNT(*)", "COUNT(*), COUNT(DISTINCT a.n), COUNT(DISTINCT b.n)"),
        )
        released = sorted((g[0], g[1]) for g in groups if min(int(g[2]), int(g[3])) >= k)
        assert sorted(map(tuple, result.rows)) == released
        assert result.suppressed == len(groups) - len(released)
