"""The registry's REST API for change and licence registrations: routes, authorization, JSON errors
naming the field, and the bundle fetched over HTTP verifying offline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.conftest import Province
from tests.registry.test_registry import BANK_B, Registry
from yiwang.app import create_app
from yiwang.registry import bundle
from yiwang.runtime import Platform

API = "/api/v1/registry"


@pytest.fixture
def registry(platform: Platform, province: Province) -> Registry:
    return Registry(platform, province)


@pytest.fixture
def client(registry: Registry) -> Iterator[TestClient]:
    with TestClient(create_app(registry.platform)) as c:
        yield c


def bearer(registry: Registry, username: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + registry.province.token(username)}


class TestChanges:
    def test_apply_queue_decide_and_the_new_body(self, client: TestClient, registry: Registry) -> None:
        number = registry.certificate()
        holder, operator = bearer(registry, "holder"), bearer(registry, "operator")
        applied = client.post(
            f"{API}/certificates/{number}/changes",
            json={"records": 2_000_000, "update_frequency": "daily", "reason": "数据扩充"},
            headers=holder,
        )
        assert applied.status_code == 201, applied.text
        change = applied.json()
        assert change["status"] == "submitted"
        assert change["changes"] == {"records": 2_000_000, "update_frequency": "daily"}
        assert change["before"] == {"records": 1_200_000, "update_frequency": "irregular"}

        queue = client.get(f"{API}/changes", headers=operator)
        assert [c["id"] for c in queue.json()] == [change["id"]]
        assert client.get(f"{API}/changes", headers=holder).status_code == 403
        assert (
            client.get(f"{API}/certificates/{number}/changes", headers=holder).json()[0]["id"] == change["id"]
        )
        assert client.get(f"{API}/certificates/{number}/changes").status_code == 401

        refused = client.post(
            f"{API}/changes/{change['id']}/decision", json={"approve": True}, headers=holder
        )
        assert refused.status_code == 403
        decided = client.post(
            f"{API}/changes/{change['id']}/decision",
            json={"approve": True, "reason": "核准"},
            headers=operator,
        )
        assert decided.status_code == 200, decided.text
        assert (decided.json()["status"], decided.json()["certificate"]) == ("approved", number)
        body = client.get(f"{API}/certificates/{number}").json()["body"]
        assert (body["records"], body["update_frequency"], body["version"]) == (2_000_000, "daily", 2)
        assert client.get(f"{API}/changes", headers=operator).json() == []

    def test_errors_name_the_field(self, client: TestClient, registry: Registry) -> None:
        number = registry.certificate()
        holder = bearer(registry, "holder")
        same = client.post(
            f"{API}/certificates/{number}/changes", json={"records": 1_200_000, "reason": "x"}, headers=holder
        )
        assert same.status_code == 422
        assert same.json()["error"]["details"] == {"field": "changes"}
        no_reason = client.post(f"{API}/certificates/{number}/changes", json={"records": 1}, headers=holder)
        assert no_reason.status_code == 422
        assert "reason" in no_reason.json()["error"]["message"]
        holders_field = client.post(
            f"{API}/certificates/{number}/changes", json={"holder": "X", "reason": "改持有方"}, headers=holder
        )
        assert holders_field.status_code == 422  # not a changeable field
        unknown = client.post(
            f"{API}/certificates/GD-DA-2025-999999/changes",
            json={"records": 1, "reason": "x"},
            headers=holder,
        )
        assert unknown.status_code == 404
        assert client.post(f"{API}/changes/999/withdraw", headers=holder).status_code == 404


class TestLicences:
    def test_grant_list_end_and_the_bundle(self, client: TestClient, registry: Registry) -> None:
        number = registry.certificate()
        holder = bearer(registry, "holder")
        today = date.today()
        granted = client.post(
            f"{API}/certificates/{number}/licences",
            json={
                "licensee": BANK_B,
                "right": "processing",
                "scope": "风控建模",
                "valid_until": str(today + timedelta(days=90)),
            },
            headers=holder,
        )
        assert granted.status_code == 201, granted.text
        licence = granted.json()
        assert (licence["licensee"], licence["status"], licence["valid_from"]) == (
            BANK_B,
            "active",
            str(today),
        )

        public = client.get(f"{API}/certificates/{number}/licences")  # no sign-in: public as the log is
        assert public.status_code == 200
        assert [item["id"] for item in public.json()] == [licence["id"]]

        fetched = client.get(f"{API}/certificates/{number}/bundle").json()
        outcome = bundle.verify(fetched)
        assert outcome.ok, outcome.failed
        assert [item["licence"] for item in outcome.licences] == [licence["id"]]

        bank = bearer(registry, "bank_b")
        assert (
            client.post(f"{API}/licences/{licence['id']}/end", json={"reason": "x"}, headers=bank).status_code
            == 403
        )
        ended = client.post(
            f"{API}/licences/{licence['id']}/end", json={"reason": "提前解约"}, headers=holder
        )
        assert ended.status_code == 200, ended.text
        assert (ended.json()["status"], ended.json()["end_reason"]) == ("ended", "提前解约")
        outcome = bundle.verify(client.get(f"{API}/certificates/{number}/bundle").json())
        assert (outcome.ok, outcome.licences, outcome.last_event) == (True, [], "licence_end")

    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            ({"right": "holding"}, 422, "right"),  # the schema: only processing or operating
            ({"right": "operating"}, 422, "right"),  # not registered on the certificate
            ({"licensee": "NOSUCH"}, 422, "licensee"),
            ({"valid_until": "2099-01-01"}, 422, "valid_until"),
        ],
    )
    def test_errors_name_the_field(
        self, client: TestClient, registry: Registry, body: dict[str, Any], status: int, field: str
    ) -> None:
        number = registry.certificate()
        data = {
            "licensee": BANK_B,
            "right": "processing",
            "scope": "风控建模",
            "valid_until": str(date.today() + timedelta(days=30)),
            **body,
        }
        response = client.post(
            f"{API}/certificates/{number}/licences", json=data, headers=bearer(registry, "holder")
        )
        assert response.status_code == status, response.text
        assert field in response.json()["error"]["message"]

    def test_the_list_keeps_its_query_budget(self, client: TestClient, registry: Registry) -> None:
        """Listing licences costs the same number of queries for one licence as for five."""
        number = registry.certificate()
        holder = bearer(registry, "holder")

        def grant(days: int) -> None:
            data = {
                "licensee": BANK_B,
                "right": "processing",
                "scope": f"第 {days} 天起的建模",
                "valid_from": str(date.today() + timedelta(days=days)),
                "valid_until": str(date.today() + timedelta(days=days)),
            }
            assert (
                client.post(f"{API}/certificates/{number}/licences", json=data, headers=holder).status_code
                == 201
            )

        def queries() -> int:
            seen: list[str] = []

            def count(*args: Any) -> None:
                seen.append(args[2])

            event.listen(registry.platform.db.engine, "before_cursor_execute", count)
            try:
                assert client.get(f"{API}/certificates/{number}/licences").status_code == 200
            finally:
                event.remove(registry.platform.db.engine, "before_cursor_execute", count)
            return len(seen)

        grant(1)
        one = queries()
        for days in range(2, 6):
            grant(days)
        assert queries() == one

    def test_a_pledged_certificate_is_refused_with_a_reason(
        self, client: TestClient, registry: Registry
    ) -> None:
        number = registry.certificate()
        assert (
            client.post(f"{API}/certificates/{number}/pledge", headers=bearer(registry, "bank_a")).status_code
            == 200
        )
        response = client.post(
            f"{API}/certificates/{number}/licences",
            json={
                "licensee": BANK_B,
                "right": "processing",
                "scope": "风控建模",
                "valid_until": str(date.today() + timedelta(days=30)),
            },
            headers=bearer(registry, "holder"),
        )
        assert response.status_code == 409
        assert "已质押，解除质押前不能授权许可" in response.json()["error"]["message"]
