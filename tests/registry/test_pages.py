"""The registry's pages through the app: applying with a fingerprint upload, the review queue, the public
notice and an anonymous objection, certificate pages (QR code, pledges), and public verification."""

from __future__ import annotations

import copy
import hashlib
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
from sqlalchemy import select, update

from tests.conftest import Province
from tests.registry.test_registry import BANK_B, HOLDER, Registry, application
from tests.web.test_pages import HTML, csrf, login
from yiwang.app import create_app
from yiwang.registry import bundle, service
from yiwang.registry.models import Application, Certificate, NoticeObjection
from yiwang.runtime import Platform

SAMPLE = "用户编号,月份,用电量\n1001,2025-01,1234\n1002,2025-01,987\n".encode() * 1000


@pytest.fixture
def registry(platform: Platform, province: Province) -> Registry:
    return Registry(platform, province)


@pytest.fixture
def app(registry: Registry) -> Any:
    return create_app(registry.platform)


def signed_in(app: Any, username: str) -> TestClient:
    client = TestClient(app, headers=HTML)
    assert login(client, username).status_code == 303
    return client


@pytest.fixture
def holder(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "holder") as c:
        yield c


@pytest.fixture
def operator(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "operator") as c:
        yield c


@pytest.fixture
def assessor(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "assessor") as c:
        yield c


@pytest.fixture
def bank(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "bank_a") as c:
        yield c


@pytest.fixture
def visitor(app: Any) -> Iterator[TestClient]:
    with TestClient(app, headers=HTML) as c:
        yield c


def apply_form(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "工商业用户用电数据集",
        "kind": "data_resource",
        "description": "2020年以来广州市工商业用户的月度用电量（脱敏）",
        "rights": ["holding", "processing"],
        "source": "自有电力营销系统",
        "collection_method": "系统自动采集",
        "records": "1200000",
        "size_bytes": "",
        "update_frequency": "monthly",
        "time_range": "2020-01 至今",
        "scenarios": "企业信用评估\n能耗分析",
        "fingerprint": "",
        **overrides,
    }


def submit(client: TestClient, files: dict[str, Any] | None = None, **overrides: Any) -> Response:
    page = client.get("/registry/apply")
    assert page.status_code == 200, page.text
    data = {**apply_form(**overrides), "csrf_token": csrf(page)}
    return client.post("/registry/apply", data=data, files=files, follow_redirects=False)


def applications(platform: Platform) -> list[Application]:
    with platform.session_scope(read_only=True) as db:
        return list(db.execute(select(Application).order_by(Application.id)).scalars())


def the_application(platform: Platform) -> Application:
    found = applications(platform)
    assert len(found) == 1
    return found[0]


def post_from(client: TestClient, page_url: str, action: str, data: dict[str, Any]) -> Response:
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf_token": csrf(page)}, follow_redirects=False)


def export(registry: Registry, number: str) -> dict[str, Any]:
    with registry.platform.session_scope() as db:
        return bundle.export(db, registry.platform.keyring, number)


class TestApply:
    def test_an_uploaded_file_is_fingerprinted_by_the_platform(
        self, holder: TestClient, registry: Registry
    ) -> None:
        response = submit(holder, files={"file": ("sample.csv", SAMPLE, "text/csv")})
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/registry/mine?done=submitted")
        app = the_application(registry.platform)
        assert app.fingerprint == hashlib.sha256(SAMPLE).hexdigest()  # the standard suite: SHA-256
        assert json.loads(app.rights) == ["holding", "processing"]
        assert json.loads(app.scenarios) == ["企业信用评估", "能耗分析"]
        assert (app.records, app.update_frequency, app.status) == (1_200_000, "monthly", "submitted")
        mine = holder.get("/registry/mine")
        assert "工商业用户用电数据集" in mine.text
        assert "待受理" in mine.text
        assert str(app.accept_by) in mine.text

    def test_a_pasted_fingerprint_is_accepted(self, holder: TestClient, registry: Registry) -> None:
        pasted = hashlib.sha256(b"dataset v2").hexdigest()
        assert submit(holder, fingerprint=pasted.upper()).status_code == 303
        assert the_application(registry.platform).fingerprint == pasted

    def test_a_bad_form_shows_errors_next_to_fields_and_keeps_the_input(
        self, holder: TestClient, registry: Registry
    ) -> None:
        response = submit(
            holder,
            name="",
            rights=[],
            fingerprint="not-a-hash",
            records="许多",
            personal_info="1",
            description="保留这段描述",
        )
        assert response.status_code == 422
        page = response.text
        assert re.search(r'id="f-name"[^>]*aria-invalid="true"', page)
        assert '<p class="field-error" id="err-name">请填写资产名称</p>' in page
        assert 'id="err-rights">请至少选择一项权利' in page
        assert 'id="err-fingerprint">指纹应为 64 位十六进制字符' in page
        assert 'id="err-records">记录数应为非负整数' in page
        assert 'id="err-personal_info_basis">涉及个人信息的数据须说明合法性基础' in page
        assert "保留这段描述" in page
        assert 'value="not-a-hash"' in page
        assert applications(registry.platform) == []

    def test_the_file_fingerprint_is_kept_when_the_form_comes_back(
        self, holder: TestClient, registry: Registry
    ) -> None:
        response = submit(holder, files={"file": ("sample.csv", SAMPLE, "text/csv")}, source="")
        assert response.status_code == 422
        assert hashlib.sha256(SAMPLE).hexdigest() in response.text
        assert "已根据上传文件 sample.csv 计算指纹" in response.text
        assert 'id="err-source">请填写数据来源' in response.text

    def test_without_csrf_nothing_is_submitted(self, holder: TestClient, registry: Registry) -> None:
        response = holder.post("/registry/apply", data=apply_form(), follow_redirects=False)
        assert response.status_code == 403
        assert applications(registry.platform) == []

    def test_a_bank_may_not_apply(self, bank: TestClient) -> None:
        page = bank.get("/registry/apply")
        assert page.status_code == 403
        assert "无权" in page.text


class TestProcess:
    def test_accept_report_approve_notice_and_an_anonymous_objection_pauses_it(
        self,
        holder: TestClient,
        operator: TestClient,
        assessor: TestClient,
        visitor: TestClient,
        registry: Registry,
    ) -> None:
        platform = registry.platform
        assert submit(holder, fingerprint=hashlib.sha256(b"v1").hexdigest()).status_code == 303
        app_id = the_application(platform).id

        queue = operator.get("/registry/review")
        assert queue.status_code == 200
        assert f'id="application-{app_id}"' in queue.text
        # A refusal without reasons is shown on the form, nothing changes.
        refused = post_from(
            operator, "/registry/review", f"/registry/applications/{app_id}/accept", {"decision": "refuse"}
        )
        assert refused.status_code == 422
        assert "不予通过须说明理由" in refused.text
        accepted = post_from(
            operator, "/registry/review", f"/registry/applications/{app_id}/accept", {"decision": "approve"}
        )
        assert accepted.status_code == 303
        assert the_application(platform).status == "compliance"

        # Approving compliance before the assessor's report is refused with the reason.
        early = post_from(
            operator,
            "/registry/review",
            f"/registry/applications/{app_id}/compliance",
            {"decision": "approve"},
        )
        assert early.status_code == 422
        assert "合规评估报告尚未提交" in early.text

        assessor_view = assessor.get("/registry/review")
        assert f"/registry/applications/{app_id}/report" in assessor_view.text
        assert "/accept" not in assessor_view.text  # the assessor only reports
        reported = post_from(
            assessor,
            "/registry/review",
            f"/registry/applications/{app_id}/report",
            {"opinion": "pass", "report": "来源合法，已脱敏，授权链完整"},
        )
        assert reported.status_code == 303
        assert "来源合法，已脱敏，授权链完整" in operator.get("/registry/review").text

        approved = post_from(
            operator,
            "/registry/review",
            f"/registry/applications/{app_id}/compliance",
            {"decision": "approve"},
        )
        assert approved.status_code == 303
        app = the_application(platform)
        assert app.status == "notice"
        assert app.notice_end is not None

        notices = visitor.get("/registry/notices")
        assert notices.status_code == 200
        assert "工商业用户用电数据集" in notices.text
        assert f'<strong class="notice-end">{app.notice_end}</strong>' in notices.text

        # The objection form is open to anyone, but still needs its token.
        forged = visitor.post(
            f"/registry/notices/{app_id}/objections",
            data={"grounds": "数据含我司数据"},
            follow_redirects=False,
        )
        assert forged.status_code == 403
        empty = post_from(
            visitor, "/registry/notices", f"/registry/notices/{app_id}/objections", {"grounds": " "}
        )
        assert empty.status_code == 422
        assert "请填写异议理由和依据" in empty.text
        objected = post_from(
            visitor,
            "/registry/notices",
            f"/registry/notices/{app_id}/objections",
            {"name": "某数据公司", "grounds": "该数据集含我司提供的数据"},
        )
        assert objected.status_code == 303, objected.text
        assert the_application(platform).status == "paused"
        with platform.session_scope(read_only=True) as db:
            objection = db.execute(select(NoticeObjection)).scalar_one()
        assert objection.lodged_by == "公众：某数据公司"
        assert "公示暂停" in visitor.get("/registry/notices").text

        # The registry dismisses it with reasons; the notice resumes.
        queue = operator.get("/registry/review")
        assert "该数据集含我司提供的数据" in queue.text
        dismissed = post_from(
            operator,
            "/registry/review",
            f"/registry/objections/{objection.id}/decision",
            {"decision": "dismiss", "reason": "异议人未提供证据"},
        )
        assert dismissed.status_code == 303
        assert the_application(platform).status == "notice"

        # When the notice has run out, the button issues the certificate.
        with platform.session_scope() as db:
            db.execute(update(Application).values(notice_end=date.today() - timedelta(days=3)))
        issued = post_from(operator, "/registry/review", "/registry/issue", {})
        assert issued.status_code == 303
        assert operator.get(issued.headers["location"]).text.count("已签发 1 份凭证") == 1
        mine = holder.get("/registry/mine")
        assert "已发证" in mine.text
        assert re.search(r"GD-DA-\d{4}-000001", mine.text)

    def test_the_review_queue_is_the_registrys(self, holder: TestClient) -> None:
        page = holder.get("/registry/review")
        assert page.status_code == 403
        assert "无权执行此操作" in page.text

    def test_an_upheld_objection_refuses_the_application(
        self, operator: TestClient, holder: TestClient, registry: Registry
    ) -> None:
        platform = registry.platform
        with platform.session_scope() as db:
            app = service.submit_application(db, registry.actor("holder"), application())
            app.status, app.notice_start, app.notice_end = (
                "notice",
                date.today(),
                date.today() + timedelta(days=14),
            )
            app_id = app.id
        objection = post_from(
            holder, "/registry/notices", f"/registry/notices/{app_id}/objections", {"grounds": "测试异议"}
        )
        assert objection.status_code == 303
        with platform.session_scope(read_only=True) as db:
            objection_id = db.execute(select(NoticeObjection.id)).scalar_one()
        no_reason = post_from(
            operator,
            "/registry/review",
            f"/registry/objections/{objection_id}/decision",
            {"decision": "uphold"},
        )
        assert no_reason.status_code == 422
        assert "处理异议须说明理由" in no_reason.text
        upheld = post_from(
            operator,
            "/registry/review",
            f"/registry/objections/{objection_id}/decision",
            {"decision": "uphold", "reason": "权属存在争议"},
        )
        assert upheld.status_code == 303
        assert the_application(platform).status == "refused"
        assert "公示异议成立：权属存在争议" in holder.get("/registry/mine").text


class TestCertificatePage:
    def test_anyone_sees_the_fields_history_download_and_qr_code(
        self, visitor: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        page = visitor.get(f"/registry/certificates/{number}")
        assert page.status_code == 200
        text = page.text
        assert "工商业用户用电数据集" in text
        assert "广州电力数据科技有限公司" in text
        assert "数据资源持有权" in text
        assert "数据加工使用权" in text
        assert hashlib.sha256(b"dataset v1").hexdigest() in text
        assert re.search(r'<svg[^>]*class="qr"', text)
        assert "<path" in text
        assert f'href="/api/v1/registry/certificates/{number}/bundle"' in text
        assert "签发" in text  # the issue event
        assert "/pledge" not in text  # no forms for a visitor
        assert "/transfer" not in text
        downloaded = visitor.get(f"/api/v1/registry/certificates/{number}/bundle")
        assert downloaded.status_code == 200
        assert bundle.verify(downloaded.json()).ok

    def test_unknown_and_malformed_numbers_are_404_pages(
        self, visitor: TestClient, registry: Registry
    ) -> None:
        assert visitor.get("/registry/certificates/GD-DA-2025-999999").status_code == 404
        bad = visitor.get("/registry/certificates/<script>")
        assert bad.status_code == 404
        assert "<script>" not in bad.text

    def test_a_bank_pledges_and_releases_from_the_page(
        self, bank: TestClient, app: Any, registry: Registry
    ) -> None:
        number = registry.certificate()
        url = f"/registry/certificates/{number}"
        page = bank.get(url)
        assert f'action="{url}/pledge"' in page.text
        pledged = post_from(bank, url, f"{url}/pledge", {})
        assert pledged.status_code == 303
        after = bank.get(pledged.headers["location"])
        assert "质押已登记" in after.text
        assert "已质押" in after.text
        assert f'action="{url}/release"' in after.text
        assert f'action="{url}/pledge"' not in after.text
        with registry.platform.session_scope(read_only=True) as db:
            assert db.execute(select(Certificate.status)).scalar_one() == "pledged"
        with signed_in(app, "bank_b") as other:
            other_view = other.get(url)
            assert f'action="{url}/release"' not in other_view.text
            refused = other.post(
                f"{url}/pledge", data={"csrf_token": csrf(other_view)}, follow_redirects=False
            )
            assert refused.status_code == 409
            assert "不能质押" in refused.text
        released = post_from(bank, url, f"{url}/release", {})
        assert released.status_code == 303
        with registry.platform.session_scope(read_only=True) as db:
            assert db.execute(select(Certificate.status)).scalar_one() == "active"

    def test_the_registry_cannot_transfer_a_pledged_certificate(
        self, bank: TestClient, operator: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        url = f"/registry/certificates/{number}"
        assert post_from(bank, url, f"{url}/pledge", {}).status_code == 303
        page = operator.get(url)
        assert "解除质押前不能转让或注销" in page.text
        refused = operator.post(
            f"{url}/transfer",
            data={"to": BANK_B, "reason": "股权转让", "csrf_token": csrf(page)},
            follow_redirects=False,
        )
        assert refused.status_code == 409
        assert "已质押，解除质押前不能转让" in refused.text
        revoked = post_from(operator, url, f"{url}/revoke", {"reason": "登记材料造假"})
        assert revoked.status_code == 303
        page = operator.get(url)
        assert "已撤销" in page.text
        assert "登记材料造假" in page.text

    def test_a_transfer_needs_a_reason_and_a_known_holder(
        self, operator: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        url = f"/registry/certificates/{number}"
        no_reason = post_from(operator, url, f"{url}/transfer", {"to": BANK_B})
        assert no_reason.status_code == 422
        assert "请说明理由" in no_reason.text
        unknown = post_from(operator, url, f"{url}/transfer", {"to": "NOSUCHORG", "reason": "转让"})
        assert unknown.status_code == 422
        assert "受让方 NOSUCHORG 不存在" in unknown.text
        assert 'value="NOSUCHORG"' in unknown.text  # the input is kept
        done = post_from(operator, url, f"{url}/transfer", {"to": BANK_B, "reason": "转让"})
        assert done.status_code == 303
        assert "深圳某商业银行" in operator.get(url).text


class TestVerify:
    def test_a_number_shows_its_status_and_verifies_now(
        self, visitor: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        with registry.platform.session_scope() as db:
            service.pledge(db, registry.actor("bank_a"), registry.platform.keyring.suite_name, number)
        page = visitor.get("/registry/verify", params={"number": number.lower()})
        assert page.status_code == 200
        assert '<h2 class="verdict verdict-ok">有效</h2>' in page.text
        assert "已质押" in page.text
        assert "凭证签名" in page.text
        assert "检查点签名" in page.text

    def test_an_unknown_number_is_said_so(self, visitor: TestClient, registry: Registry) -> None:
        page = visitor.get("/registry/verify", params={"number": "GD-DA-2025-123456"})
        assert page.status_code == 404
        assert "凭证 GD-DA-2025-123456 不存在" in page.text
        bad = visitor.get("/registry/verify", params={"number": "x"})
        assert bad.status_code == 422
        assert "凭证编号格式应为" in bad.text

    def upload(
        self, client: TestClient, data: dict[str, Any], later: dict[str, Any] | None = None
    ) -> Response:
        page = client.get("/registry/verify")
        files: dict[str, Any] = {"bundle_file": ("cert.json", json.dumps(data).encode(), "application/json")}
        if later is not None:
            files["checkpoint_file"] = ("later.json", json.dumps(later).encode(), "application/json")
        return client.post("/registry/verify", data={"csrf_token": csrf(page)}, files=files)

    def test_a_good_bundle_is_valid_with_its_checks_and_status(
        self, visitor: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        held = export(registry, number)
        registry.certificate()
        with registry.platform.session_scope() as db:
            later = bundle.later_checkpoint(db, registry.platform.keyring, held["checkpoint"]["size"])
        page = self.upload(visitor, held, later)
        assert page.status_code == 200
        assert '<h2 class="verdict verdict-ok">有效</h2>' in page.text
        assert "凭证签名" in page.text
        assert "1 个事件的包含证明" in page.text
        assert "一致性" in page.text
        assert 'class="bundle-status"><span class="status status-cert-active">有效</span>' in page.text

    def test_a_tampered_bundle_names_the_failed_check(self, visitor: TestClient, registry: Registry) -> None:
        number = registry.certificate()
        data = copy.deepcopy(export(registry, number))
        data["certificate"]["name"] = "另一个数据集"
        page = self.upload(visitor, data)
        assert page.status_code == 200
        assert '<h2 class="verdict verdict-bad">无效</h2>' in page.text
        assert "未通过的检查：凭证签名" in page.text

    def test_not_json_and_no_file_are_clear_errors(self, visitor: TestClient, registry: Registry) -> None:
        page = visitor.get("/registry/verify")
        token = csrf(page)
        missing = visitor.post("/registry/verify", data={"csrf_token": token})
        assert missing.status_code == 422
        assert "请选择凭证包" in missing.text
        garbage = visitor.post(
            "/registry/verify",
            data={"csrf_token": token},
            files={"bundle_file": ("x.json", b"\xff\x00not json", "application/json")},
        )
        assert garbage.status_code == 422
        assert "凭证包不是有效的 JSON" in garbage.text


class TestHome:
    def test_the_public_register_and_the_logs_checkpoint(
        self, visitor: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        page = visitor.get("/registry")
        assert page.status_code == 200
        assert number in page.text
        assert "广州电力数据科技有限公司" in page.text
        assert '<dd class="log-size">1</dd>' in page.text
        assert "/registry/verify" in page.text
        pledged_only = visitor.get("/registry", params={"status": "pledged"})
        assert number not in pledged_only.text

    def test_english_switch(self, visitor: TestClient, registry: Registry) -> None:
        visitor.cookies.set("lang", "en")
        page = visitor.get("/registry/verify")
        assert "Verify a certificate" in page.text

    def test_the_nav_links_to_the_registry(self, holder: TestClient) -> None:
        home = holder.get("/")
        assert 'href="/registry"' in home.text
        mine = holder.get("/registry/mine")
        assert mine.status_code == 200
        assert HOLDER not in mine.text or "还没有登记申请" in mine.text


class TestChangeAndLicencePages:
    def test_only_the_holder_sees_the_change_and_licence_forms(
        self, holder: TestClient, visitor: TestClient, bank: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        url = f"/registry/certificates/{number}"
        mine = holder.get(url).text
        assert f'action="{url}/changes"' in mine
        assert f'action="{url}/licences"' in mine
        assert 'name="records" inputmode="numeric" maxlength="30" value="1200000"' in mine  # prefilled
        for other in (visitor, bank):
            page = other.get(url).text
            assert f'action="{url}/changes"' not in page
            assert f'action="{url}/licences"' not in page
            assert "暂无授权许可登记" in page

    def test_a_change_applied_on_the_page_and_approved_by_the_registry(
        self, holder: TestClient, operator: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        url = f"/registry/certificates/{number}"
        current = {
            "name": "工商业用户用电数据集",
            "description": "2020年以来广州市工商业用户的月度用电量（脱敏）",
            "records": "1200000",
            "size_bytes": "3000000000",
            "update_frequency": "irregular",
            "time_range": "",
            "scenarios": "企业信用评估\n能耗分析",
            "fingerprint": hashlib.sha256(b"dataset v1").hexdigest(),
        }
        unchanged = post_from(holder, url, f"{url}/changes", {**current, "reason": "无变化"})
        assert unchanged.status_code == 422
        assert "没有与现登记内容不同的变更事项" in unchanged.text
        no_reason = post_from(holder, url, f"{url}/changes", {**current, "records": "1300000"})
        assert no_reason.status_code == 422
        assert "请说明变更理由" in no_reason.text
        assert 'value="1300000"' in no_reason.text  # what was typed is kept

        page = holder.get(url)
        applied = holder.post(
            f"{url}/changes",
            data={**current, "records": "1,300,000", "reason": "新增2026年数据", "csrf_token": csrf(page)},
            files={"file": ("v2.csv", SAMPLE, "text/csv")},
            follow_redirects=False,
        )
        assert applied.status_code == 303, applied.text
        after = holder.get(applied.headers["location"]).text
        assert "变更申请已提交" in after
        assert 'id="pending-change"' in after
        assert f'action="{url}/changes"' not in after  # one change at a time

        queue = operator.get("/registry/review").text
        assert number in queue
        assert "数据指纹、记录数" in queue
        page = operator.get(url)
        assert "/decision" in page.text
        assert "1300000" in page.text
        approved = post_from(
            operator,
            url,
            re.search(r'action="(/registry/changes/\d+/decision)"', page.text).group(1),  # type: ignore[union-attr]
            {"decision": "approve", "reason": "核准"},
        )
        assert approved.status_code == 303, approved.text
        shown = operator.get(approved.headers["location"]).text
        assert "变更已核准" in shown
        assert hashlib.sha256(SAMPLE).hexdigest() in shown
        assert '<dd class="cert-version">2' in shown
        assert "<td>变更</td>" in shown  # the event in the history
        with registry.platform.session_scope(read_only=True) as db:
            body = json.loads(db.execute(select(Certificate.body)).scalar_one())
        assert (body["records"], body["fingerprint"]) == (1_300_000, hashlib.sha256(SAMPLE).hexdigest())

    def test_a_licence_registered_on_the_page_listed_and_ended(
        self, holder: TestClient, visitor: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        url = f"/registry/certificates/{number}"
        until = str(date.today() + timedelta(days=180))
        unknown = post_from(
            holder,
            url,
            f"{url}/licences",
            {"licensee": "NOSUCHORG", "right": "processing", "scope": "风控建模", "valid_until": until},
        )
        assert unknown.status_code == 422
        assert "被许可方 NOSUCHORG 不存在" in unknown.text
        assert 'value="NOSUCHORG"' in unknown.text
        missing = post_from(holder, url, f"{url}/licences", {"licensee": BANK_B, "right": "processing"})
        assert missing.status_code == 422
        assert "请填写许可范围" in missing.text

        granted = post_from(
            holder,
            url,
            f"{url}/licences",
            {"licensee": BANK_B, "right": "processing", "scope": "风控建模", "valid_until": until},
        )
        assert granted.status_code == 303, granted.text
        public = visitor.get(url).text
        assert "深圳某商业银行" in public
        assert "风控建模" in public
        assert "授权许可" in public  # the event
        assert "/end" not in public  # no forms for a visitor

        verified = visitor.get("/registry/verify", params={"number": number}).text
        assert '<h2 class="verdict verdict-ok">有效</h2>' in verified
        assert "凭证包中的第 2 个（最后一个）事件（授权许可）" in verified
        assert re.search(r'class="bundle-licences"><p>#\d+ 数据加工使用权 → 深圳某商业银行', verified)

        page = holder.get(url)
        action = re.search(r'action="(/registry/licences/\d+/end)"', page.text).group(1)  # type: ignore[union-attr]
        no_reason = post_from(holder, url, action, {"reason": ""})
        assert no_reason.status_code == 422
        assert "请说明理由" in no_reason.text
        ended = post_from(holder, url, action, {"reason": "被许可方违约"})
        assert ended.status_code == 303
        after = holder.get(ended.headers["location"]).text
        assert "许可已提前终止" in after
        assert "已终止" in after
        assert "被许可方违约" in after

    def test_english_labels(self, visitor: TestClient, registry: Registry) -> None:
        number = registry.certificate()
        visitor.cookies.set("lang", "en")
        page = visitor.get(f"/registry/certificates/{number}").text
        assert "No licence registered." in page
