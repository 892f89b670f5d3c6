"""Checkpoints of the registry's log: signed in the background while the app serves (without waiting
a minute: the interval is a parameter), at most one per tree size with several workers, and on
demand when a bundle is exported."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Province
from tests.registry.test_registry import Registry
from yiwang.app import create_app
from yiwang.kit.merkle import MerkleCheckpoint, verify_checkpoint
from yiwang.registry import bundle, jobs, log
from yiwang.runtime import Platform


@pytest.fixture
def registry(platform: Platform, province: Province) -> Registry:
    return Registry(platform, province)


def stored(platform: Platform) -> list[int]:
    """The sizes of the stored checkpoints of the registry's tree."""
    with platform.session_scope(read_only=True) as db:
        return list(
            db.execute(
                select(MerkleCheckpoint.size)
                .where(MerkleCheckpoint.tree == log.TREE)
                .order_by(MerkleCheckpoint.size)
            ).scalars()
        )


def tree_size(platform: Platform) -> int:
    with platform.session_scope(read_only=True) as db:
        return log.tree(platform.keyring.suite_name).size(db)


class TestCheckpointTick:
    def test_signs_only_when_the_log_grew(self, registry: Registry) -> None:
        platform = registry.platform
        assert jobs.checkpoint_tick(platform) is None  # an empty log: nothing to sign
        registry.certificate()
        signed = jobs.checkpoint_tick(platform)
        assert signed is not None
        assert signed.size == tree_size(platform) == 1
        assert verify_checkpoint(signed, platform.keyring.public_keys())
        assert jobs.checkpoint_tick(platform) is None  # not grown since
        registry.certificate()
        assert jobs.checkpoint_tick(platform) is not None
        assert stored(platform) == [1, 2]

    def test_several_workers_store_one_checkpoint_per_size(self, registry: Registry) -> None:
        registry.certificate()
        registry.certificate()
        start = threading.Barrier(4)
        results: list[object] = []
        errors: list[BaseException] = []

        def worker() -> None:
            start.wait()
            try:
                results.append(jobs.checkpoint_tick(registry.platform))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert stored(registry.platform) == [2]
        sizes = {r.size for r in results if r is not None}  # type: ignore[attr-defined]
        assert sizes == {2}


class TestCheckpointJob:
    def test_the_served_app_signs_checkpoints_while_the_log_grows(
        self, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(jobs, "CHECKPOINT_SECONDS", 0.05)
        app = create_app(registry.platform)
        with TestClient(app):
            job = app.state.registry_checkpoints
            assert job.running
            assert job.interval == 0.05
            registry.certificate()
            registry.certificate()
            wanted = tree_size(registry.platform)
            deadline = time.monotonic() + 10
            while wanted not in stored(registry.platform) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert stored(registry.platform)[-1] == wanted == 2
            ticks = job.ticks
            time.sleep(0.2)
            assert job.ticks > ticks  # it keeps ticking …
            assert stored(registry.platform)[-1] == 2  # … and signs nothing while the log stands still
        assert not job.running  # stopped with the app

    def test_a_failed_tick_is_logged_and_the_job_goes_on(
        self, registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        calls: list[int] = []

        def flaky(platform: Platform) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database away")

        monkeypatch.setattr(jobs, "checkpoint_tick", flaky)
        job = jobs.CheckpointJob(registry.platform, interval=0.01)
        job.start()
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        job.stop()
        assert len(calls) >= 3
        assert not job.running
        assert "registry checkpoint failed" in caplog.text


class TestOnDemand:
    def test_an_export_signs_a_checkpoint_when_the_latest_is_older_than_the_tree(
        self, registry: Registry
    ) -> None:
        number = registry.certificate()
        assert jobs.checkpoint_tick(registry.platform) is not None
        registry.certificate()  # the log grows past the latest checkpoint
        assert stored(registry.platform) == [1]
        with registry.platform.session_scope() as db:
            data = bundle.export(db, registry.platform.keyring, number)
        assert data["checkpoint"]["size"] == 2
        assert stored(registry.platform) == [1, 2]
        with registry.platform.session_scope() as db:
            again = bundle.export(db, registry.platform.keyring, number)
        assert again["checkpoint"] == data["checkpoint"]  # not grown: the stored one, not a new signature
        with registry.platform.session_scope(read_only=True) as db:
            count = db.execute(select(func.count()).select_from(MerkleCheckpoint)).scalar_one()
        assert count == 2
