"""Sign in and out in a real browser (the system Chromium, driven by Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, E2E_PASSWORD, Server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed: browser tests skipped"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


class TestLogin:
    def test_sign_in_see_home_sign_out(self, e2e_server: Server, page: Page, artifacts: Path) -> None:
        page.goto(e2e_server.url + "/")
        expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
        expect(page.get_by_role("heading", name="登录一网")).to_be_visible()
        page.screenshot(path=str(artifacts / "login.png"), full_page=True)

        page.get_by_label("用户名").fill("gz_cdo")
        page.get_by_label("密码").fill("not-the-password1")
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")

        page.get_by_label("密码").fill(E2E_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(e2e_server.url + "/")
        expect(page.get_by_role("heading", name="您好，李明华")).to_be_visible()
        expect(page.locator(".hero")).to_contain_text("广州市政务服务和数据管理局")
        expect(page.locator(".hero")).to_contain_text("首席数据官")
        page.screenshot(path=str(artifacts / "home.png"), full_page=True)

        page.locator(".navgroup", has_text="一网共享").hover()
        page.locator(".submenu").get_by_role("link", name="数据目录").click()
        expect(page.get_by_role("heading", name=re.compile("数据目录"))).to_be_visible()

        page.locator(".usermenu summary").click()
        page.get_by_role("button", name="退出登录").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.get_by_role("heading", name="登录一网")).to_be_visible()
        page.goto(e2e_server.url + "/")
        expect(page).to_have_url(re.compile(r"/login\?next="))

    def test_english_switch(self, e2e_server: Server, page: Page) -> None:
        page.goto(e2e_server.url + "/login")
        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", name="Sign in to Yiwang")).to_be_visible()
        page.get_by_label("Username").fill("gz_cdo")
        page.get_by_label("Password").fill(E2E_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Hello, 李明华")).to_be_visible()


class TestAuditPage:
    def test_auditor_verifies_the_log(self, e2e_server: Server, page: Page, artifacts: Path) -> None:
        page.goto(e2e_server.url + "/audit")
        page.get_by_label("用户名").fill("auditor")
        page.get_by_label("密码").fill(E2E_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(e2e_server.url + "/audit")
        expect(page.locator("table.table")).to_contain_text("auth.login")
        page.get_by_role("button", name="立即核验").click()  # htmx swaps the result in place
        expect(page.locator("#verify-result")).to_contain_text("核验通过")
        expect(page).to_have_url(e2e_server.url + "/audit")
        page.locator(".usermenu summary").click()
        page.screenshot(path=str(artifacts / "audit.png"), full_page=True)
