"""The sharing story in a real browser: request, narrowed approval, a gateway call, the access log
on both sides, revocation, and the next call refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, E2E_PASSWORD, Server
from tests.sharing.conftest import DISTRICTS, load_people, publish
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed: browser tests skipped"),
]

PROVIDER = "440100-zsj"  # 广州's data bureau; its CDO (gz_cdo) answers requests
CONSUMER = "440300-e2e-amr"
CODE = "E2E-SHARE-001"


@dataclass
class Story:
    server: Server
    token: str  # the consumer's system "sz-approval"


@pytest.fixture(scope="module")
def story(e2e_server: Server) -> Story:
    """A consumer department in 深圳 with a staff account and its system token, and a conditional
    resource of 广州's data bureau with personal fields and data."""
    platform = e2e_server.platform
    with platform.session_scope() as db:
        system = Actor.system()
        for code, name, parent, kind in [
            ("440300", "深圳市", "440000", "region"),
            (CONSUMER, "深圳市市场监督管理局", "440300", "department"),
        ]:
            if identity.org_by_code(db, code) is None:
                identity.create_org(db, system, code=code, name=name, parent=parent, kind=kind)
        identity.create_user(
            db,
            system,
            username="sz_e2e",
            org_code=CONSUMER,
            roles=["staff"],
            password=E2E_PASSWORD,
            display_name="陈晓东",
        )
        _row, token = identity.create_token(db, system, username="sz_e2e", name="sz-approval")
    publish(platform, CODE, provider=PROVIDER)
    load_people(platform, CODE)
    return Story(server=e2e_server, token=token)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def open_as(browser: Browser, url: str, username: str, next: str) -> Page:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url + "/login?next=" + next)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(E2E_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(url + next)
    return page


def call(story: Story) -> httpx.Response:
    return httpx.get(
        f"{story.server.url}/gateway/v1/resources/{CODE}/records",
        headers={"Authorization": f"Bearer {story.token}"},
        timeout=10,
    )


class TestSharingStory:
    def test_request_approve_call_log_revoke(self, story: Story, browser: Browser, artifacts: Path) -> None:
        url = story.server.url
        assert call(story).status_code == 403  # no grant yet

        # The consumer finds the resource and asks for four of its fields.
        consumer = open_as(browser, url, "sz_e2e", f"/catalog/{CODE}")
        consumer.get_by_role("link", name="申请共享").click()
        expect(consumer.get_by_role("heading", name="申请共享")).to_be_visible()
        for title in ("公民身份号码", "姓名", "所属区县", "联系电话"):
            consumer.get_by_label(re.compile(title)).check()
        consumer.get_by_role("button", name="提交申请").click()
        expect(consumer.locator(".field-error").first).to_be_visible()  # purpose and basis are required
        expect(consumer.get_by_label(re.compile("联系电话"))).to_be_checked()  # what was ticked is kept
        consumer.get_by_label("申请用途").fill("企业开办审批中核验法定代表人参保情况")
        consumer.get_by_label("共享依据").fill("《优化营商环境条例》第三十七条")
        consumer.get_by_label("使用系统（令牌名称）").fill("sz-approval")
        consumer.get_by_role("button", name="提交申请").click()
        expect(consumer.locator("#outcome")).to_contain_text("待提供部门答复")
        expect(consumer.locator("#outcome")).to_contain_text("答复期限")
        request_url = consumer.url.split("?")[0]
        consumer.screenshot(path=str(artifacts / "sharing-request.png"), full_page=True)

        # The provider's CDO sees it to answer and approves three fields for 天河区, 100 calls a day.
        provider = open_as(browser, url, "gz_cdo", "/sharing")
        to_answer = provider.locator("#to-answer")
        expect(to_answer).to_contain_text("深圳市市场监督管理局")
        to_answer.get_by_role("link", name=re.compile("养老保险参保信息")).click()
        expect(provider).to_have_url(request_url)
        decision = provider.locator("#decision")
        decision.get_by_role("group", name="授权的信息项").get_by_label(re.compile("联系电话")).uncheck()
        decision.get_by_label("行范围：信息项").select_option("district")
        decision.get_by_label("行范围：取值").fill(DISTRICTS[0])
        decision.get_by_label("每日调用上限").fill("100")
        decision.get_by_role("button", name="同意共享").click()
        expect(provider.locator(".alert-ok")).to_contain_text("已同意共享")
        expect(provider.locator("#outcome")).to_contain_text("已授权")
        provider.screenshot(path=str(artifacts / "sharing-approved.png"), full_page=True)

        # The consumer's system calls the gateway: granted fields only, masked, rows in scope.
        served = call(story)
        assert served.status_code == 200, served.text
        body = served.json()
        assert body["records"]
        assert all(set(r) == {"id_number", "name", "district"} for r in body["records"])
        assert all(r["district"] == DISTRICTS[0] for r in body["records"])
        assert sorted(body["masked"]) == ["id_number", "name"]

        # Both sides see the call in the access log.
        for page in (consumer, provider):
            page.goto(url + "/sharing/access-log")
            row = page.locator(f'tr[data-call="{body["call"]}"]')
            expect(row).to_be_visible()
            expect(row).to_contain_text("200")
            expect(row).to_contain_text("sz-approval")
        provider.screenshot(path=str(artifacts / "sharing-access-log.png"), full_page=True)

        # The provider revokes the grant (a reason is required); the next call is refused.
        provider.goto(request_url)
        provider.locator("#outcome").get_by_role("link", name=re.compile("授权 #")).click()
        expect(provider.locator(".usage-today")).to_contain_text("1 / 100")
        provider.get_by_role("button", name="撤销授权").click()
        expect(provider.locator("#err-reason")).to_have_text("撤销授权须说明理由")
        provider.get_by_label(re.compile("撤销理由")).fill("用途已结束")
        provider.get_by_role("button", name="撤销授权").click()
        expect(provider.locator(".alert-ok")).to_contain_text("授权已撤销")
        refused = call(story)
        assert refused.status_code == 403
        assert refused.json()["error"]["details"]["reason"] == "grant_revoked"

        # The consumer sees the revocation and the refused call.
        consumer.goto(url + "/sharing/access-log?denied=1")
        expect(consumer.locator("table.access-log tbody tr").first).to_contain_text("403")
        consumer.goto(url + "/sharing")
        expect(consumer.locator("#notices")).to_contain_text("已被撤销")
        consumer.context.close()
        provider.context.close()
