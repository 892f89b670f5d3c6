"""The catalog's pages through the app: search, resource pages, forms, review, upload."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from tests.web.test_pages import HTML, audit_rows, csrf, login
from yiwang.app import create_app
from yiwang.catalog import data, service
from yiwang.catalog.models import Load, Resource
from yiwang.catalog.schemas import ResourceIn
from yiwang.identity.authz import Actor
from yiwang.kit.validators import make_id_number
from yiwang.runtime import Platform

PEOPLE_FIELDS = [
    {
        "name": "id_number",
        "title": "公民身份号码",
        "format": "id_number",
        "pi": "id_number",
        "key": True,
        "required": True,
    },
    {"name": "name", "title": "姓名", "pi": "name", "required": True},
    {"name": "joined", "title": "参保日期", "type": "date"},
]
BUS_FIELDS = [
    {"name": "line_no", "title": "线路编号", "key": True, "required": True},
    {"name": "line_name", "title": "线路名称"},
]


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), headers=HTML) as c:
        yield c


@pytest.fixture
def published(platform: Platform, province: Province) -> dict[str, str]:
    """Four published resources: two of 广州's market bureau, one open, one of 深圳."""
    items = [
        resource_data("企业登记基本信息", code="R-QYDJ"),
        resource_data(
            "养老保险参保信息",
            code="R-PEOPLE",
            summary="参保人员的基本信息。",
            themes=["社会保障"],
            keywords=["养老", "社保"],
            share_type="unconditional",
            fields=PEOPLE_FIELDS,
        ),
        resource_data(
            "公交线路信息",
            code="R-BUS",
            summary="全市公交线路与站点。",
            themes=["交通出行"],
            keywords=["公交"],
            share_type="unconditional",
            open_type="unconditional",
            level="general",
            fields=BUS_FIELDS,
        ),
        resource_data(
            "企业年度报告信息",
            provider="440300-amr",
            code="R-SZNB",
            share_type="unconditional",
            level="general",
        ),
    ]
    with platform.session_scope() as db:
        service.import_resources(db, Actor.system(), items, publish=True)
    return {item["code"]: item["name"] for item in items}


def people_csv(count: int, bad_row: int | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["公民身份号码", "姓名", "参保日期"])
    for i in range(1, count + 1):
        number = make_id_number("440106", date(1970 + i, 1 + i % 12, 1 + i % 28), i + 10)
        if i == bad_row:
            number = number[:-1] + ("0" if number[-1] != "0" else "1")  # a wrong check digit
        writer.writerow([number, f"张{i}三", "2020-01-02"])
    return buffer.getvalue().encode("utf-8")


def resource(platform: Platform, code: str) -> Resource:
    with platform.session_scope(read_only=True) as db:
        return service.get_resource(db, Actor.system(), code)


def count(platform: Platform, model: type) -> int:
    with platform.session_scope(read_only=True) as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def facet(page: str, name: str) -> dict[str, int]:
    """The facet's values (as shown) and counts."""
    block = re.search(rf'data-facet="{name}">(.*?)</fieldset>', page, re.S)
    assert block, f"no {name} facet on the page"
    found = re.findall(
        r'<span class="facet-name">(.*?)</span>\s*<span class="count">(\d+)</span>', block.group(1), re.S
    )
    return {label.strip(): int(n) for label, n in found}


def switch(client: TestClient, username: str) -> None:
    """Sign in as someone else (the sign-in page sends a signed-in browser straight on)."""
    client.cookies.clear()
    assert login(client, username).status_code == 303


def form_data(**overrides: Any) -> dict[str, str]:
    """A valid resource form as the page posts it (one field row)."""
    data = {
        "name": "食品经营许可信息",
        "code": "",
        "provider": "440100-amr",
        "category": "部门信息资源",
        "summary": "食品经营许可证的发证信息。",
        "themes": "市场监管",
        "keywords": "食品、许可",
        "format": "table",
        "share_type": "unconditional",
        "share_method": "api",
        "open_type": "none",
        "update_cycle": "monthly",
        "level": "general",
        "released": "",
        "related": "",
        "share_condition": "",
        "share_basis": "",
        "fields-0-name": "licence_no",
        "fields-0-title": "许可证编号",
        "fields-0-type": "string",
        "fields-0-format": "",
        "fields-0-pi": "none",
        "fields-0-key": "1",
        "fields-0-required": "1",
        "action": "save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


class TestSearch:
    def test_chinese_search_highlights_hits_and_counts_facets(
        self, client: TestClient, published: dict[str, str]
    ) -> None:
        login(client, "gz_staff")
        page = client.get("/catalog", params={"q": "企业"})
        assert page.status_code == 200
        assert "共找到 2 个资源" in page.text
        assert "<mark>企业</mark>登记基本信息" in page.text
        assert "<mark>企业</mark>年度报告信息" in page.text
        assert "公交线路信息" not in page.text
        assert facet(page.text, "provider") == {"广州市市场监督管理局": 1, "深圳市市场监督管理局": 1}
        assert facet(page.text, "share_type") == {"有条件共享": 1, "无条件共享": 1}
        assert facet(page.text, "theme") == {"市场监管": 2}

    def test_a_word_inside_a_field_title_and_pinyin_initials(
        self, client: TestClient, published: dict[str, str]
    ) -> None:
        login(client, "gz_staff")
        page = client.get("/catalog", params={"q": "代码"})
        assert "企业登记基本信息" in page.text
        assert "统一社会信用<mark>代码</mark>" in page.text  # shown among the matching fields
        by_initials = client.get("/catalog", params={"q": "qydj"})
        assert "共找到 1 个资源" in by_initials.text
        title = re.search(r'<a href="/catalog/R-QYDJ">(.*?)</a>', by_initials.text)
        assert title
        assert "<mark>" in title.group(1)  # the characters the initials stand for are marked
        assert re.sub(r"</?mark>", "", title.group(1)) == "企业登记基本信息"

    def test_facet_filters_narrow_the_result(self, client: TestClient, published: dict[str, str]) -> None:
        login(client, "gz_staff")
        page = client.get("/catalog", params={"share_type": "unconditional", "provider": "440100-amr"})
        assert "共找到 2 个资源" in page.text
        assert "养老保险参保信息" in page.text
        assert "公交线路信息" in page.text
        assert "企业登记基本信息" not in page.text
        assert 'name="share_type" value="unconditional" checked' in page.text
        # the chosen filter can be removed with one click, keeping the other
        removal = re.search(r'<a class="chip chip-remove" href="([^"]+)"[^>]*>共享类型', page.text)
        assert removal
        assert "provider=440100-amr" in removal.group(1)
        assert "share_type" not in removal.group(1)
        by_theme = client.get("/catalog", params={"theme": "社会保障"})
        assert "共找到 1 个资源" in by_theme.text

    def test_sorting_and_paging(self, client: TestClient, platform: Platform, province: Province) -> None:
        items = [resource_data(f"测试资源{i:02d}", code=f"R-T{i:02d}") for i in range(25)]
        with platform.session_scope() as db:
            service.import_resources(db, Actor.system(), items, publish=True)
        login(client, "gz_staff")
        first = client.get("/catalog", params={"q": "测试资源", "sort": "newest"})
        assert "共找到 25 个资源" in first.text
        assert "第 1 / 2 页" in first.text
        assert first.text.count('class="result"') == 20
        assert '<option value="newest" selected>' in first.text
        second = client.get("/catalog", params={"q": "测试资源", "sort": "newest", "page": "2"})
        assert second.text.count('class="result"') == 5
        assert "第 2 / 2 页" in second.text
        assert client.get("/catalog", params={"page": "x", "sort": "bogus"}).status_code == 200

    def test_anonymous_visitors_see_only_open_resources(
        self, client: TestClient, published: dict[str, str]
    ) -> None:
        page = client.get("/catalog")
        assert page.status_code == 200
        assert "公交线路信息" in page.text
        for name in ("企业登记基本信息", "养老保险参保信息", "企业年度报告信息"):
            assert name not in page.text
        assert "共找到 1 个资源" in page.text
        assert client.get("/catalog/R-BUS").status_code == 200
        hidden = client.get("/catalog/R-QYDJ")
        assert hidden.status_code == 404
        assert "资源 R-QYDJ 不存在" in hidden.text
        assert client.get("/catalog/review", follow_redirects=False).status_code == 303  # to sign in

    def test_provider_page_lists_the_departments_resources(
        self, client: TestClient, published: dict[str, str]
    ) -> None:
        login(client, "sz_staff")
        page = client.get("/catalog/providers/440100-amr")
        assert page.status_code == 200
        assert "<h1>广州市市场监督管理局</h1>" in page.text
        assert "已发布 3 个资源" in page.text
        assert "企业年度报告信息" not in page.text
        assert "编目新资源" not in page.text  # 深圳's staff do not catalogue for 广州
        assert client.get("/catalog/providers/nope").status_code == 404

    def test_english_switch(self, client: TestClient, published: dict[str, str]) -> None:
        login(client, "gz_staff")
        client.cookies.set("lang", "en")
        page = client.get("/catalog", params={"q": "企业"})
        assert "2 resources found" in page.text
        assert "Shared on conditions" in page.text


class TestResourcePage:
    def test_metadata_fields_and_masked_preview(
        self, client: TestClient, platform: Platform, province: Province, published: dict[str, str]
    ) -> None:
        with platform.session_scope() as db:
            data.load_data(db, province.actor("gz_staff"), "R-PEOPLE", io.BytesIO(people_csv(3)), "p.csv")
        login(client, "sz_staff")  # another department: sees it, masked
        page = client.get("/catalog/R-PEOPLE")
        assert page.status_code == 200
        assert "<h1>养老保险参保信息</h1>" in page.text
        assert "身份证件号码" in page.text  # the field's kind of personal information
        assert "张*" in page.text
        assert "张1三" not in page.text
        first_id = make_id_number("440106", date(1971, 2, 2), 11)
        assert first_id not in page.text
        assert first_id[:6] + "********" + first_id[-4:] in page.text
        assert "表中共 3 行" in page.text  # freshness
        assert "装载数据" in page.text  # activity history
        assert "第 1 版" in page.text
        assert "上传数据" not in page.text
        assert "/catalog/R-PEOPLE/edit" not in page.text

    def test_conditional_resource_shows_its_condition_and_no_preview(
        self, client: TestClient, published: dict[str, str]
    ) -> None:
        login(client, "sz_staff")
        page = client.get("/catalog/R-QYDJ")
        assert "有条件共享" in page.text
        assert "仅用于行政审批与监管" in page.text
        assert "需申请授权" in page.text

    def test_provider_staff_get_their_buttons(self, client: TestClient, published: dict[str, str]) -> None:
        login(client, "gz_staff")
        page = client.get("/catalog/R-PEOPLE")
        assert 'href="/catalog/R-PEOPLE/edit"' in page.text
        assert 'href="/catalog/R-PEOPLE/upload"' in page.text
        assert "撤销发布" not in page.text  # revoking is for the CDO

    def test_unknown_resource_is_a_chinese_404(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        page = client.get("/catalog/NOPE-1")
        assert page.status_code == 404
        assert "资源 NOPE-1 不存在" in page.text


class TestForms:
    def test_validation_errors_are_shown_next_to_the_fields_and_input_is_kept(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        login(client, "gz_staff")
        form = client.get("/catalog/new")
        assert form.status_code == 200
        assert '<option value="440100-amr" selected>' in form.text
        bad = form_data(
            name="",
            share_type="conditional",
            summary="保留我输入的摘要",
            **{"fields-0-name": "Bad Name", "fields-1-name": "", "fields-1-title": ""},
        )
        response = client.post("/catalog/new", data={**bad, "csrf_token": csrf(form)})
        assert response.status_code == 422
        assert 'id="err-name">内容过短或为空' in response.text
        assert '<p class="field-error" id="err-fields-0-name">格式不符合要求</p>' in response.text
        assert "保留我输入的摘要" in response.text
        assert 'value="Bad Name"' in response.text
        assert 'value="许可证编号"' in response.text
        assert count(platform, Resource) == 0

    def test_model_rules_land_on_their_fields(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        form = client.get("/catalog/new")
        response = client.post(
            "/catalog/new", data={**form_data(share_type="conditional"), "csrf_token": csrf(form)}
        )
        assert response.status_code == 422
        assert (
            '<p class="field-error" id="err-share_condition">有条件共享的资源必须填写共享条件'
            in response.text
        )

    def test_rows_can_be_added_and_removed(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        token = csrf(client.get("/catalog/new"))
        added = client.post("/catalog/new", data={**form_data(action="add_field"), "csrf_token": token})
        assert added.status_code == 200
        assert 'name="fields-1-name"' in added.text
        assert 'value="licence_no"' in added.text
        removed = client.post(
            "/catalog/new", data={**form_data(action="remove_field-0"), "csrf_token": token}
        )
        assert 'value="licence_no"' not in removed.text

    def test_create_then_submit(self, client: TestClient, platform: Platform, province: Province) -> None:
        login(client, "gz_staff")
        token = csrf(client.get("/catalog/new"))
        response = client.post(
            "/catalog/new", data={**form_data(code="R-FOOD"), "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/catalog/R-FOOD?done=create"
        draft = resource(platform, "R-FOOD")
        assert draft.status == "draft"
        assert [f.title for f in draft.fields] == ["许可证编号"]
        page = client.get("/catalog/R-FOOD?done=create")
        assert "已保存为草稿" in page.text
        submitted = client.post(
            "/catalog/R-FOOD/submit", data={"csrf_token": csrf(page)}, follow_redirects=False
        )
        assert submitted.status_code == 303
        assert resource(platform, "R-FOOD").status == "submitted"

    def test_duplicate_code_is_shown_on_the_form(
        self, client: TestClient, province: Province, published: dict[str, str]
    ) -> None:
        login(client, "gz_staff")
        token = csrf(client.get("/catalog/new"))
        response = client.post("/catalog/new", data={**form_data(code="R-QYDJ"), "csrf_token": token})
        assert response.status_code == 409
        assert 'id="err-code">资源代码 R-QYDJ 已存在' in response.text

    def test_editing_a_published_resource_proposes_a_change(
        self, client: TestClient, platform: Platform, published: dict[str, str]
    ) -> None:
        login(client, "gz_staff")
        form = client.get("/catalog/R-BUS/edit")
        assert form.status_code == 200
        assert 'value="公交线路信息"' in form.text
        assert 'value="line_no"' in form.text
        posted = {
            **form_data(name="公交线路与站点信息", action="submit"),
            "fields-0-name": "line_no",
            "fields-0-title": "线路编号",
            "csrf_token": csrf(form),
        }
        response = client.post("/catalog/R-BUS/edit", data=posted, follow_redirects=False)
        assert response.status_code == 303
        bus = resource(platform, "R-BUS")
        assert bus.name == "公交线路信息"  # unchanged until approved
        assert bus.pending_status == "submitted"

    def test_staff_of_another_department_cannot_edit(
        self, client: TestClient, platform: Platform, published: dict[str, str]
    ) -> None:
        login(client, "sz_staff")
        page = client.get("/catalog/R-QYDJ/edit")
        assert page.status_code == 403
        assert "无权访问" in page.text
        token = csrf(client.get("/catalog"))
        response = client.post("/catalog/R-QYDJ/edit", data={**form_data(name="改名"), "csrf_token": token})
        assert response.status_code == 403
        assert resource(platform, "R-QYDJ").name == "企业登记基本信息"
        assert ("sz_staff", "denied") in audit_rows(platform, "catalog.edit")
        assert client.get("/catalog/R-QYDJ/upload").status_code == 403

    def test_a_post_without_the_csrf_token_is_refused(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        login(client, "gz_staff")
        response = client.post("/catalog/new", data=form_data())
        assert response.status_code == 403
        assert "CSRF" in response.text
        assert count(platform, Resource) == 0


def submit_draft(platform: Platform, province: Province, code: str, name: str) -> None:
    with platform.session_scope() as db:
        staff = province.actor("gz_staff")
        service.create_resource(db, staff, ResourceIn.model_validate(resource_data(name, code=code)))
        service.submit_resource(db, staff, code)


class TestReviewQueue:
    def test_cdo_approves_from_the_queue(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        submit_draft(platform, province, "R-NEW", "新建企业名录")
        login(client, "gz_cdo")
        queue = client.get("/catalog/review")
        assert queue.status_code == 200
        assert "新建企业名录" in queue.text
        response = client.post(
            "/catalog/R-NEW/review",
            data={"decision": "approve", "next": "/catalog/review", "csrf_token": csrf(queue)},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/catalog/review?done=publish"
        assert resource(platform, "R-NEW").status == "published"
        after = client.get("/catalog/review?done=publish")
        assert "审核通过，资源已发布" in after.text
        assert "暂无待审核的资源" in after.text
        assert 'href="/catalog/R-NEW"' in client.get("/catalog", params={"q": "企业名录"}).text

    def test_reject_needs_a_reason(self, client: TestClient, platform: Platform, province: Province) -> None:
        submit_draft(platform, province, "R-NEW", "新建企业名录")
        login(client, "gz_cdo")
        token = csrf(client.get("/catalog/review"))
        missing = client.post(
            "/catalog/R-NEW/review",
            data={"decision": "reject", "reason": " ", "next": "/catalog/review", "csrf_token": token},
        )
        assert missing.status_code == 422
        assert "驳回必须说明理由" in missing.text
        assert resource(platform, "R-NEW").status == "submitted"
        response = client.post(
            "/catalog/R-NEW/review",
            data={
                "decision": "reject",
                "reason": "摘要不完整",
                "next": "/catalog/review",
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        rejected = resource(platform, "R-NEW")
        assert (rejected.status, rejected.status_reason) == ("rejected", "摘要不完整")
        switch(client, "gz_staff")
        assert "审核未通过，理由：摘要不完整" in client.get("/catalog/R-NEW").text

    def test_queue_is_scoped_and_closed_to_staff(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        submit_draft(platform, province, "R-NEW", "新建企业名录")
        login(client, "sz_cdo")
        assert "新建企业名录" not in client.get("/catalog/review").text
        switch(client, "gz_staff")
        refused = client.get("/catalog/review")
        assert refused.status_code == 403
        assert "只有首席数据官或平台运营可以审核目录" in refused.text


class TestUpload:
    def test_a_bad_row_shows_the_error_table_and_loads_nothing(
        self, client: TestClient, platform: Platform, published: dict[str, str]
    ) -> None:
        login(client, "gz_staff")
        form = client.get("/catalog/R-PEOPLE/upload")
        assert form.status_code == 200
        response = client.post(
            "/catalog/R-PEOPLE/upload",
            data={"mode": "replace", "csrf_token": csrf(form)},
            files={"file": ("people.csv", people_csv(5, bad_row=3), "text/csv")},
        )
        assert response.status_code == 422
        assert "文件有误，未装载任何数据：共 1 处错误" in response.text
        table = re.search(r'<table class="table error-table">(.*?)</table>', response.text, re.S)
        assert table
        cells = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", table.group(1), re.S)
        ]
        assert cells[0] == "3"
        assert cells[1].startswith("公民身份号码")
        assert cells[3]  # the reason
        assert resource(platform, "R-PEOPLE").row_count == 0
        assert count(platform, Load) == 0

    def test_a_good_file_shows_count_and_hash(
        self, client: TestClient, platform: Platform, published: dict[str, str]
    ) -> None:
        login(client, "gz_staff")
        token = csrf(client.get("/catalog/R-PEOPLE/upload"))
        response = client.post(
            "/catalog/R-PEOPLE/upload",
            data={"mode": "replace", "csrf_token": token},
            files={"file": ("people.csv", people_csv(4), "text/csv")},
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "装载成功：4 行" in page.text
        assert re.search(r'<code class="hash">[0-9a-f]{64}</code>', page.text)
        assert resource(platform, "R-PEOPLE").row_count == 4

    def test_wrong_file_type_is_explained(self, client: TestClient, published: dict[str, str]) -> None:
        login(client, "gz_staff")
        token = csrf(client.get("/catalog/R-PEOPLE/upload"))
        response = client.post(
            "/catalog/R-PEOPLE/upload",
            data={"mode": "append", "csrf_token": token},
            files={"file": ("people.pdf", b"%PDF", "application/pdf")},
        )
        assert response.status_code == 422
        assert "不支持的文件类型 .pdf" in response.text
        assert 'value="append" checked' in response.text
