"""The exchange sandbox: load speed and the cost of its checks and rewrite.

Builds a synthetic table of ``--rows`` records with ``yiwang.exchange.sandbox.build_database``,
then runs a typical GROUP BY through ``run_query`` (parse, check, qualify, rewrite, a fresh locked
engine per query, k-filter) and the same query on a plain read-only DuckDB connection over the
same file. Prints JSON; ``ratio_p50_to_plain`` compares the two in the same run, because these
machines are noisy.

    .venv/bin/python bench/sandbox.py [--rows 100000] [--queries 50] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from yiwang.exchange.sandbox import Column, TableSpec, build_database, run_query

SPEC = TableSpec(
    "people",
    (
        Column("region", "VARCHAR"),
        Column("age", "BIGINT"),
        Column("salary", "DOUBLE"),
        Column("id_number", "VARCHAR"),
        Column("joined", "DATE"),
    ),
    personal=frozenset({"id_number"}),
)
QUERY = "SELECT region, COUNT(*) AS n, AVG(salary), MAX(age) FROM people GROUP BY region ORDER BY n DESC"


def rows(count: int, seed: int) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    regions = [f"区{i:03d}" for i in range(300)]
    return [
        (
            rng.choice(regions),
            rng.randint(18, 80),
            rng.uniform(3000, 60000),
            f"4401{i:014d}",
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        )
        for i in range(count)
    ]


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data = rows(args.rows, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.duckdb"
        started = time.perf_counter()
        build_database(path, [(SPEC, data)])
        build_seconds = time.perf_counter() - started
        sandboxed = timed(lambda: run_query(path, QUERY), args.queries)
        plain_con = duckdb.connect(str(path), read_only=True)
        try:
            plain = timed(lambda: plain_con.execute(QUERY).fetchall(), args.queries)
        finally:
            plain_con.close()
        result = run_query(path, QUERY)
    report = {
        "rows": args.rows,
        "build_seconds": round(build_seconds, 3),
        "build_rows_per_second": round(args.rows / build_seconds),
        "query_p50_ms": round(statistics.median(sandboxed), 2),
        "query_p95_ms": round(sorted(sandboxed)[int(len(sandboxed) * 0.95) - 1], 2),
        "plain_duckdb_p50_ms": round(statistics.median(plain), 2),
        "ratio_p50_to_plain": round(statistics.median(sandboxed) / statistics.median(plain), 1),
        "groups_released": len(result.rows),
        "groups_suppressed": result.suppressed,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))  # noqa: T201 - a benchmark prints its figures


if __name__ == "__main__":
    main()
