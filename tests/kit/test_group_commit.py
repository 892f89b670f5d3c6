"""Jobs run through a WriteBatcher with run_each: many threads' jobs in shared transactions,
each job all-or-nothing (its own SAVEPOINT)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from yiwang.identity.authz import Actor
from yiwang.kit import audit
from yiwang.kit.audit import AuditEntry
from yiwang.kit.db import run_each
from yiwang.runtime import Platform


def run(platform: Platform, job: Any) -> Any:
    return platform.db.batcher("jobs", run_each).submit(job).result(timeout=60)


def count_entries(platform: Platform, action: str) -> int:
    with platform.session_scope(read_only=True) as db:
        return int(db.execute(select(func.count()).where(AuditEntry.action == action)).scalar_one())


class TestRun:
    def test_every_threads_job_commits_and_the_chain_holds(self, platform: Platform) -> None:
        actor = Actor.system()
        results: list[int] = []

        def worker(n: int) -> None:
            def job(db: object) -> int:
                audit.record(db, actor, "test.group", target_id=n)  # type: ignore[arg-type]
                return n

            results.append(run(platform, job))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == list(range(40))
        assert count_entries(platform, "test.group") == 40
        with platform.session_scope() as db:
            assert audit.verify_database(db, platform.keyring.public_keys()).ok

    def test_a_failing_job_changes_nothing_and_raises_to_its_caller(self, platform: Platform) -> None:
        actor = Actor.system()

        def failing(db: object) -> None:
            audit.record(db, actor, "test.failed")  # type: ignore[arg-type]
            raise ValueError("refused")

        with pytest.raises(ValueError, match="refused"):
            run(platform, failing)
        run(platform, lambda db: audit.record(db, actor, "test.after"))
        assert count_entries(platform, "test.failed") == 0
        assert count_entries(platform, "test.after") == 1
