"""The backbone's REST API through HTTP: the caller, orgs, users, tokens, audit, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Province
from yiwang.app import create_app
from yiwang.runtime import Platform


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestMe:
    def test_returns_the_caller(self, client: TestClient, province: Province) -> None:
        r = client.get("/api/v1/me", headers=auth(province.token("gz_cdo")))
        assert r.status_code == 200
        body = r.json()
        assert (body["username"], body["org"], body["roles"], body["org_name"]) == (
            "gz_cdo",
            "440100",
            ["cdo"],
            "广州市",
        )

    def test_without_credentials_is_401_json_in_chinese(self, client: TestClient) -> None:
        r = client.get("/api/v1/me")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "authentication_required"
        assert "登录" in r.json()["error"]["message"]

    def test_bad_token_is_401_and_audited_as_denied(self, client: TestClient, province: Province) -> None:
        r = client.get("/api/v1/me", headers=auth("yw_bogus"))
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_token"
        entries = client.get(
            "/api/v1/audit/entries?action=auth.token", headers=auth(province.token("auditor"))
        ).json()["entries"]
        assert entries[0]["outcome"] == "denied"

    def test_ckan_style_raw_token_header_works(self, client: TestClient, province: Province) -> None:
        r = client.get("/api/v1/me", headers={"Authorization": province.token("gz_staff")})
        assert r.json()["username"] == "gz_staff"


class TestOrgsAndUsers:
    def test_create_org_and_user_through_the_api(self, client: TestClient, province: Province) -> None:
        admin = auth(province.token("admin"))
        r = client.post(
            "/api/v1/orgs", json={"code": "440106", "name": "天河区", "kind": "region"}, headers=admin
        )
        assert r.status_code == 201, r.text
        assert r.json()["parent"] == "440100"
        r = client.post(
            "/api/v1/users",
            headers=admin,
            json={
                "username": "th_staff",
                "org": "440106",
                "roles": ["staff"],
                "password": PASSWORD,
                "display_name": "张三",
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["org_name"] == "天河区"

    def test_unknown_org_is_404_naming_it(self, client: TestClient, province: Province) -> None:
        r = client.post(
            "/api/v1/users",
            headers=auth(province.token("admin")),
            json={"username": "x_user", "org": "nowhere", "roles": ["staff"], "password": PASSWORD},
        )
        assert r.status_code == 404
        assert "nowhere" in r.json()["error"]["message"]

    def test_schema_violation_is_422_naming_the_field(self, client: TestClient, province: Province) -> None:
        r = client.post(
            "/api/v1/users",
            headers=auth(province.token("admin")),
            json={"username": "ok_user", "org": "440100", "roles": ["emperor"], "password": PASSWORD},
        )
        assert r.status_code == 422
        assert "roles" in r.json()["error"]["message"]

    def test_denied_attempt_is_403_and_audited(self, client: TestClient, province: Province) -> None:
        r = client.post(
            "/api/v1/orgs",
            headers=auth(province.token("gz_staff")),
            json={"code": "440100-new", "name": "新局", "parent": "440100"},
        )
        assert r.status_code == 403
        entries = client.get(
            "/api/v1/audit/entries?outcome=denied", headers=auth(province.token("auditor"))
        ).json()["entries"]
        assert any(e["action"] == "org.create" and e["actor"] == "gz_staff" for e in entries)

    def test_shenzhen_cdo_cannot_create_a_guangzhou_account(
        self, client: TestClient, province: Province
    ) -> None:
        r = client.post(
            "/api/v1/users",
            headers=auth(province.token("sz_cdo")),
            json={"username": "intruder", "org": "440100-amr", "roles": ["staff"], "password": PASSWORD},
        )
        assert r.status_code == 403


class TestTokensApi:
    def test_create_list_revoke(self, client: TestClient, province: Province) -> None:
        me = auth(province.token("gz_staff", "bootstrap"))
        created = client.post("/api/v1/tokens", headers=me, json={"name": "业务系统A", "expires_days": 30})
        assert created.status_code == 201
        new_token = created.json()["token"]
        assert client.get("/api/v1/me", headers=auth(new_token)).status_code == 200
        listed = client.get("/api/v1/tokens", headers=me).json()
        assert {t["name"] for t in listed} == {"bootstrap", "业务系统A"}
        assert all("token" not in t for t in listed)
        revoked = client.post(f"/api/v1/tokens/{created.json()['id']}/revoke", headers=me)
        assert revoked.status_code == 200
        r = client.get("/api/v1/me", headers=auth(new_token))
        assert r.status_code == 401
        assert "吊销" in r.json()["error"]["message"]


class TestAudit:
    def test_auditor_reads_and_verifies_staff_cannot(self, client: TestClient, province: Province) -> None:
        auditor = auth(province.token("auditor"))
        page = client.get("/api/v1/audit/entries?limit=3", headers=auditor).json()
        assert len(page["entries"]) == 3
        older = client.get(f"/api/v1/audit/entries?limit=3&cursor={page['next']}", headers=auditor).json()
        assert older["entries"][0]["seq"] < page["entries"][-1]["seq"]
        verified = client.get("/api/v1/audit/verify", headers=auditor).json()
        assert verified["ok"] is True
        assert (
            client.get("/api/v1/audit/entries", headers=auth(province.token("gz_staff"))).status_code == 403
        )


class TestHealth:
    def test_healthz_and_readyz(self, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200

    def test_unknown_api_path_is_json_404(self, client: TestClient) -> None:
        r = client.get("/api/v1/nothing")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
