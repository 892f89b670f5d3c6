"""Public certificate verification in a real browser: a visitor, not signed in, checks a certificate by
its number and sees its status, then uploads a tampered bundle and sees the failed check named."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy.orm import Session

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, E2E_PASSWORD, Server
from yiwang.identity import repository
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit.validators import make_uscc_from
from yiwang.registry import bundle, service
from yiwang.registry.schemas import ApplicationIn, DecisionIn, ReportIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed: browser tests skipped"),
]

HOLDER = make_uscc_from("9", "1", "440100", "MA5E12345")
ASSESSOR = make_uscc_from("9", "1", "440100", "MA5E23456")
BANK = make_uscc_from("9", "1", "440100", "MA5E34567")


@dataclass
class Story:
    server: Server
    number: str
    tampered: Path


def _actor(db: Session, username: str) -> Actor:
    user = repository.user_by_username(db, username)
    assert user is not None
    return identity.actor_for_user(user)


@pytest.fixture(scope="module")
def story(e2e_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Story:
    """An enterprise's certificate, issued after assessment and public notice, then pledged by a bank;
    and a copy of its bundle with the asset's name changed."""
    platform = e2e_server.platform
    with platform.session_scope() as db:
        system = Actor.system()
        for code, name, role, username in [
            (HOLDER, "广州电力数据科技有限公司", "enterprise", "e2e_holder"),
            (ASSESSOR, "广州数据合规评估有限公司", "assessor", "e2e_assessor"),
            (BANK, "广州某商业银行", "bank", "e2e_bank"),
        ]:
            identity.create_org(db, system, code=code, name=name, parent="440100", kind="enterprise")
            identity.create_user(
                db, system, username=username, org_code=code, roles=[role], password=E2E_PASSWORD
            )
        identity.create_user(
            db,
            system,
            username="e2e_registry",
            org_code="440100-zsj",
            roles=["operator"],
            password=E2E_PASSWORD,
        )
    today = date(2025, 9, 29)
    with platform.session_scope() as db:
        data = ApplicationIn(
            name="工商业用户用电数据集",
            kind="data_resource",
            description="2020年以来广州市工商业用户的月度用电量（脱敏）",
            rights=["holding", "processing"],
            source="自有电力营销系统",
            collection_method="系统自动采集",
            scenarios=["企业信用评估"],
            fingerprint="ab" * 32,
        )
        registry = _actor(db, "e2e_registry")
        app = service.submit_application(db, _actor(db, "e2e_holder"), data, today=today)
        service.accept_application(db, registry, app.id, DecisionIn(approve=True))
        service.attach_report(
            db, _actor(db, "e2e_assessor"), app.id, ReportIn(opinion="pass", report="来源合法")
        )
        service.decide_compliance(db, registry, app.id, DecisionIn(approve=True), today=today)
        issued = service.issue_due(db, registry, platform.keyring, today=date(2025, 11, 28))
        number = issued[0].number
        service.pledge(db, _actor(db, "e2e_bank"), platform.keyring.suite_name, number)
    with platform.session_scope() as db:
        held = bundle.export(db, platform.keyring, number)
    tampered = copy.deepcopy(held)
    tampered["certificate"]["name"] = "另一个数据集"
    path = tmp_path_factory.mktemp("registry") / f"{number}.json"
    path.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    return Story(server=e2e_server, number=number, tampered=path)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_a_visitor_verifies_by_number_and_catches_a_tampered_bundle(
    story: Story, browser: Browser, artifacts: Path
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(story.server.url + "/registry/verify")
        expect(page.get_by_role("heading", name="凭证核验", exact=True)).to_be_visible()

        page.get_by_label("凭证编号").fill(story.number)
        page.get_by_role("button", name="核验", exact=True).click()
        result = page.locator(".verify-result")
        expect(result.locator(".verdict")).to_have_text("有效")
        expect(result.locator(".current-status")).to_have_text("已质押")
        expect(result).to_contain_text("凭证签名")
        expect(result).to_contain_text("广州电力数据科技有限公司")
        page.screenshot(path=str(artifacts / "registry-verify-number.png"), full_page=True)

        # From the result to the certificate page: the QR code points back here.
        result.get_by_role("link", name=story.number).click()
        expect(page.locator("svg.qr")).to_be_visible()

        page.goto(story.server.url + "/registry/verify")
        page.get_by_label("凭证包（JSON）").set_input_files(str(story.tampered))
        page.get_by_role("button", name="上传并核验").click()
        result = page.locator(".verify-result")
        expect(result.locator(".verdict")).to_have_text("无效")
        expect(result.locator(".failed-check")).to_have_text("未通过的检查：凭证签名")
        page.screenshot(path=str(artifacts / "registry-verify-tampered.png"), full_page=True)
    finally:
        context.close()
