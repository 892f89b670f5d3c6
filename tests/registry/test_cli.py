"""CONTRACT: `yiwang certificate list [--status] [--json]`, `export NUMBER`, `verify FILE [--checkpoint]`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.registry.test_registry import ASSESSOR, HOLDER, application
from tests.test_cli import run
from yiwang.config import get_settings, reset_settings
from yiwang.identity import repository
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.registry import service
from yiwang.registry.schemas import ChangeIn, DecisionIn, LicenceIn, ReportIn
from yiwang.runtime import Platform


@pytest.fixture(params=["standard", "sm"])
def province_dir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    monkeypatch.setenv("YIWANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YIWANG_CRYPTO_SUITE", request.param)
    monkeypatch.delenv("YIWANG_DATABASE_URL", raising=False)
    reset_settings()
    assert run("init")[0] == 0
    for args in (
        ("org", "create", "440000", "--name", "广东省", "--kind", "region"),
        ("org", "create", "440100", "--name", "广州市", "--kind", "region"),
        (
            "org",
            "create",
            HOLDER,
            "--name",
            "广州电力数据科技有限公司",
            "--kind",
            "enterprise",
            "--parent",
            "440100",
        ),
        ("org", "create", ASSESSOR, "--name", "广州数据合规评估有限公司", "--kind", "enterprise"),
        ("org", "create", "440000-zsj", "--name", "广东省政务服务和数据管理局", "--parent", "440000"),
        ("user", "create", "holder", "--org", HOLDER, "--role", "enterprise", "--password", "Secret123x"),
        ("user", "create", "assessor", "--org", ASSESSOR, "--role", "assessor", "--password", "Secret123x"),
        (
            "user",
            "create",
            "registrar",
            "--org",
            "440000-zsj",
            "--role",
            "operator",
            "--password",
            "Secret123x",
        ),
    ):
        code, out = run(*args)
        assert code == 0, out
    yield tmp_path
    reset_settings()


def issue_one() -> str:
    platform = Platform.from_settings(get_settings())
    try:
        with platform.session_scope() as db:

            def actor(name: str) -> Actor:
                user = repository.user_by_username(db, name)
                assert user is not None
                return identity.actor_for_user(user)

            app = service.submit_application(db, actor("holder"), application(), today=date(2026, 3, 2))
            service.accept_application(db, actor("registrar"), app.id, DecisionIn(approve=True))
            service.attach_report(db, actor("assessor"), app.id, ReportIn(opinion="pass", report="合规"))
            service.decide_compliance(
                db, actor("registrar"), app.id, DecisionIn(approve=True), today=date(2026, 3, 2)
            )
            return service.issue_due(db, actor("registrar"), platform.keyring, today=date(2026, 4, 1))[
                0
            ].number
    finally:
        platform.close()


def test_list_export_verify_and_a_tampered_bundle(province_dir: Path) -> None:
    number = issue_one()
    code, out = run("certificate", "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {"number": number, "status": "active", "holder": HOLDER, "name": "工商业用户用电数据集"}
    ]
    assert json.loads(run("certificate", "list", "--status", "pledged", "--json")[1]) == []

    code, out = run("certificate", "export", number)
    assert code == 0
    bundle_file = province_dir / "cert.json"
    bundle_file.write_text(out, encoding="utf-8")
    code, later = run("certificate", "checkpoint", "--since", str(json.loads(out)["checkpoint"]["size"]))
    assert code == 0
    later_file = province_dir / "later.json"
    later_file.write_text(later, encoding="utf-8")

    code, out = run("certificate", "verify", str(bundle_file), "--checkpoint", str(later_file))
    assert code == 0, out
    assert "有效" in out
    assert "active" in out

    data = json.loads(bundle_file.read_text(encoding="utf-8"))
    data["certificate"]["records"] += 1
    bundle_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code, out = run("certificate", "verify", str(bundle_file))
    assert code == 1
    assert "凭证签名" in out


def test_verify_needs_no_database(province_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real bundle verifies with the database out of reach (and its data directory gone)."""
    number = issue_one()
    code, out = run("certificate", "export", number)
    assert code == 0
    bundle_file = province_dir.parent / f"{number}.json"
    bundle_file.write_text(out, encoding="utf-8")
    monkeypatch.setenv("YIWANG_DATA_DIR", str(province_dir / "nowhere"))
    monkeypatch.setenv("YIWANG_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    reset_settings()
    code, out = run("certificate", "verify", str(bundle_file))
    assert code == 0, out
    assert "有效" in out
    (province_dir.parent / "bad.json").write_text("{not json", encoding="utf-8")
    code, out = run("certificate", "verify", str(province_dir.parent / "bad.json"))
    assert code == 1
    assert "JSON" in out


def test_a_changed_and_licensed_certificate_verifies_with_its_licences(province_dir: Path) -> None:
    """On both suites (SM3 hashes the bodies the change events chain together under 国密)."""
    number = issue_one()
    platform = Platform.from_settings(get_settings())
    try:
        with platform.session_scope() as db:

            def actor(name: str) -> Actor:
                user = repository.user_by_username(db, name)
                assert user is not None
                return identity.actor_for_user(user)

            change = service.apply_change(
                db, actor("holder"), number, ChangeIn(records=5, reason="数据清洗后记录数减少")
            )
            service.decide_change(
                db,
                actor("registrar"),
                platform.keyring,
                change.id,
                DecisionIn(approve=True),
                today=date(2026, 5, 6),
            )
            service.grant_licence(
                db,
                actor("holder"),
                platform.keyring.suite_name,
                number,
                LicenceIn(
                    licensee=ASSESSOR, right="processing", scope="合规评估", valid_until=date(2026, 12, 31)
                ),
                today=date(2026, 5, 6),
            )
    finally:
        platform.close()
    code, out = run("certificate", "export", number)
    assert code == 0
    bundle_file = province_dir / "cert.json"
    bundle_file.write_text(out, encoding="utf-8")
    code, out = run("certificate", "verify", str(bundle_file))
    assert code == 0, out
    out = " ".join(out.split())  # the console wraps long lines
    assert "事件序号连续（1–3）" in out
    assert "第 3 个事件（授权许可" in out
    assert "凭证内容第 2 版" in out
    assert f"数据加工使用权 → 广州数据合规评估有限公司（{ASSESSOR}），2026-05-06 至 2026-12-31" in out
    data = json.loads(bundle_file.read_text(encoding="utf-8"))
    data["events"][2]["leaf"] = data["events"][2]["leaf"].replace("合规评估", "任意用途")
    bundle_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code, out = run("certificate", "verify", str(bundle_file))
    assert code == 1
    assert "事件 3 的包含证明" in out
