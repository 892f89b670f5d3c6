"""The sharing pages through the app: the request form, decisions, grants, revocation, the access log,
objections, demands, duties and the console."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from tests.conftest import Province
from tests.sharing.conftest import DISTRICTS, load_people, publish
from tests.web.test_pages import HTML, csrf, login
from yiwang.app import create_app
from yiwang.runtime import Platform
from yiwang.sharing.models import Demand, Duty, Grant, Objection, SharingRequest

CODE = "R-PEOPLE"
ALL_FIELDS = ["id_number", "name", "district", "phone", "amount"]


def count(platform: Platform, model: type) -> int:
    with platform.session_scope(read_only=True) as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def the_grant(platform: Platform) -> Grant:
    with platform.session_scope(read_only=True) as db:
        grants = list(db.execute(select(Grant)).scalars())
    assert len(grants) == 1
    return grants[0]


@pytest.fixture
def app(platform: Platform, province: Province) -> Any:
    publish(platform, CODE)
    load_people(platform, CODE)
    return create_app(platform)


def signed_in(app: Any, username: str) -> TestClient:
    client = TestClient(app, headers=HTML)
    assert login(client, username).status_code == 303
    return client


@pytest.fixture
def consumer(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "sz_staff") as c:  # 深圳市市场监督管理局
        yield c


@pytest.fixture
def provider(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "gz_staff") as c:  # 广州市市场监督管理局, the resource's provider
        yield c


@pytest.fixture
def cdo(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "gz_cdo") as c:  # 广州市's chief data officer
        yield c


def request_form(**overrides: Any) -> dict[str, Any]:
    return {
        "resource": CODE,
        "fields": ALL_FIELDS,
        "purpose": "企业开办审批中核验法定代表人参保情况",
        "scenario": "企业开办",
        "basis": "《优化营商环境条例》第三十七条",
        "valid_until": (date.today() + timedelta(days=180)).isoformat(),
        "system": "sz-approval",
        **overrides,
    }


def submit(consumer: TestClient, code: str = CODE, **overrides: Any) -> Response:
    page = consumer.get("/sharing/requests/new", params={"resource": code})
    assert page.status_code == 200, page.text
    data = request_form(resource=code, **overrides, csrf_token=csrf(page))
    return consumer.post("/sharing/requests/new", data=data, follow_redirects=False)


def submitted_id(response: Response) -> int:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/sharing/requests/(\d+)\?done=submitted", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def decide(client: TestClient, request_id: int, **form: Any) -> Response:
    page = client.get(f"/sharing/requests/{request_id}")
    assert page.status_code == 200, page.text
    return client.post(
        f"/sharing/requests/{request_id}/decision",
        data={**form, "csrf_token": csrf(page)},
        follow_redirects=False,
    )


def approve_narrowed(provider: TestClient, request_id: int) -> Response:
    return decide(
        provider,
        request_id,
        decision="approve",
        fields=["id_number", "name", "district"],
        scope_field="district",
        scope_value=DISTRICTS[0],
        daily_quota="100",
        reason="同意，限天河区",
    )


def error_for(page: str, key: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{key}">(.*?)</p>', page, re.S)
    assert found, f"no error under {key}"
    return found.group(1)


class TestRequestForm:
    def test_the_form_lists_fields_with_their_personal_kind(self, consumer: TestClient) -> None:
        page = consumer.get("/sharing/requests/new", params={"resource": CODE})
        assert page.status_code == 200
        assert "申请共享" in page.text
        assert "有条件共享" in page.text
        for name in ALL_FIELDS:
            assert f'name="fields" value="{name}"' in page.text
        assert "身份证件号码" in page.text  # the kind of personal information of id_number
        assert "电话号码" in page.text

    def test_errors_are_shown_next_to_fields_and_input_is_kept(
        self, consumer: TestClient, platform: Platform
    ) -> None:
        response = submit(
            consumer, fields=[], purpose="", valid_until="2024-13-40", basis="《数据条例》第九条"
        )
        assert response.status_code == 422
        assert error_for(response.text, "fields") == "请至少选择一个信息项"
        assert error_for(response.text, "purpose") == "请填写申请用途"
        assert error_for(response.text, "valid_until") == "日期格式应为 YYYY-MM-DD"
        assert 'value="《数据条例》第九条"' in response.text
        assert 'value="sz-approval"' in response.text
        assert count(platform, SharingRequest) == 0

    def test_service_errors_land_under_their_field(self, consumer: TestClient, platform: Platform) -> None:
        past = (date.today() - timedelta(days=1)).isoformat()
        response = submit(consumer, valid_until=past, fields=["id_number"])
        assert response.status_code == 422
        assert error_for(response.text, "valid_until") == "有效期须晚于今天"
        assert 'name="fields" value="id_number" checked' in response.text
        assert 'name="fields" value="phone">' in response.text
        assert count(platform, SharingRequest) == 0

    def test_a_second_pending_request_is_refused_on_the_form(self, consumer: TestClient) -> None:
        submitted_id(submit(consumer))
        again = submit(consumer)
        assert again.status_code == 409
        assert "已有待答复的申请" in again.text

    def test_a_post_without_the_csrf_token_is_refused(self, consumer: TestClient, platform: Platform) -> None:
        response = consumer.post("/sharing/requests/new", data=request_form(), follow_redirects=False)
        assert response.status_code == 403
        assert count(platform, SharingRequest) == 0

    def test_unconditional_is_granted_at_once_and_none_refused_with_basis(
        self, consumer: TestClient, platform: Platform
    ) -> None:
        publish(platform, "R-OPEN", "unconditional")
        publish(platform, "R-CLOSED", "none")
        granted = consumer.get(f"/sharing/requests/{submitted_id(submit(consumer, 'R-OPEN'))}")
        assert "已授权。" in granted.text
        assert "/sharing/grants/" in granted.text
        refused = consumer.get(f"/sharing/requests/{submitted_id(submit(consumer, 'R-CLOSED'))}")
        assert "不予共享。" in refused.text
        assert "《社会保险法》第八十一条" in refused.text

    def test_the_catalog_offers_the_request_to_other_departments_only(
        self, consumer: TestClient, provider: TestClient
    ) -> None:
        link = f'href="/sharing/requests/new?resource={CODE}"'
        assert link in consumer.get(f"/catalog/{CODE}").text
        assert link not in provider.get(f"/catalog/{CODE}").text


class TestDecision:
    def test_consumer_submits_provider_approves_narrowed_consumer_sees_grant(
        self, consumer: TestClient, provider: TestClient, platform: Platform
    ) -> None:
        request_id = submitted_id(submit(consumer))
        mine = consumer.get(f"/sharing/requests/{request_id}?done=submitted")
        assert "申请已提交" in mine.text
        assert "待提供部门答复" in mine.text
        assert "答复期限" in mine.text
        assert f'action="/sharing/requests/{request_id}/decision"' not in mine.text
        assert "撤回申请" in mine.text

        home = provider.get("/sharing")
        assert home.status_code == 200
        to_answer = re.search(r'id="to-answer">(.*?)</section>', home.text, re.S)
        assert to_answer
        assert f'href="/sharing/requests/{request_id}"' in to_answer.group(1)
        assert "深圳市市场监督管理局" in to_answer.group(1)
        notices = re.search(r'id="notices">(.*?)</section>', home.text, re.S)
        assert notices
        assert "深圳市市场监督管理局 申请共享「养老保险参保信息」" in notices.group(1)

        page = provider.get(f"/sharing/requests/{request_id}")
        assert f'action="/sharing/requests/{request_id}/decision"' in page.text
        assert 'name="clear_fields"' not in page.text  # clear fields need the provider's CDO

        decided = approve_narrowed(provider, request_id)
        assert decided.status_code == 303, decided.text
        assert decided.headers["location"] == f"/sharing/requests/{request_id}?done=approved"
        grant = the_grant(platform)
        assert json.loads(grant.fields) == ["id_number", "name", "district"]
        assert json.loads(grant.row_scope) == {"district": DISTRICTS[0]}
        assert grant.daily_quota == 100

        held = consumer.get("/sharing/grants?role=consumer")
        assert f'href="/sharing/grants/{grant.id}"' in held.text
        detail = consumer.get(f"/sharing/grants/{grant.id}")
        assert detail.status_code == 200
        fields = re.search(r'<ul class="plain-list granted-fields">(.*?)</ul>', detail.text, re.S)
        assert fields
        assert '<code class="small">name</code>' in fields.group(1)
        assert "phone" not in fields.group(1)
        assert "0 / 100" in detail.text
        assert "撤销授权" not in detail.text  # the consumer cannot revoke
        assert "已授权" in consumer.get(f"/sharing/requests/{request_id}").text

    def test_the_provider_cdo_may_serve_personal_fields_in_clear(
        self, consumer: TestClient, cdo: TestClient, platform: Platform
    ) -> None:
        request_id = submitted_id(submit(consumer))
        page = cdo.get(f"/sharing/requests/{request_id}")
        assert 'name="clear_fields" value="name"' in page.text
        assert 'name="clear_fields" value="amount"' not in page.text
        decided = decide(
            cdo, request_id, decision="approve", fields=["id_number", "name"], clear_fields=["name"]
        )
        assert decided.status_code == 303, decided.text
        assert json.loads(the_grant(platform).clear_fields) == ["name"]

    def test_refusing_needs_a_reason(
        self, consumer: TestClient, provider: TestClient, platform: Platform
    ) -> None:
        request_id = submitted_id(submit(consumer))
        no_reason = decide(provider, request_id, decision="refuse", reason="  ")
        assert no_reason.status_code == 422
        assert error_for(no_reason.text, "reason") == "不予共享须说明理由"
        with platform.session_scope(read_only=True) as db:
            assert db.get(SharingRequest, request_id).status == "pending"  # type: ignore[union-attr]
        refused = decide(provider, request_id, decision="refuse", reason="用途与资源无关")
        assert refused.status_code == 303
        seen = consumer.get(f"/sharing/requests/{request_id}")
        assert "不予共享。" in seen.text
        assert "用途与资源无关" in seen.text

    def test_bad_decision_inputs_are_shown_and_kept(self, consumer: TestClient, provider: TestClient) -> None:
        request_id = submitted_id(submit(consumer))
        response = decide(
            provider,
            request_id,
            decision="approve",
            fields=["id_number"],
            scope_field="district",
            daily_quota="many",
        )
        assert response.status_code == 422
        assert error_for(response.text, "row_scope") == "行范围须同时选择信息项并填写取值"
        assert error_for(response.text, "daily_quota") == "每日调用上限应为正整数"
        assert 'value="many"' in response.text
        assert 'name="fields" value="id_number" checked' in response.text
        assert 'name="fields" value="name">' in response.text

    def test_another_department_cannot_see_the_request(self, app: Any, consumer: TestClient) -> None:
        request_id = submitted_id(submit(consumer))
        with signed_in(app, "sz_cdo") as other_region:
            assert other_region.get(f"/sharing/requests/{request_id}").status_code == 200  # consumer's CDO
        with signed_in(app, "operator") as operator:
            assert operator.get(f"/sharing/requests/{request_id}").status_code == 200

    def test_withdraw_and_escalate(self, consumer: TestClient, platform: Platform) -> None:
        request_id = submitted_id(submit(consumer))
        page = consumer.get(f"/sharing/requests/{request_id}")
        token = csrf(page)
        no_reason = consumer.post(
            f"/sharing/requests/{request_id}/escalate", data={"reason": "", "csrf_token": token}
        )
        assert no_reason.status_code == 422
        assert "提请协调须说明理由" in no_reason.text
        escalated = consumer.post(
            f"/sharing/requests/{request_id}/escalate",
            data={"reason": "逾期未答复", "csrf_token": token},
            follow_redirects=False,
        )
        assert escalated.status_code == 303
        assert "已提请协调" in consumer.get(f"/sharing/requests/{request_id}").text
        withdrawn = consumer.post(
            f"/sharing/requests/{request_id}/withdraw",
            data={"reason": "业务调整", "csrf_token": token},
            follow_redirects=False,
        )
        assert withdrawn.status_code == 303
        with platform.session_scope(read_only=True) as db:
            assert db.get(SharingRequest, request_id).status == "withdrawn"  # type: ignore[union-attr]
        again = consumer.post(
            f"/sharing/requests/{request_id}/withdraw", data={"reason": "再撤回", "csrf_token": token}
        )
        assert again.status_code == 409
        assert "不能撤回" in again.text


class TestRevoke:
    def test_revoke_needs_a_reason_then_the_next_call_is_refused(
        self, app: Any, consumer: TestClient, provider: TestClient, platform: Platform, province: Province
    ) -> None:
        approve_narrowed(provider, submitted_id(submit(consumer)))
        grant = the_grant(platform)
        token = province.token("sz_staff", "sz-approval")
        gateway = TestClient(app)
        bearer = {"Authorization": f"Bearer {token}"}
        assert gateway.get(f"/gateway/v1/resources/{CODE}/records", headers=bearer).status_code == 200
        page = provider.get(f"/sharing/grants/{grant.id}")
        assert "撤销授权" in page.text
        assert "1 / 100" in page.text
        no_reason = provider.post(
            f"/sharing/grants/{grant.id}/revoke", data={"reason": "", "csrf_token": csrf(page)}
        )
        assert no_reason.status_code == 422
        assert error_for(no_reason.text, "reason") == "撤销授权须说明理由"
        assert the_grant(platform).status == "active"
        revoked = provider.post(
            f"/sharing/grants/{grant.id}/revoke",
            data={"reason": "用途已结束", "csrf_token": csrf(page)},
            follow_redirects=False,
        )
        assert revoked.status_code == 303
        assert "授权已撤销：用途已结束" in consumer.get(f"/sharing/grants/{grant.id}").text
        after = gateway.get(f"/gateway/v1/resources/{CODE}/records", headers=bearer)
        assert after.status_code == 403
        assert after.json()["error"]["details"]["reason"] == "grant_revoked"

    def test_the_consumer_may_not_revoke(
        self, consumer: TestClient, provider: TestClient, platform: Platform
    ) -> None:
        approve_narrowed(provider, submitted_id(submit(consumer)))
        grant = the_grant(platform)
        page = consumer.get(f"/sharing/grants/{grant.id}")
        refused = consumer.post(
            f"/sharing/grants/{grant.id}/revoke", data={"reason": "想撤销", "csrf_token": csrf(page)}
        )
        assert refused.status_code == 403
        assert "无权" in refused.text
        assert the_grant(platform).status == "active"


class TestAccessLog:
    def test_both_sides_see_the_calls_and_filter_them(
        self, app: Any, consumer: TestClient, provider: TestClient, platform: Platform, province: Province
    ) -> None:
        approve_narrowed(provider, submitted_id(submit(consumer)))
        gateway = TestClient(app)
        bearer = {"Authorization": f"Bearer {province.token('sz_staff', 'sz-approval')}"}
        served = gateway.get(f"/gateway/v1/resources/{CODE}/records", headers=bearer)
        assert served.status_code == 200
        refused = gateway.get(f"/gateway/v1/resources/{CODE}/records?fields=phone", headers=bearer)
        assert refused.status_code == 403
        call = served.json()["call"]
        for client in (consumer, provider):
            page = client.get("/sharing/access-log")
            assert page.status_code == 200
            rows = re.findall(r'<tr data-call="([0-9a-f]+)">', page.text)
            assert len(rows) == 2
            assert rows[1] == call  # newest first
            denied = client.get("/sharing/access-log", params={"denied": "1"})
            assert re.findall(r'<tr data-call="([0-9a-f]+)">', denied.text) == [rows[0]]
        assert "20 条" in provider.get(f"/sharing/grants/{the_grant(platform).id}").text

    def test_paging_and_bad_filters(
        self, app: Any, consumer: TestClient, provider: TestClient, province: Province
    ) -> None:
        approve_narrowed(provider, submitted_id(submit(consumer)))
        gateway = TestClient(app)
        bearer = {"Authorization": f"Bearer {province.token('sz_staff', 'sz-approval')}"}
        for _ in range(55):
            assert (
                gateway.get(f"/gateway/v1/resources/{CODE}/records?limit=1", headers=bearer).status_code
                == 200
            )
        first = consumer.get("/sharing/access-log")
        assert len(re.findall(r"<tr data-call=", first.text)) == 50
        older = re.search(r'href="(/sharing/access-log\?before=\d+)"', first.text)
        assert older
        second = consumer.get(older.group(1))
        assert len(re.findall(r"<tr data-call=", second.text)) == 5
        bad = consumer.get("/sharing/access-log", params={"since": "yesterday", "grant": "x"})
        assert bad.status_code == 422
        assert error_for(bad.text, "since") == "日期格式应为 YYYY-MM-DD"
        assert error_for(bad.text, "grant") == "授权编号应为正整数"
        today = date.today().isoformat()
        ranged = consumer.get("/sharing/access-log", params={"since": today, "until": today})
        assert ranged.status_code == 200

    def test_oversight_and_the_provider_region_see_calls(
        self, app: Any, consumer: TestClient, province: Province
    ) -> None:
        publish(app.state.platform, "R-OPEN", "unconditional")
        load_people(app.state.platform, "R-OPEN")
        submitted_id(submit(consumer, "R-OPEN"))
        gateway = TestClient(app)
        bearer = {"Authorization": f"Bearer {province.token('sz_staff', 'sz-approval')}"}
        assert gateway.get("/gateway/v1/resources/R-OPEN/records", headers=bearer).status_code == 200
        with signed_in(app, "admin") as admin:
            assert admin.get("/sharing/access-log").text.count("<tr data-call=") == 1
        with signed_in(app, "gz_cdo") as gz:
            # 广州's CDO: the provider's region, so the call is visible
            assert gz.get("/sharing/access-log").text.count("<tr data-call=") == 1


class TestConsole:
    def test_the_cdo_sees_the_console_and_staff_are_refused(
        self, app: Any, consumer: TestClient, provider: TestClient, cdo: TestClient, province: Province
    ) -> None:
        approve_narrowed(provider, submitted_id(submit(consumer)))
        gateway = TestClient(app)
        bearer = {"Authorization": f"Bearer {province.token('sz_staff', 'sz-approval')}"}
        assert gateway.get(f"/gateway/v1/resources/{CODE}/records", headers=bearer).status_code == 200
        page = cdo.get("/sharing/console")
        assert page.status_code == 200
        assert "质量分 = 40 × 元数据完整率" in page.text
        assert re.search(r'data-metric="active">1<', page.text)
        assert "<svg" in page.text
        assert 'class="bar-served"' in page.text
        assert f"<code>{CODE}</code>" in page.text
        assert "quality-table" in page.text
        assert "管辖范围：广州市" in page.text
        refused = provider.get("/sharing/console")
        assert refused.status_code == 403
        assert "无权" in refused.text
        assert 'href="/sharing/console"' not in provider.get("/sharing").text

    def test_the_operator_sees_the_province(self, app: Any) -> None:
        with signed_in(app, "operator") as operator:
            page = operator.get("/sharing/console")
        assert page.status_code == 200
        assert "全省视图" in page.text


class TestLists:
    def test_objection_raised_and_answered(
        self, consumer: TestClient, provider: TestClient, platform: Platform
    ) -> None:
        approve_narrowed(provider, submitted_id(submit(consumer)))
        page = consumer.get("/sharing/objections")
        assert f'<option value="{CODE}"' in page.text
        empty = consumer.post(
            "/sharing/objections",
            data={"resource": CODE, "keys": "", "description": "", "csrf_token": csrf(page)},
        )
        assert empty.status_code == 422
        assert error_for(empty.text, "keys").startswith("请填写有异议记录的主键值")
        raised = consumer.post(
            "/sharing/objections",
            data={
                "resource": CODE,
                "keys": "440106X\n440106Y",
                "description": "姓名有误",
                "csrf_token": csrf(page),
            },
            follow_redirects=False,
        )
        assert raised.status_code == 303, raised.text
        link = raised.headers["location"]
        mine = provider.get(link)
        assert "姓名有误" in mine.text
        assert "440106Y" in mine.text
        objection_id = int(re.findall(r"/sharing/objections/(\d+)", link)[0])
        no_load = provider.post(
            f"/sharing/objections/{objection_id}/answer",
            data={"outcome": "corrected", "answer": "已更正", "csrf_token": csrf(mine)},
        )
        assert no_load.status_code == 422
        assert error_for(no_load.text, "load") == "已更正的异议须关联更正数据的装载记录"
        answered = provider.post(
            f"/sharing/objections/{objection_id}/answer",
            data={"outcome": "rejected", "answer": "数据与登记一致", "csrf_token": csrf(mine)},
            follow_redirects=False,
        )
        assert answered.status_code == 303
        assert "数据与登记一致" in consumer.get(link).text
        with platform.session_scope(read_only=True) as db:
            assert db.get(Objection, objection_id).status == "rejected"  # type: ignore[union-attr]

    def test_demand_posted_and_declined(
        self, consumer: TestClient, provider: TestClient, platform: Platform
    ) -> None:
        page = consumer.get("/sharing/demands")
        missing = consumer.post(
            "/sharing/demands",
            data={"title": "企业社保缴纳", "items": "", "purpose": "", "csrf_token": csrf(page)},
        )
        assert missing.status_code == 422
        assert error_for(missing.text, "purpose") == "请填写用途"
        assert 'value="企业社保缴纳"' in missing.text
        posted = consumer.post(
            "/sharing/demands",
            data={
                "title": "企业社保缴纳",
                "items": "单位名称\n缴费人数",
                "purpose": "企业信用评价",
                "provider": "440100-amr",
                "csrf_token": csrf(page),
            },
            follow_redirects=False,
        )
        assert posted.status_code == 303, posted.text
        listing = provider.get("/sharing/demands")
        assert "企业社保缴纳" in listing.text
        assert "缴费人数" in listing.text
        demand_id = int(re.findall(r'action="/sharing/demands/(\d+)/answer"', listing.text)[0])
        declined = provider.post(
            f"/sharing/demands/{demand_id}/answer",
            data={"reason": "本局不掌握社保数据", "csrf_token": csrf(listing)},
            follow_redirects=False,
        )
        assert declined.status_code == 303
        assert "本局不掌握社保数据" in consumer.get("/sharing/demands").text
        with platform.session_scope(read_only=True) as db:
            assert db.get(Demand, demand_id).status == "declined"  # type: ignore[union-attr]

    def test_duty_assigned_by_the_cdo_only(
        self, cdo: TestClient, provider: TestClient, platform: Platform
    ) -> None:
        assert "列入责任清单" not in provider.get("/sharing/duties").text
        page = cdo.get("/sharing/duties?org=440100-amr")
        assert page.status_code == 200
        wrong = cdo.post(
            "/sharing/duties",
            data={"org": "440100-amr", "resource": "R-NOPE", "note": "", "csrf_token": csrf(page)},
        )
        assert wrong.status_code == 422
        assert error_for(wrong.text, "resource") == "资源 R-NOPE 不存在"
        added = cdo.post(
            "/sharing/duties",
            data={"org": "440100-amr", "resource": CODE, "note": "每日更新", "csrf_token": csrf(page)},
            follow_redirects=False,
        )
        assert added.status_code == 303
        listing = provider.get("/sharing/duties")
        assert f"<code>{CODE}</code>" in listing.text
        assert "按期更新" in listing.text
        assert count(platform, Duty) == 1


class TestPages:
    def test_home_in_english(self, consumer: TestClient) -> None:
        consumer.cookies.set("lang", "en")
        page = consumer.get("/sharing")
        assert page.status_code == 200
        assert "Requests we made" in page.text

    def test_nav_links_to_sharing(self, consumer: TestClient) -> None:
        assert 'href="/sharing"' in consumer.get("/").text

    def test_unknown_request_is_a_404_page(self, consumer: TestClient) -> None:
        page = consumer.get("/sharing/requests/999")
        assert page.status_code == 404
        assert "共享申请 #999 不存在" in page.text

    def test_signed_out_goes_to_login(self, app: Any) -> None:
        with TestClient(app, headers=HTML) as anonymous:
            response = anonymous.get("/sharing/grants", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
