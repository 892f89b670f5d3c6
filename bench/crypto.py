"""Crypto suite benchmark: hashing, signing, verifying and field encryption per suite.

Prints one JSON object. For each suite (``standard``, ``sm``):
- hash_per_s: one-shot hashes of a 256-byte message (an audit entry's size);
- hash_mb_per_s: incremental hashing of 1 MiB chunks (large files);
- sign_per_s / verify_per_s: signatures of a 256-byte message (verify with a cached key);
- encrypt_per_s / decrypt_per_s: a 64-byte field (an ID number, a mobile ...);
and ratios measured in the same run, because these machines are noisy:
- sm_vs_standard: each ``sm`` figure over the ``standard`` one;
- sm2_vs_gmssl_reference: our SM2 sign/verify over gmssl's own ``sign_with_sm3`` /
  ``verify_with_sm3`` (which hash with pure-Python SM3 and re-derive Z every call).

Usage: .venv/bin/python bench/crypto.py [--seconds S]   (S per figure; ~16 S in all)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gmssl import sm2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yiwang.kit.crypto import SUITE_NAMES, Suite, get_suite  # noqa: E402

MESSAGE = os.urandom(256)
FIELD = os.urandom(64)
CHUNK = os.urandom(1024 * 1024)


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``operation``, run for about ``seconds`` (batched to keep timer cost out)."""
    calls, batch = 0, 1
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            operation()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)
        # Grow batches while they take under a tenth of the budget.
        if (now - start) / calls * batch * 2 < seconds / 10:
            batch *= 2


def bench_suite(suite: Suite, seconds: float) -> dict[str, float]:
    private = suite.generate_private_key()
    public = suite.public_key(private)
    signature = suite.sign(private, MESSAGE)
    field_key = suite.generate_field_key()
    sealed = suite.encrypt(field_key, FIELD)

    def hash_chunk() -> bytes:
        hasher = suite.new_hasher()
        hasher.update(CHUNK)
        return hasher.digest()

    return {
        "hash_per_s": round(rate(lambda: suite.hash(MESSAGE), seconds)),
        "hash_mb_per_s": round(rate(hash_chunk, seconds), 1),
        "sign_per_s": round(rate(lambda: suite.sign(private, MESSAGE), seconds), 1),
        "verify_per_s": round(rate(lambda: suite.verify(public, MESSAGE, signature), seconds), 1),
        "encrypt_per_s": round(rate(lambda: suite.encrypt(field_key, FIELD), seconds)),
        "decrypt_per_s": round(rate(lambda: suite.decrypt(field_key, sealed), seconds)),
    }


def bench_gmssl_reference(seconds: float) -> dict[str, float]:
    suite = get_suite("sm")
    private = suite.generate_private_key()
    public = suite.public_key(private)
    reference = sm2.CryptSM2(private_key=private.hex(), public_key="")
    reference.public_key = public[1:].hex()
    k = os.urandom(32).hex()  # a fixed k is fine for timing, never for real signatures
    signature = reference.sign_with_sm3(MESSAGE, k)
    return {
        "sign_per_s": round(rate(lambda: reference.sign_with_sm3(MESSAGE, k), seconds), 1),
        "verify_per_s": round(rate(lambda: reference.verify_with_sm3(signature, MESSAGE), seconds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per figure")
    args = parser.parse_args()
    results = {name: bench_suite(get_suite(name), args.seconds) for name in SUITE_NAMES}
    reference = bench_gmssl_reference(args.seconds)
    standard, sm = results["standard"], results["sm"]
    output = {
        "benchmark": "crypto",
        "python": platform.python_version(),
        "seconds_per_figure": args.seconds,
        "suites": results,
        "sm_vs_standard": {name: round(sm[name] / standard[name], 4) for name in standard},
        "gmssl_reference": reference,
        "sm2_vs_gmssl_reference": {name: round(sm[name] / reference[name], 2) for name in reference},
    }
    print(json.dumps(output, ensure_ascii=False, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
