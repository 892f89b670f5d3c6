"""The audit log: chained at commit, verified from the database and from exports,
and every kind of tampering found and named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import _settings, tamper
from yiwang.identity.authz import Actor
from yiwang.kit import audit
from yiwang.kit.audit import AuditCheckpoint, AuditEntry
from yiwang.runtime import Platform, upgrade_database


def write_entries(platform: Platform, count: int, *, per_transaction: int = 1) -> None:
    actor = Actor.system()
    done = 0
    while done < count:
        with platform.session_scope() as db:
            for _ in range(min(per_transaction, count - done)):
                audit.record(
                    db,
                    actor,
                    "test.act",
                    target_type="thing",
                    target_id=done,
                    details={"n": done, "text": "中文 \x1f sep"},
                )
                done += 1


def verify(platform: Platform) -> audit.VerifyResult:
    with platform.session_scope(read_only=True) as db:
        return audit.verify_database(db, platform.keyring.public_keys())


def export(platform: Platform, since: str | None = None) -> list[str]:
    with platform.session_scope(read_only=True) as db:
        return list(audit.export_lines(db, platform.keyring.public_keys(), since=since))


execute = tamper


class TestRecord:
    def test_entries_are_numbered_and_chained_in_commit_order(self, platform: Platform) -> None:
        write_entries(platform, 5, per_transaction=2)
        with platform.session_scope(read_only=True) as db:
            rows = db.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0].prev_hash == audit.GENESIS
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
        assert verify(platform).ok

    def test_rolled_back_transaction_leaves_no_entry(self, platform: Platform) -> None:
        def change_that_fails() -> None:
            with platform.session_scope() as db:
                audit.record(db, Actor.system(), "test.act")
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            change_that_fails()
        write_entries(platform, 1)
        with platform.session_scope(read_only=True) as db:
            assert db.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1

    def test_unknown_outcome_is_refused(self, platform: Platform) -> None:
        with platform.session_scope() as db, pytest.raises(ValueError, match="outcome"):
            audit.record(db, Actor.system(), "test.act", outcome="maybe")

    def test_checkpoints_are_signed_every_n_entries(self, platform: Platform) -> None:
        write_entries(platform, 120, per_transaction=10)  # the test platform checkpoints every 50
        with platform.session_scope(read_only=True) as db:
            seqs = db.execute(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)).scalars().all()
        assert seqs[0] == 10  # the first entry signs the first checkpoint: the log began
        assert seqs[1:] == [60, 110]
        assert verify(platform).checkpoints == 3


class TestVerifyDatabase:
    @pytest.fixture
    def log(self, platform: Platform) -> Platform:
        write_entries(platform, 60, per_transaction=3)
        assert verify(platform).ok
        return platform

    def test_edited_entry_is_named(self, log: Platform) -> None:
        execute(log, "UPDATE audit_entry SET action = 'test.innocent' WHERE seq = 17")
        result = verify(log)
        assert not result.ok
        assert result.first_bad == 17
        assert "#17" in result.problem

    def test_edited_details_are_found(self, log: Platform) -> None:
        execute(log, "UPDATE audit_entry SET details = '{}' WHERE seq = 33")
        assert verify(log).first_bad == 33

    def test_deleted_entry_is_named(self, log: Platform) -> None:
        execute(log, "DELETE FROM audit_entry WHERE seq = 20")
        result = verify(log)
        assert (result.ok, result.first_bad) == (False, 20)

    def test_swapped_entries_are_found(self, log: Platform) -> None:
        # Swap the content of 30 and 31 but keep their numbers: the order changes.
        execute(log, "UPDATE audit_entry SET seq = -1 WHERE seq = 30")
        execute(log, "UPDATE audit_entry SET seq = 30 WHERE seq = 31")
        execute(log, "UPDATE audit_entry SET seq = 31 WHERE seq = -1")
        result = verify(log)
        assert not result.ok
        assert result.first_bad == 30

    def test_rehashed_rewrite_is_caught_by_the_signed_checkpoint(self, log: Platform) -> None:
        """An attacker without the platform key rewrites entry 5 and recomputes every hash after it."""
        with log.session_scope(read_only=True) as db:
            rows = db.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        prev = audit.GENESIS
        for row in rows:
            data = {name: getattr(row, name) for name in audit.ENTRY_FIELDS}
            data["prev_hash"] = prev
            if row.seq == 5:
                data["action"] = "test.rewritten"
            prev = log.keyring.suite.hash(audit.payload_of(data).encode()).hex()
            execute(
                log,
                "UPDATE audit_entry SET action = :a, prev_hash = :p, hash = :h WHERE seq = :s",
                a=data["action"],
                p=data["prev_hash"],
                h=prev,
                s=row.seq,
            )
        execute(log, "UPDATE audit_head SET hash = :h", h=prev)
        result = verify(log)
        assert not result.ok
        assert "检查点" in result.problem

    def test_truncated_tail_is_found(self, log: Platform) -> None:
        execute(log, "DELETE FROM audit_entry WHERE seq > 58")
        result = verify(log)
        assert not result.ok
        assert result.first_bad == 59

    def test_forged_checkpoint_is_found(self, log: Platform) -> None:
        execute(
            log,
            "UPDATE audit_checkpoint SET hash = :h WHERE seq = (SELECT MIN(seq) FROM audit_checkpoint)",
            h="ab" * 32,
        )
        result = verify(log)
        assert not result.ok
        assert "签名" in result.problem


class TestExport:
    def test_untouched_export_verifies_offline(self, platform: Platform) -> None:
        write_entries(platform, 30, per_transaction=4)
        result = audit.verify_export(export(platform))
        assert result.ok, result.problem
        assert result.entries == 30
        assert result.checkpoints >= 1

    def test_edited_line_is_named(self, platform: Platform) -> None:
        write_entries(platform, 30)
        lines = export(platform)
        index = next(i for i, line in enumerate(lines) if '"seq":12,' in line and '"type":"entry"' in line)
        item = json.loads(lines[index])
        item["target_id"] = "999"
        lines[index] = json.dumps(item, ensure_ascii=False)
        result = audit.verify_export(lines)
        assert (result.ok, result.first_bad) == (False, 12)

    def test_deleted_and_swapped_lines_are_found(self, platform: Platform) -> None:
        write_entries(platform, 30)
        lines = export(platform)
        entry_lines = [i for i, line in enumerate(lines) if '"type":"entry"' in line]
        deleted = lines[: entry_lines[9]] + lines[entry_lines[9] + 1 :]
        assert audit.verify_export(deleted).first_bad == 10
        swapped = list(lines)
        a, b = entry_lines[4], entry_lines[5]
        swapped[a], swapped[b] = swapped[b], swapped[a]
        assert not audit.verify_export(swapped).ok

    def test_garbage_line_is_reported(self, platform: Platform) -> None:
        write_entries(platform, 3)
        result = audit.verify_export([*export(platform), "not json"])
        assert not result.ok

    def test_export_since_verifies_from_its_first_entry(self, platform: Platform) -> None:
        write_entries(platform, 10)
        with platform.session_scope(read_only=True) as db:
            fifth = db.execute(select(AuditEntry.at).where(AuditEntry.seq == 5)).scalar_one()
        lines = export(platform, since=fifth)
        assert sum('"type":"entry"' in line for line in lines) == 6
        assert audit.verify_export(lines).ok


class TestSmSuite:
    @pytest.fixture
    def sm_platform(self, tmp_path: Path) -> Platform:
        url = f"sqlite:///{tmp_path / 'sm.db'}"
        upgrade_database(url)
        platform = Platform.from_settings(_settings(tmp_path, url, suite="sm"))
        yield platform  # type: ignore[misc]
        platform.close()

    def test_sm_log_verifies_and_tampering_is_found(self, sm_platform: Platform) -> None:
        write_entries(sm_platform, 55, per_transaction=5)
        with sm_platform.session_scope(read_only=True) as db:
            suites = set(db.execute(select(AuditEntry.suite)).scalars())
        assert suites == {"sm"}
        assert verify(sm_platform).ok
        assert audit.verify_export(export(sm_platform)).ok
        execute(sm_platform, "UPDATE audit_entry SET actor = 'x' WHERE seq = 9")
        assert verify(sm_platform).first_bad == 9
