"""The data exchange in a real browser: a buyer signs in, finds a product in the market by a word
inside its name, reads its usage policy, orders and pays at the listed terms, gets the delivery key
once with the call to make, calls the gateway with it, and accepts the delivery."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy.orm import Session

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, E2E_PASSWORD, Server
from tests.exchange.conftest import csv_rows, listing_in
from yiwang.exchange import service
from yiwang.exchange.schemas import MemberIn, NodeIn, ReviewIn
from yiwang.identity import repository
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit.validators import make_uscc_from
from yiwang.registry import service as registry
from yiwang.registry.schemas import ApplicationIn, DecisionIn, ReportIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed: browser tests skipped"),
]

SELLER = make_uscc_from("9", "1", "440100", "MA5E45671")
BUYER = make_uscc_from("9", "1", "440100", "MA5E45672")
ASSESSOR = make_uscc_from("9", "1", "440100", "MA5E45673")


@dataclass
class Story:
    server: Server
    listing: int


def _actor(db: Session, username: str) -> Actor:
    user = repository.user_by_username(db, username)
    assert user is not None
    return identity.actor_for_user(user)


@pytest.fixture(scope="module")
def story(e2e_server: Server) -> Story:
    """The exchange in 广州 with a seller's certified, published product and a buyer with money."""
    platform = e2e_server.platform
    with platform.session_scope() as db:
        system = Actor.system()
        for code, name, role, username in [
            (SELLER, "广州能源数据服务有限公司", "enterprise", "e2e_x_seller"),
            (BUYER, "广州某融资租赁有限公司", "enterprise", "e2e_x_buyer"),
            (ASSESSOR, "广州数据资产评估有限公司", "assessor", "e2e_x_assessor"),
        ]:
            identity.create_org(db, system, code=code, name=name, parent="440100", kind="enterprise")
            identity.create_user(
                db, system, username=username, org_code=code, roles=[role], password=E2E_PASSWORD
            )
        identity.create_user(
            db,
            system,
            username="e2e_x_operator",
            org_code="440100-zsj",
            roles=["operator"],
            password=E2E_PASSWORD,
        )
    today = date(2025, 9, 29)
    with platform.session_scope() as db:
        operator, seller = _actor(db, "e2e_x_operator"), _actor(db, "e2e_x_seller")
        application = registry.submit_application(
            db,
            seller,
            ApplicationIn(
                name="工商业用户月度用电数据",
                kind="data_product",
                description="广州市工商业用户的月度用电量",
                rights=["holding", "operating"],
                source="自有电力营销系统",
                collection_method="系统自动采集",
                scenarios=["企业信用评估"],
                fingerprint="cd" * 32,
            ),
            today=today,
        )
        registry.accept_application(db, operator, application.id, DecisionIn(approve=True))
        registry.attach_report(
            db, _actor(db, "e2e_x_assessor"), application.id, ReportIn(opinion="pass", report="来源合法")
        )
        registry.decide_compliance(db, operator, application.id, DecisionIn(approve=True), today=today)
        assert application.notice_end is not None
        issued = registry.issue_due(
            db, operator, platform.keyring, today=application.notice_end + timedelta(days=1)
        )
        number = issued[0].number
        service.create_node(
            db,
            operator,
            NodeIn(
                code="E2E-EX", name="广州数据交易所", kind="exchange", region="440100", operator="440100-zsj"
            ),
        )
        service.admit_member(db, operator, MemberIn(org=SELLER, node="E2E-EX", roles=["seller"]))
        service.admit_member(db, operator, MemberIn(org=BUYER, node="E2E-EX", roles=["buyer"]))
        service.deposit(db, operator, BUYER, 5_000_000)
    with platform.session_scope() as db:
        seller, operator = _actor(db, "e2e_x_seller"), _actor(db, "e2e_x_operator")
        listing = service.create_listing(db, seller, listing_in(number, node="E2E-EX"))
        service.load_listing_data(db, seller, listing.id, io.BytesIO(csv_rows(25)), "data.csv")
        service.submit_listing(db, seller, listing.id)
        service.review_listing(db, operator, listing.id, ReviewIn(approve=True))
        return Story(server=e2e_server, listing=listing.id)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_a_buyer_finds_orders_pays_calls_and_accepts(story: Story, browser: Browser, artifacts: Path) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    try:
        page.goto(story.server.url + "/login?next=/exchange")
        page.get_by_label("用户名").fill("e2e_x_buyer")
        page.get_by_label("密码").fill(E2E_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", name="数据交易", exact=True)).to_be_visible()

        page.get_by_label("搜索数据产品").fill("用电")
        page.get_by_role("button", name="搜索", exact=True).click()
        expect(page.locator(".result-count")).to_have_text("共 1 个数据产品")
        page.get_by_role("link", name="工商业用户月度用电指数").click()

        policy = page.locator("#policy")
        expect(policy).to_contain_text("信贷风控、企业信用评估")
        expect(policy).to_contain_text("禁止转售")
        page.get_by_label("使用用途").select_option("信贷风控")
        page.get_by_label("使用地").fill("440106")
        page.get_by_label("按挂牌条件直接付款").check()
        page.get_by_role("button", name="提交订单").click()

        key = page.locator("#delivery-key")
        expect(key).to_have_text(re.compile(r"^yx_\d+_"))
        expect(page.locator(".contract-state")).to_contain_text("履约中")
        expect(page.locator("#key pre")).to_contain_text('curl -H "Authorization: Bearer ')
        page.screenshot(path=str(artifacts / "exchange-paid.png"), full_page=True)
        gateway = page.locator("#key pre").inner_text().split()[-1]
        answer = context.request.get(gateway, headers={"Authorization": f"Bearer {key.inner_text()}"})
        assert answer.status == 200, answer.text()
        assert len(answer.json()["records"]) == 25

        page.get_by_role("button", name="验收并结算").click()
        expect(page.get_by_role("status")).to_have_text("已验收，托管资金已结算。")
        expect(page.locator(".contract-state")).to_contain_text("已结算")
        page.screenshot(path=str(artifacts / "exchange-settled.png"), full_page=True)
        assert refused == []
    finally:
        context.close()
