"""Several worker processes writing at once never fork the chain, and nothing is lost."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import _settings
from yiwang.identity.authz import Actor
from yiwang.kit import audit
from yiwang.kit.audit import AuditEntry
from yiwang.runtime import Platform

SECONDS = float(os.environ.get("YIWANG_TEST_CONCURRENCY_SECONDS", "30"))
PROCESSES = 4


def _writer(data_dir: str, url: str, seconds: float, worker: int) -> int:
    """Append one entry per transaction until time is up; return how many committed."""
    platform = Platform.from_settings(_settings(Path(data_dir), url))
    actor = Actor.system()
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with platform.session_scope() as db:
            audit.record(
                db, actor, "test.concurrent", target_type="worker", target_id=worker, details={"n": done}
            )
        done += 1
    platform.close()
    return done


@pytest.mark.slow
def test_four_processes_leave_one_intact_chain(platform: Platform) -> None:
    url = platform.db.url
    data_dir = str(platform.settings.data_dir)
    # A pool of fresh interpreters (spawn), like uvicorn's workers; a crashed worker fails the test
    # instead of hanging it (concurrent.futures reports a broken pool).
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_writer, data_dir, url, SECONDS, n) for n in range(PROCESSES)]
        counts = [f.result(timeout=SECONDS + 120) for f in futures]
    assert all(c > 0 for c in counts)
    with platform.session_scope(read_only=True) as db:
        total = db.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        per_worker = dict(
            db.execute(select(AuditEntry.target_id, func.count()).group_by(AuditEntry.target_id)).all()
        )
        result = audit.verify_database(db, platform.keyring.public_keys())
    assert result.ok, result.problem
    assert total == sum(counts)
    assert per_worker == {str(n): counts[n] for n in range(PROCESSES)}
