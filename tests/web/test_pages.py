"""The pages through the app: sign-in, CSRF, sign-out, language, the audit log, error pages."""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    # Starlette >= 1.x prefers the httpx2 package for its TestClient; plain httpx works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from tests.conftest import PASSWORD, Province, tamper
from yiwang.app import create_app
from yiwang.http import SESSION_COOKIE
from yiwang.identity.authz import Actor
from yiwang.identity.models import LoginAttempt, WebSession
from yiwang.kit import audit
from yiwang.kit.audit import AuditEntry
from yiwang.runtime import Platform

HTML = {"Accept": "text/html,application/xhtml+xml"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), headers=HTML) as c:
        yield c


def csrf(page: Response) -> str:
    found = TOKEN.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, next: str = "/") -> Response:
    form = client.get("/login", params={"next": next})
    data = {"username": username, "password": password, "next": next, "csrf_token": csrf(form)}
    return client.post("/login", data=data, follow_redirects=False)


def count(platform: Platform, model: type) -> int:
    with platform.session_scope(read_only=True) as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def audit_rows(platform: Platform, action: str) -> list[tuple[str, str]]:
    """(actor, outcome) of each audit entry of ``action``, oldest first."""
    query = select(AuditEntry.actor, AuditEntry.outcome).where(AuditEntry.action == action)
    with platform.session_scope(read_only=True) as db:
        return [(row.actor, row.outcome) for row in db.execute(query.order_by(AuditEntry.seq))]


class TestLogin:
    def test_pages_redirect_to_login_keeping_where_you_were(
        self, client: TestClient, province: Province
    ) -> None:
        response = client.get("/audit?outcome=denied", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Faudit%3Foutcome%3Ddenied"

    def test_login_page_is_chinese(self, client: TestClient) -> None:
        page = client.get("/login")
        assert page.status_code == 200
        assert '<html lang="zh-CN">' in page.text
        assert "登录一网" in page.text
        assert "用户名" in page.text

    def test_wrong_password_shows_error_and_changes_nothing_else(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        response = login(client, "gz_staff", "wrong-password1")
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text
        assert 'value="gz_staff"' in response.text  # the form keeps the username, never the password
        assert "wrong-password1" not in response.text
        assert SESSION_COOKIE not in response.cookies
        assert count(platform, WebSession) == 0
        assert client.get("/", follow_redirects=False).status_code == 303
        # the attempt itself is recorded (throttling, audit), and only that
        assert count(platform, LoginAttempt) == 1
        assert audit_rows(platform, "auth.login") == [("gz_staff", "denied")]

    def test_unknown_user_gets_the_same_message(self, client: TestClient, province: Province) -> None:
        response = login(client, "nobody", "whatever1")
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text

    def test_success_sets_session_cookie_and_home_shows_the_user(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        response = login(client, "gz_staff")
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie
        home = client.get("/")
        assert home.status_code == 200
        assert "您好，gz_staff" in home.text
        assert "广州市市场监督管理局" in home.text
        assert "部门工作人员" in home.text
        assert home.headers["cache-control"] == "no-store"
        assert count(platform, WebSession) == 1

    def test_secure_cookie_when_configured(self, platform: Platform, province: Province) -> None:
        settings = platform.settings.model_copy(update={"secure_cookies": True})
        secure = dataclasses.replace(platform, settings=settings)
        with TestClient(create_app(secure), headers=HTML, base_url="https://testserver") as c:
            response = login(c, "gz_staff")
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
        )
        assert "Secure" in cookie

    def test_next_takes_you_back(self, client: TestClient, province: Province) -> None:
        response = login(client, "auditor", next="/audit?outcome=ok")
        assert response.headers["location"] == "/audit?outcome=ok"

    @pytest.mark.parametrize(
        "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
    )
    def test_next_must_be_a_local_path(self, client: TestClient, province: Province, target: str) -> None:
        response = login(client, "gz_staff", next=target)
        assert response.status_code == 303
        assert response.headers["location"] == "/"

    def test_signed_in_user_visiting_login_goes_on(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        response = client.get("/login?next=/sections/catalog", follow_redirects=False)
        assert response.headers["location"] == "/sections/catalog"

    def test_missing_fields_are_asked_for(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        response = login(client, "", "")
        assert response.status_code == 422
        assert "请输入用户名和密码" in response.text
        assert count(platform, LoginAttempt) == 0

    def test_overlong_username_is_refused_quietly(self, client: TestClient, province: Province) -> None:
        response = login(client, "x" * 500, "whatever1")
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text

    def test_too_many_failures_are_throttled(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        for _ in range(platform.settings.login_max_failures):
            assert login(client, "gz_staff", "wrong-password1").status_code == 401
        response = login(client, "gz_staff")  # even the right password waits out the window
        assert response.status_code == 429
        assert "登录失败次数过多" in response.text
        assert int(response.headers["retry-after"]) > 0
        assert count(platform, WebSession) == 0


class TestCsrf:
    def test_login_without_token_is_refused(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        client.get("/login")
        data = {"username": "gz_staff", "password": PASSWORD, "next": "/"}
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "CSRF" in response.text
        assert count(platform, WebSession) == 0
        assert count(platform, LoginAttempt) == 0

    def test_login_token_must_match_the_cookie(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        client.get("/login")
        data = {"username": "gz_staff", "password": PASSWORD, "next": "/", "csrf_token": "forged.token"}
        assert client.post("/login", data=data, follow_redirects=False).status_code == 403
        assert count(platform, WebSession) == 0

    def test_logout_without_token_is_refused(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        response = client.post("/logout", data={}, follow_redirects=False)
        assert response.status_code == 403
        assert "CSRF" in response.text
        assert client.get("/", follow_redirects=False).status_code == 200  # still signed in

    def test_verify_without_token_is_refused(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        login(client, "auditor")
        response = client.post("/audit/verify", data={"csrf_token": "nope"})
        assert response.status_code == 403
        assert audit_rows(platform, "audit.verify") == []


class TestLogout:
    def test_logout_ends_the_session(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        login(client, "gz_staff")
        raw = client.cookies[SESSION_COOKIE]
        token = csrf(client.get("/"))
        response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert SESSION_COOKIE not in client.cookies
        assert client.get("/", follow_redirects=False).status_code == 303
        # the old cookie is dead on the server too, not just forgotten by the browser
        client.cookies.set(SESSION_COOKIE, raw)
        assert client.get("/", follow_redirects=False).status_code == 303
        assert audit_rows(platform, "auth.logout") == [("gz_staff", "ok")]

    def test_logout_when_signed_out_just_goes_to_login(self, client: TestClient) -> None:
        response = client.post("/logout", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


class TestLanguage:
    def test_english_switch(self, client: TestClient, province: Province) -> None:
        response = client.get("/lang/en", params={"next": "/login"}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        page = client.get("/login")
        assert '<html lang="en">' in page.text
        assert "Sign in to Yiwang" in page.text
        login(client, "gz_cdo")
        home = client.get("/")
        assert "Hello, gz_cdo" in home.text
        assert "Dashboard" in home.text
        client.get("/lang/zh")
        assert "您好，gz_cdo" in client.get("/").text

    def test_wrong_password_message_in_english(self, client: TestClient, province: Province) -> None:
        client.get("/lang/en")
        assert "Wrong username or password" in login(client, "gz_cdo", "bad-password1").text

    def test_unknown_language_is_404(self, client: TestClient) -> None:
        assert client.get("/lang/fr").status_code == 404

    def test_switch_never_leaves_the_site(self, client: TestClient) -> None:
        response = client.get("/lang/en", params={"next": "https://evil.example"}, follow_redirects=False)
        assert response.headers["location"] == "/"


class TestShell:
    def test_home_lists_what_the_role_can_do(self, client: TestClient, province: Province) -> None:
        login(client, "auditor")
        home = client.get("/").text
        assert "查阅审计日志并核验其完整性" in home
        assert 'href="/audit"' in home
        assert "审计员" in home

    def test_staff_sees_no_audit_link(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        assert 'href="/audit"' not in client.get("/").text

    def test_navigation_covers_every_network(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        home = client.get("/").text
        for label in [
            "一网共享",
            "数据目录",
            "共享申请",
            "数据网关",
            "数据要素市场",
            "资产登记",
            "数据交易",
            "一网通办",
            "一网统管",
            "一网协同",
            "退出登录",
        ]:
            assert label in home

    @pytest.mark.parametrize(
        "name", ["catalog", "sharing", "gateway", "registry", "exchange", "services", "governance", "collab"]
    )
    def test_each_section_says_what_is_coming(
        self, client: TestClient, province: Province, name: str
    ) -> None:
        login(client, "gz_staff")
        page = client.get(f"/sections/{name}")
        assert page.status_code == 200
        assert "建设中" in page.text
        assert "上线后将提供" in page.text

    def test_pages_carry_security_headers(self, client: TestClient) -> None:
        page = client.get("/login")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"

    def test_static_files_are_served(self, client: TestClient) -> None:
        css = client.get("/static/app.css")
        assert css.status_code == 200
        assert "--red" in css.text


class TestErrors:
    def test_404_is_a_page_for_browsers(self, client: TestClient, province: Province) -> None:
        response = client.get("/no/such/page")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "页面不存在" in response.text
        assert "返回首页" in response.text

    def test_404_is_json_for_the_api(self, client: TestClient) -> None:
        response = client.get("/api/v1/no/such/thing")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_json_callers_get_json_off_the_api_too(self, client: TestClient) -> None:
        response = client.get("/no/such/page", headers={"Accept": "application/json"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_unknown_section_is_404_with_the_layout(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        page = client.get("/sections/nope")
        assert page.status_code == 404
        assert "栏目 nope 不存在" in page.text
        assert "退出登录" in page.text

    def test_error_text_is_escaped(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        page = client.get("/sections/<script>x")
        assert page.status_code == 404
        assert "<script>x" not in page.text


class TestAuditPage:
    def test_auditor_reads_the_log_newest_first(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff", "wrong-password1")
        login(client, "auditor")
        page = client.get("/audit")
        assert page.status_code == 200
        seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', page.text)]
        assert seqs
        assert seqs == sorted(seqs, reverse=True)
        assert "auth.login" in page.text
        assert "user.create" in page.text

    def test_filters(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff", "wrong-password1")
        login(client, "auditor")
        page = client.get("/audit", params={"outcome": "denied", "action": "auth."})
        assert page.status_code == 200
        assert "gz_staff" in page.text
        assert "user.create" not in page.text
        assert "outcome-ok" not in page.text
        nobody = client.get("/audit", params={"actor": "nobody"})
        assert "没有符合条件的记录" in nobody.text

    def test_date_filters_use_beijing_days(self, client: TestClient, province: Province) -> None:
        login(client, "auditor")
        assert "没有符合条件的记录" in client.get("/audit", params={"until": "2000-01-01"}).text
        assert "auth.login" in client.get("/audit", params={"since": "2000-01-01"}).text

    @pytest.mark.parametrize(
        ("name", "value"),
        [("since", "yesterday"), ("until", "2024-13-45"), ("before", "abc"), ("outcome", "maybe")],
    )
    def test_bad_filters_are_explained_not_500(
        self, client: TestClient, province: Province, name: str, value: str
    ) -> None:
        login(client, "auditor")
        page = client.get("/audit", params={name: value})
        assert page.status_code == 422
        assert 'class="alert alert-bad"' in page.text

    def test_cursor_paging(self, client: TestClient, platform: Platform, province: Province) -> None:
        with platform.session_scope() as db:
            for i in range(60):
                audit.record(db, Actor.system(), "test.event", target_type="t", target_id=i)
        login(client, "auditor")
        first = client.get("/audit", params={"action": "test."})
        seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', first.text)]
        assert len(seqs) == 50
        older = re.search(r'href="(/audit\?[^"]*before=\d+[^"]*)"', first.text)
        assert older, "no link to older entries"
        second = client.get(older.group(1).replace("&amp;", "&"))
        rest = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', second.text)]
        assert len(rest) == 10
        assert max(rest) < min(seqs)
        assert "回到最新" in second.text

    def test_staff_is_refused_and_the_refusal_recorded(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        login(client, "gz_staff")
        page = client.get("/audit")
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert "无权访问" in page.text
        assert audit_rows(platform, "audit.view") == [("gz_staff", "denied")]

    def test_staff_cannot_verify_either(self, client: TestClient, province: Province) -> None:
        login(client, "gz_staff")
        token = csrf(client.get("/"))
        assert client.post("/audit/verify", data={"csrf_token": token}).status_code == 403

    def test_verify_now(self, client: TestClient, platform: Platform, province: Province) -> None:
        login(client, "auditor")
        token = csrf(client.get("/audit"))
        page = client.post("/audit/verify", data={"csrf_token": token})
        assert page.status_code == 200
        assert re.search(r"核验通过：\d+ 条记录，\d+ 个检查点完好", page.text)
        assert audit_rows(platform, "audit.verify") == [("auditor", "ok")]

    def test_verify_with_htmx_returns_the_fragment(self, client: TestClient, province: Province) -> None:
        login(client, "auditor")
        token = csrf(client.get("/audit"))
        fragment = client.post("/audit/verify", data={"csrf_token": token}, headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "核验通过" in fragment.text
        assert "<html" not in fragment.text

    def test_verify_shows_the_first_bad_entry(
        self, client: TestClient, platform: Platform, province: Province
    ) -> None:
        login(client, "auditor")
        with platform.session_scope(read_only=True) as db:
            seq = db.execute(select(AuditEntry.seq).order_by(AuditEntry.seq).limit(1)).scalar_one()
        tamper(platform, "UPDATE audit_entry SET details = '{\"tampered\": true}' WHERE seq = :seq", seq=seq)
        token = csrf(client.get("/audit"))
        page = client.post("/audit/verify", data={"csrf_token": token})
        assert f"第一条异常记录为 #{seq}" in page.text
