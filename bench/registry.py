"""Transparency-log benchmark: appends, inclusion proofs and offline verification as the log grows.

For each suite (standard = SHA-256, sm = SM3) and each log size (default 1k, 100k, 1M leaves), a
fresh SQLite database is migrated and filled with ``MerkleLog.extend`` in batches; then, at that
size, it measures:

- appends_per_s: single appends, each in its own committed transaction (the registry's case);
- inclusion_proof_ms / inclusion_proof_hashes: building a proof from the stored subtrees;
- consistency_proof_ms: a proof from half the size to the full size;
- verify_per_s: offline ``verify_inclusion`` (no database), the work a bank does per certificate;
- baseline_hash_per_s: the suite's bare leaf hash in the same run (the machines are noisy).

Growth must be logarithmic: proof sizes and times grow with log2(size), appends stay flat.

Usage: .venv/bin/python bench/registry.py [--sizes 1000,100000,1000000] [--suites standard,sm]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yiwang.kit.crypto import get_suite  # noqa: E402
from yiwang.kit.db import Database  # noqa: E402
from yiwang.kit.merkle import LEAF_PREFIX, MerkleLog, verify_inclusion  # noqa: E402
from yiwang.runtime import upgrade_database  # noqa: E402

BATCH = 20_000


def fill(db: Database, log: MerkleLog, size: int) -> float:
    started = time.perf_counter()
    done = 0
    while done < size:
        n = min(BATCH, size - done)
        with db.session_scope() as session:
            log.extend(session, (b"leaf %d" % (done + i) for i in range(n)), keep_data=False)
        done += n
    return time.perf_counter() - started


def measure(suite: str, size: int, rng: random.Random) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'log.db'}"
        upgrade_database(url)
        db = Database(url)
        log = MerkleLog("bench", suite)
        fill_seconds = fill(db, log, size)
        appends = 300
        started = time.perf_counter()
        for i in range(appends):
            with db.session_scope() as session:
                log.append(session, b"appended %d" % i, keep_data=False)
        append_rate = appends / (time.perf_counter() - started)
        total = size + appends
        with db.session_scope(read_only=True) as session:
            root = log.root(session, total)
            indexes = [rng.randrange(total) for _ in range(200)]
            started = time.perf_counter()
            proofs = [(i, log.inclusion_proof(session, i, total)) for i in indexes]
            proof_ms = (time.perf_counter() - started) / len(indexes) * 1000
            started = time.perf_counter()
            for _ in range(50):
                log.consistency_proof(session, total // 2, total)
            consistency_ms = (time.perf_counter() - started) / 50 * 1000
            leaf_hashes = {i: log.leaf(session, i) for i in indexes[:50]}
        db.dispose()
    hasher = get_suite(suite)
    checks = [(i, p, leaf_hashes[i].leaf_hash) for i, p in proofs if i in leaf_hashes]  # type: ignore[union-attr]
    rounds = max(1, 2000 // len(checks))
    started = time.perf_counter()
    for _ in range(rounds):
        for i, proof, leaf in checks:
            assert verify_inclusion(suite, leaf, i, total, proof, root)
    verify_rate = rounds * len(checks) / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(20_000):
        hasher.hash(LEAF_PREFIX + b"leaf %d" % i)
    hash_rate = 20_000 / (time.perf_counter() - started)
    return {
        "suite": suite,
        "size": size,
        "fill_leaves_per_s": round(size / fill_seconds),
        "appends_per_s": round(append_rate),
        "inclusion_proof_ms": round(proof_ms, 3),
        "inclusion_proof_hashes": round(sum(len(p) for _, p in proofs) / len(proofs), 1),
        "consistency_proof_ms": round(consistency_ms, 3),
        "verify_per_s": round(verify_rate),
        "baseline_hash_per_s": round(hash_rate),
        "verify_vs_hash": round(verify_rate / hash_rate, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--suites", default="standard,sm")
    parser.add_argument("--seed", type=int, default=9162)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = [
        measure(suite, int(size), rng) for suite in args.suites.split(",") for size in args.sizes.split(",")
    ]
    print(json.dumps({"results": results}, ensure_ascii=False, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
