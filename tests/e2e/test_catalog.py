"""The catalog in a real browser: sign in, search in Chinese, open a resource, upload data."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.catalog.conftest import resource_data
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, E2E_PASSWORD, Server
from yiwang.catalog import service
from yiwang.identity.authz import Actor
from yiwang.kit.validators import make_id_number

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed: browser tests skipped"),
]

PROVIDER = "440100-zsj"  # 广州's data bureau, where the e2e CDO works
CODE = "E2E-SBCB-001"


@pytest.fixture(scope="module")
def catalog(e2e_server: Server) -> Server:
    """Two published resources of the bureau: one with people's data, one not."""
    people = [
        {"name": "id_number", "title": "公民身份号码", "format": "id_number", "pi": "id_number", "key": True},
        {"name": "name", "title": "姓名", "pi": "name", "required": True},
        {"name": "joined", "title": "参保日期", "type": "date"},
    ]
    items = [
        resource_data(
            "社会保险参保人员信息",
            provider=PROVIDER,
            code=CODE,
            summary="全市社会保险参保人员的基本信息。",
            themes=["社会保障"],
            keywords=["社保", "参保"],
            share_type="unconditional",
            fields=people,
        ),
        resource_data(
            "医疗机构名录",
            provider=PROVIDER,
            code="E2E-YLJG-001",
            summary="全市医疗机构的名称与地址。",
            themes=["医疗健康"],
            keywords=["医院"],
            share_type="unconditional",
            open_type="unconditional",
            fields=[{"name": "org_name", "title": "机构名称", "required": True}],
        ),
    ]
    with e2e_server.platform.session_scope() as db:
        service.import_resources(db, Actor.system(), items, publish=True)
    return e2e_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def people_csv(count: int, bad_row: int | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["公民身份号码", "姓名", "参保日期"])
    for i in range(1, count + 1):
        number = make_id_number("440104", date(1980 + i, 3, 1 + i), i + 20)
        if i == bad_row:
            number = number[:-1] + ("0" if number[-1] != "0" else "1")  # a wrong check digit
        writer.writerow([number, f"李{i}华", "2021-05-06"])
    return buffer.getvalue().encode("utf-8")


class TestCatalog:
    def test_search_open_and_upload_with_a_bad_row(
        self, catalog: Server, page: Page, artifacts: Path
    ) -> None:
        page.goto(catalog.url + "/login?next=/catalog")
        page.get_by_label("用户名").fill("gz_cdo")
        page.get_by_label("密码").fill(E2E_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(catalog.url + "/catalog")
        expect(page.get_by_role("heading", name="数据目录", exact=True)).to_be_visible()

        # Search in Chinese: a word inside a longer word, highlighted; htmx swaps the results in.
        page.get_by_label("搜索数据资源").fill("参保")
        page.get_by_label("搜索数据资源").press("Enter")
        expect(page).to_have_url(re.compile(r"/catalog\?q=%E5%8F%82%E4%BF%9D"))
        expect(page.locator(".result-count")).to_have_text("共找到 1 个资源")
        hit = page.get_by_role("link", name="社会保险参保人员信息")
        expect(hit).to_be_visible()
        expect(hit.locator("mark")).to_have_text("参保")
        expect(page.locator('[data-facet="theme"]')).to_contain_text("社会保障")
        page.screenshot(path=str(artifacts / "catalog-search.png"), full_page=True)

        # Open the resource: its fields with their kinds of personal information.
        hit.click()
        expect(page.get_by_role("heading", name="社会保险参保人员信息")).to_be_visible()
        expect(page.locator(".fields-table")).to_contain_text("身份证件号码")
        expect(page.locator(".fields-table")).to_contain_text("公民身份号码")

        # Upload a CSV whose second row has a wrong ID number: nothing loads, the row is named.
        page.get_by_role("link", name="上传数据").click()
        expect(page.get_by_role("heading", name=re.compile("上传数据"))).to_be_visible()
        page.get_by_label("数据文件").set_input_files(
            {"name": "people.csv", "mimeType": "text/csv", "buffer": people_csv(4, bad_row=2)}
        )
        page.get_by_role("button", name="上传并校验").click()
        expect(page.locator(".load-rejected")).to_contain_text("未装载任何数据")
        rows = page.locator("table.error-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first.locator("td").nth(0)).to_have_text("2")
        expect(rows.first.locator("td").nth(1)).to_contain_text("公民身份号码")
        page.screenshot(path=str(artifacts / "catalog-upload-rejected.png"), full_page=True)

        # The corrected file loads; the resource page then shows the masked preview.
        page.get_by_label("数据文件").set_input_files(
            {"name": "people.csv", "mimeType": "text/csv", "buffer": people_csv(4)}
        )
        page.get_by_role("button", name="上传并校验").click()
        expect(page.locator(".load-ok")).to_contain_text("装载成功：4 行")
        page.goto(catalog.url + f"/catalog/{CODE}")
        preview = page.locator("table.preview")
        expect(preview).to_contain_text("李*")
        expect(preview).not_to_contain_text("李1华")

    def test_a_facet_filters_in_place(self, catalog: Server, page: Page) -> None:
        page.goto(catalog.url + "/login?next=/catalog")
        page.get_by_label("用户名").fill("gz_cdo")
        page.get_by_label("密码").fill(E2E_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(catalog.url + "/catalog")
        page.locator('[data-facet="theme"]').get_by_label(re.compile("医疗健康")).check()
        expect(page).to_have_url(re.compile(r"theme=%E5%8C%BB%E7%96%97%E5%81%A5%E5%BA%B7"))
        expect(page.locator(".result-count")).to_have_text("共找到 1 个资源")
        expect(page.get_by_role("link", name="医疗机构名录")).to_be_visible()
