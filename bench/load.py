"""Datastore load benchmark: CSV parse + validate, and the end-to-end load into SQLite.

Generates a CSV of N realistic person rows (name, valid ID number as the key, mobile,
region code, birth date, amount, flag; Chinese headers, UTF-8 with BOM as Excel saves it)
and prints one JSON object:

- parse_validate_rows_per_s: read_rows + the datastore's validator (the chunked, column-wise path
  ``datastore.load`` uses), no database;
- load_rows_per_s: ``datastore.load`` end to end (replace mode, one transaction, committed),
  into a fresh SQLite file with its unique key index;
- baseline_csv_reader_rows_per_s: a bare ``csv.reader`` pass over the same file;
- baseline_executemany_rows_per_s: bare sqlite3 ``executemany`` (one statement per row) of the
  already converted tuples into an identical table (same index, same page cache), in one
  transaction: the obvious way, which the load now beats by inserting 100 rows a statement and
  building the key index after the rows;
- the ratios of ours to the baselines, measured in the same run (these machines are noisy).

Aim: >= 100,000 validated rows/s into SQLite.

Usage: .venv/bin/python bench/load.py [--rows N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yiwang.kit import datastore  # noqa: E402
from yiwang.kit.datastore import FieldSpec  # noqa: E402
from yiwang.kit.datastore.convert import RowValidator  # noqa: E402
from yiwang.kit.datastore.store import LOAD_CACHE_KIB  # noqa: E402
from yiwang.kit.db import Database  # noqa: E402
from yiwang.kit.validators import make_id_number  # noqa: E402

FIELDS = [
    FieldSpec(name="name", title="姓名", pi="name", required=True),
    FieldSpec(name="id_number", title="身份证号码", format="id_number", pi="id_number", key=True),
    FieldSpec(name="phone", title="手机号码", format="phone", pi="phone"),
    FieldSpec(name="region_code", title="户籍地行政区划", format="region_code", required=True),
    FieldSpec(name="birth_date", title="出生日期", type="date"),
    FieldSpec(name="amount", title="补贴金额", type="number"),
    FieldSpec(name="flag", title="是否在册", type="boolean"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高欧阳"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
REGIONS = ["440103", "440104", "440105", "440106", "440111", "440303", "440304", "440305", "440604", "441900"]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(20240105)
    start = date(1940, 1, 1).toordinal()
    span = date(2005, 12, 31).toordinal() - start
    used: set[str] = set()
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([f.title for f in FIELDS])
        written = 0
        while written < rows:
            region = rng.choice(REGIONS)
            birth = date.fromordinal(start + rng.randrange(span))
            number = make_id_number(region, birth, rng.randrange(1000))
            if number in used:
                continue
            used.add(number)
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
            birth_text = birth.isoformat() if written % 3 else f"{birth.year}/{birth.month}/{birth.day}"
            writer.writerow(
                [
                    name,
                    number,
                    f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
                    region,
                    birth_text,
                    f"{rng.randrange(100000) / 100:.2f}",
                    rng.choice(("是", "否")),
                ]
            )
            written += 1


def bench(rows: int, workdir: Path) -> dict[str, object]:
    path = workdir / "people.csv"
    began = time.perf_counter()
    generate(path, rows)
    generate_s = time.perf_counter() - began

    began = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as f:
        n = sum(1 for _ in csv.reader(f)) - 1
    csv_s = time.perf_counter() - began
    assert n == rows

    began = time.perf_counter()
    stream = datastore.read_rows(path, "csv", FIELDS)
    validator = RowValidator(FIELDS, "sqlite")
    assert stream.columns is not None
    # What datastore.load runs: chunks of 5,000 rows converted column by column.
    converted = [row for chunk in validator.tuple_chunks(stream.cells(), stream.columns) for row in chunk]
    validate_s = time.perf_counter() - began
    assert validator.error_count == 0, validator.errors[:3]
    assert len(converted) == rows

    raw_db = workdir / "raw.db"
    raw = sqlite3.connect(raw_db, isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute(f"PRAGMA cache_size = {LOAD_CACHE_KIB}")  # as datastore.load sets it
    columns = ", ".join(f'"{f.name}"' for f in FIELDS)
    raw.execute(
        'CREATE TABLE people ("_row" INTEGER PRIMARY KEY, name TEXT NOT NULL, id_number TEXT NOT NULL, '
        "phone TEXT, region_code TEXT NOT NULL, birth_date DATE, amount DOUBLE, flag BOOLEAN)"
    )
    raw.execute("CREATE UNIQUE INDEX people_key ON people (id_number)")
    began = time.perf_counter()
    raw.execute("BEGIN IMMEDIATE")
    insert = f"INSERT INTO people ({columns}) VALUES ({','.join('?' * len(FIELDS))})"
    for i in range(0, len(converted), 5000):
        raw.executemany(insert, converted[i : i + 5000])
    raw.execute("COMMIT")
    executemany_s = time.perf_counter() - began
    raw.close()
    del converted

    db = Database(f"sqlite:///{workdir / 'yiwang.db'}")
    began = time.perf_counter()
    with db.session_scope() as session:
        result = datastore.load(session, "people", FIELDS, datastore.read_rows(path, "csv", FIELDS))
    load_s = time.perf_counter() - began
    with db.session_scope(read_only=True) as session:
        stored = datastore.count_rows(session, "people")
    db.dispose()
    assert result.count == rows == stored

    validate_rate = rows / validate_s
    load_rate = rows / load_s
    csv_rate = rows / csv_s
    executemany_rate = rows / executemany_s
    return {
        "rows": rows,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "generate_seconds": round(generate_s, 2),
        "seconds": round(load_s, 2),
        "parse_validate_seconds": round(validate_s, 2),
        "parse_validate_rows_per_s": round(validate_rate),
        "load_rows_per_s": round(load_rate),
        "baseline_csv_reader_rows_per_s": round(csv_rate),
        "baseline_executemany_rows_per_s": round(executemany_rate),
        "validate_vs_csv_reader": round(validate_rate / csv_rate, 3),
        "load_vs_parse_validate_plus_executemany": round(
            load_rate / (1 / (1 / validate_rate + 1 / executemany_rate)), 3
        ),
        "content_hash": result.content_hash,
        "aim_rows_per_s": 100_000,
        "aim_met": load_rate >= 100_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep the files")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = bench(args.rows, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="yiwang-load-") as tmp:
            figures = bench(args.rows, Path(tmp))
    print(json.dumps(figures, ensure_ascii=False, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
