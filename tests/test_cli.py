"""The `yiwang` command end to end: init, orgs, users, tokens, audit export/verify, key rotation.

Runs the real CLI (Typer's runner, same process) against a fresh SQLite data dir per test,
and against PostgreSQL when YIWANG_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import PG_URL, _reset_postgres
from yiwang.cli import app
from yiwang.config import reset_settings
from yiwang.runtime import upgrade_database

runner = CliRunner()


@pytest.fixture(params=["standard", "sm"])
def data_dir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    monkeypatch.setenv("YIWANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YIWANG_CRYPTO_SUITE", request.param)
    monkeypatch.delenv("YIWANG_DATABASE_URL", raising=False)
    reset_settings()
    yield tmp_path
    reset_settings()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def build_small_province() -> None:
    assert run("init")[0] == 0
    for args in (
        ("org", "create", "440000", "--name", "广东省", "--kind", "region"),
        ("org", "create", "440100", "--name", "广州市", "--kind", "region"),
        ("org", "create", "440100-gat", "--name", "广州市公安局", "--parent", "440100"),
        ("user", "create", "li", "--org", "440100-gat", "--role", "staff", "--password", "Secret123"),
    ):
        code, out = run(*args)
        assert code == 0, out


class TestSetup:
    def test_org_list_json_and_token(self, data_dir: Path) -> None:
        build_small_province()
        code, out = run("org", "list", "--json")
        assert code == 0
        orgs = {o["code"]: o for o in json.loads(out)}
        assert orgs["440100-gat"]["parent"] == "440100"
        assert orgs["440100"]["kind"] == "region"
        code, out = run("token", "create", "li", "--name", "办案系统", "--expires", "30")
        assert code == 0
        assert out.strip().startswith("yw_")

    def test_bad_input_is_a_chinese_error_and_changes_nothing(self, data_dir: Path) -> None:
        build_small_province()
        before = run("org", "list", "--json")[1]
        for args, words in (
            (("org", "create", "440100-x", "--name", "某局", "--parent", "999999"), "上级单位 999999 不存在"),
            (("org", "create", "440199", "--name", "不存在的区", "--kind", "region"), "440199"),
            (("user", "create", "li", "--org", "440100", "--role", "staff", "--password", "Secret123"), "li"),
            (("user", "create", "wang", "--org", "440100", "--role", "staff", "--password", "short"), "密码"),
            (("token", "create", "ghost"), "用户 ghost 不存在"),
        ):
            code, out = run(*args)
            assert code == 1, out
            assert "错误" in out
            assert words in out
        assert run("org", "list", "--json")[1] == before


class TestAuditCommands:
    def test_export_verifies_and_tampering_exits_1_naming_the_entry(self, data_dir: Path) -> None:
        build_small_province()
        assert run("audit", "verify")[0] == 0
        code, exported = run("audit", "export")
        assert code == 0
        export = data_dir / "audit.jsonl"
        export.write_text(exported, encoding="utf-8")
        assert run("audit", "verify", "--file", str(export))[0] == 0

        lines = exported.splitlines()
        index = next(i for i, line in enumerate(lines) if '"seq":3,' in line)
        lines[index] = lines[index].replace("440100-gat", "440100-gax")
        export.write_text("\n".join(lines), encoding="utf-8")
        code, out = run("audit", "verify", "--file", str(export))
        assert code == 1
        assert "#3" in out

    def test_database_edit_exits_1_naming_the_entry(self, data_dir: Path) -> None:
        build_small_province()
        with sqlite3.connect(data_dir / "yiwang.db") as conn:
            conn.execute("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2")
        code, out = run("audit", "verify")
        assert code == 1
        assert "#2" in out

    def test_rotation_keeps_old_checkpoints_verifiable(self, data_dir: Path) -> None:
        build_small_province()
        code, out = run("keys", "rotate")
        assert code == 0, out
        assert (
            run("user", "create", "zhao", "--org", "440100", "--role", "cdo", "--password", "Secret123")[0]
            == 0
        )
        assert run("audit", "verify")[0] == 0
        code, exported = run("audit", "export")
        keys = [json.loads(line) for line in exported.splitlines() if '"type":"public_key"' in line]
        assert len(keys) == 2
        assert sum(k["active"] for k in keys) == 1


@pytest.mark.skipif(not PG_URL, reason="YIWANG_TEST_DATABASE_URL not set: PostgreSQL run skipped")
def test_cli_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _reset_postgres(PG_URL)
    monkeypatch.setenv("YIWANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YIWANG_DATABASE_URL", PG_URL)
    reset_settings()
    try:
        build_small_province()
        assert run("audit", "verify")[0] == 0
    finally:
        # Leave the schema as the session's PostgreSQL fixture expects it: migrated and empty.
        _reset_postgres(PG_URL)
        upgrade_database(PG_URL)
        reset_settings()
