"""The write batcher: many callers' items in one transaction, each caller its own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yiwang.identity.authz import Actor
from yiwang.kit import audit
from yiwang.kit.audit import AuditEntry
from yiwang.kit.db import run_each
from yiwang.kit.errors import InvalidInput
from yiwang.runtime import Platform


def count_entries(platform: Platform, action: str) -> int:
    with platform.session_scope(read_only=True) as db:
        return int(db.execute(select(func.count()).where(AuditEntry.action == action)).scalar_one())


def record_each(action: str) -> Any:
    """A handler that audits every item and refuses the odd ones (a refusal is still an outcome)."""
    sizes: list[int] = []

    def handler(session: Session, items: list[int]) -> list[Any]:
        sizes.append(len(items))
        outcomes: list[Any] = []
        for n in items:
            audit.record(session, Actor.system(), action, target_id=n)
            outcomes.append(InvalidInput(f"第 {n} 项是奇数") if n % 2 else n * 10)
        return outcomes

    handler.sizes = sizes  # type: ignore[attr-defined]
    return handler


async def gather_runs(platform: Platform, name: str, handler: Any, items: list[int]) -> list[Any]:
    batcher = platform.db.batcher(name, handler)

    async def one(n: int) -> Any:
        try:
            return await batcher.run(n)
        except InvalidInput as refusal:
            return refusal.message

    return await asyncio.gather(*(one(n) for n in items))


class TestFromTheEventLoop:
    def test_concurrent_callers_share_batches_and_get_their_own_outcomes(self, platform: Platform) -> None:
        handler = record_each("test.batch")
        results = asyncio.run(gather_runs(platform, "t1", handler, list(range(30))))
        assert results == [f"第 {n} 项是奇数" if n % 2 else n * 10 for n in range(30)]
        # Everything was committed, refusals included, in fewer transactions than callers.
        assert count_entries(platform, "test.batch") == 30
        assert sum(handler.sizes) == 30
        assert len(handler.sizes) < 30
        with platform.session_scope() as db:
            assert audit.verify_database(db, platform.keyring.public_keys()).ok

    def test_a_failing_batch_fails_every_caller_and_keeps_nothing(self, platform: Platform) -> None:
        def broken(session: Session, items: list[int]) -> list[Any]:
            for n in items:
                audit.record(session, Actor.system(), "test.broken", target_id=n)
            raise RuntimeError("handler failed")

        async def run_all() -> list[BaseException]:
            batcher = platform.db.batcher("t2", broken)
            outcomes = await asyncio.gather(*(batcher.run(n) for n in range(5)), return_exceptions=True)
            return [o for o in outcomes if isinstance(o, BaseException)]

        failures = asyncio.run(run_all())
        assert len(failures) == 5
        assert all("handler failed" in str(f) for f in failures)
        assert count_entries(platform, "test.broken") == 0

    @pytest.mark.parametrize("per_job", [False, True], ids=["batch-handler", "run-each"])
    def test_a_held_write_lock_does_not_stall_the_loop(self, platform: Platform, per_job: bool) -> None:
        if platform.db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's write lock")
        path = str(platform.db.engine.url.database)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's long write, say
        action = f"test.locked.{per_job}"

        def job(db: Session) -> int:
            audit.record(db, Actor.system(), action)
            return 40

        async def scenario() -> tuple[int, Any]:
            if per_job:  # jobs that catch their own errors must not swallow a busy lock either
                pending = asyncio.ensure_future(platform.db.batcher("t3-jobs", run_each).run(job))
            else:
                batcher = platform.db.batcher(f"t3-{action}", record_each(action))
                pending = asyncio.ensure_future(batcher.run(4))
            ticks = 0
            # The loop keeps turning while the batch waits for the lock (off the loop).
            for _ in range(20):
                await asyncio.sleep(0.01)
                ticks += 1
            assert not pending.done()
            holder.execute("COMMIT")
            return ticks, await asyncio.wait_for(pending, timeout=30)

        try:
            started = time.monotonic()
            ticks, result = asyncio.run(scenario())
        finally:
            if holder.in_transaction:
                holder.execute("ROLLBACK")
            holder.close()
        assert ticks == 20
        assert result == 40
        assert time.monotonic() - started < 10
        assert count_entries(platform, action) == 1

    def test_a_briefly_held_lock_is_asked_for_again_from_the_loop(self, platform: Platform) -> None:
        if platform.db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's write lock")
        holder = sqlite3.connect(str(platform.db.engine.url.database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another worker's commit, say
        batcher = platform.db.batcher("t5", record_each("test.brief"))

        async def scenario() -> list[Any]:
            asyncio.get_running_loop().call_later(0.01, holder.execute, "COMMIT")
            return await asyncio.gather(batcher.run(2), batcher.run(4))

        try:
            assert asyncio.run(scenario()) == [20, 40]
        finally:
            holder.close()
        assert batcher._thread is None  # committed on the loop, no writer thread needed
        assert count_entries(platform, "test.brief") == 2


class TestFromThreads:
    def test_submitted_items_commit_with_their_outcomes(self, platform: Platform) -> None:
        handler = record_each("test.threads")
        batcher = platform.db.batcher("t4", handler)
        results: dict[int, Any] = {}

        def worker(n: int) -> None:
            try:
                results[n] = batcher.submit(n).result(timeout=30)
            except InvalidInput as refusal:
                results[n] = refusal.code

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == {n: "invalid_input" if n % 2 else n * 10 for n in range(20)}
        assert count_entries(platform, "test.threads") == 20
