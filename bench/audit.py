"""Audit log benchmark: appends, verification, and the raw hash rate they compare to.

Prints one JSON object. For each crypto suite, on a fresh SQLite database (and on
PostgreSQL when YIWANG_TEST_DATABASE_URL is set):
- appends_per_s: committed transactions of one audit entry each;
- bare_commits_per_s: committed transactions inserting one plain row (no audit), the
  database's own commit rate measured in the same run: the ratio shows what our code costs;
- verify_entries_per_s: `verify_database` over the whole log (chain + checkpoints);
- raw_hash_per_s: the suite's hash over the very same payloads in a plain loop;
- fetch_only_per_s: streaming the same rows (payload built by the database) without hashing;
- verify_vs_raw_hash: the ratio (aim: >= 0.5 on the standard suite).

Usage: .venv/bin/python bench/audit.py [--entries N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yiwang.config import Settings  # noqa: E402
from yiwang.identity.authz import Actor  # noqa: E402
from yiwang.kit import audit  # noqa: E402
from yiwang.kit.audit import AuditEntry  # noqa: E402
from yiwang.kit.crypto import get_suite  # noqa: E402
from yiwang.runtime import Platform, upgrade_database  # noqa: E402

scratch_meta = MetaData()
scratch = Table(
    "bench_scratch", scratch_meta, Column("id", Integer, primary_key=True), Column("v", String(200))
)


def timed_loop(seconds: float, step: object) -> float:
    """Run ``step`` until ``seconds`` pass; return calls per second."""
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()  # type: ignore[operator]
        n += 1
    return n / elapsed


def bench_suite(url: str, data_dir: Path, suite: str, entries: int, seconds: float) -> dict[str, object]:
    if url.startswith("postgresql"):
        from yiwang.kit.db import make_engine

        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade_database(url)
    settings = Settings(data_dir=data_dir, database_url=url, crypto_suite=suite)  # type: ignore[arg-type]
    platform = Platform.from_settings(settings)
    scratch_meta.create_all(platform.db.engine)
    actor = Actor.system()

    def append_one() -> None:
        with platform.session_scope() as db:
            audit.record(db, actor, "bench.append", target_type="row", target_id="1", details={"k": "v"})

    def bare_commit() -> None:
        with platform.session_scope() as db:
            db.execute(insert(scratch).values(v="x" * 60))

    # Interleave the two measurements so machine noise hits both alike.
    appends, bare = [], []
    for _ in range(3):
        appends.append(timed_loop(seconds / 3, append_one))
        bare.append(timed_loop(seconds / 3, bare_commit))

    # Fill the log in big transactions, then verify it.
    with platform.session_scope(read_only=True) as db:
        have = db.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    while have < entries:
        with platform.session_scope() as db:
            for i in range(min(5000, entries - have)):
                audit.record(
                    db,
                    actor,
                    "bench.fill",
                    target_type="row",
                    target_id=str(have + i),
                    details={"i": have + i, "note": "基准测试"},
                )
        have = min(entries, have + 5000)
    with platform.session_scope(read_only=True) as db:
        start = time.perf_counter()
        result = audit.verify_database(db, platform.keyring.public_keys())
        verify_s = time.perf_counter() - start
        start = time.perf_counter()
        fetched = sum(1 for _ in audit._stream_entries(db))
        fetch_s = time.perf_counter() - start
        rows = db.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        payloads = [audit.payload_of({n: getattr(r, n) for n in audit.ENTRY_FIELDS}).encode() for r in rows]
    assert result.ok, result.problem
    hasher = get_suite(suite).hash
    start = time.perf_counter()
    for payload in payloads:
        hasher(payload)
    raw_s = time.perf_counter() - start
    platform.close()
    verify_rate = result.entries / verify_s
    raw_rate = len(payloads) / raw_s
    return {
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "suite": suite,
        "appends_per_s": round(max(appends)),
        "bare_commits_per_s": round(max(bare)),
        "appends_vs_bare_commits": round(max(appends) / max(bare), 3),
        "log_entries": result.entries,
        "verify_entries_per_s": round(verify_rate),
        "raw_hash_per_s": round(raw_rate),
        "fetch_only_per_s": round(fetched / fetch_s),
        "verify_vs_raw_hash": round(verify_rate / raw_rate, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    results = []
    pg = os.environ.get("YIWANG_TEST_DATABASE_URL")
    for suite in ("standard", "sm"):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(
                bench_suite(f"sqlite:///{tmp}/bench.db", Path(tmp), suite, args.entries, args.seconds)
            )
            if pg:
                results.append(bench_suite(pg, Path(tmp), suite, args.entries, args.seconds))
    print(json.dumps({"benchmark": "audit", "results": results}, ensure_ascii=False, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
