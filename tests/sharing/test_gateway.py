"""The gateway's rules: only the grant's fields and rows, key filters, limits, quotas, who may call."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.sharing.conftest import DISTRICTS, ROWS, World, person
from yiwang.sharing.gateway import _narrower


def granted(world: World, **decision: object) -> int:
    req = world.request().json()
    answer = world.decide(req["id"], **decision)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["grant"])


class TestFieldsAndFilters:
    def test_unknown_field_is_400_and_ungranted_is_403(self, world: World) -> None:
        granted(world, fields=["id_number", "name"])
        unknown = world.call(fields="id_number,nonsense")
        assert unknown.status_code == 400
        assert unknown.json()["error"]["details"]["field"] == "nonsense"
        refused = world.call(fields="amount")
        assert refused.status_code == 403
        assert refused.json()["error"]["details"] == {"reason": "field_not_granted", "field": "amount"}

    def test_key_lookup_returns_the_one_record_masked(self, world: World) -> None:
        granted(world)
        target = person(7)
        answer = world.call(id_number=target["id_number"])
        assert answer.status_code == 200
        records = answer.json()["records"]
        assert len(records) == 1
        assert records[0]["phone"] == "138****0007"
        assert records[0]["amount"] == pytest.approx(target["amount"])

    def test_filter_on_a_non_key_field_is_refused(self, world: World) -> None:
        granted(world)
        answer = world.call(name="欧阳娜")
        assert answer.status_code == 400
        assert "关键信息项" in answer.json()["error"]["message"]

    def test_clear_fields_need_the_cdo(self, world: World) -> None:
        req = world.request().json()
        by_staff = world.decide(req["id"], clear_fields=["phone"])
        assert by_staff.status_code == 403
        by_cdo = world.decide(req["id"], headers=world.as_cdo(), clear_fields=["phone"])
        assert by_cdo.status_code == 200, by_cdo.text
        answer = world.call(limit=1).json()
        assert answer["records"][0]["phone"].isdigit()
        assert "phone" not in answer["masked"]
        log = world.client.get("/api/v1/sharing/access-log", headers=world.as_provider()).json()["calls"]
        assert log[0]["clear"] == ["phone"]

    def test_logged_query_masks_personal_values(self, world: World) -> None:
        granted(world)
        number = person(3)["id_number"]
        assert world.call(id_number=number).status_code == 200
        log = world.client.get("/api/v1/sharing/access-log", headers=world.as_consumer()).json()["calls"]
        assert log[0]["query"]["id_number"] != number
        assert log[0]["query"]["id_number"][:6] == number[:6]


class TestScopeAndPaging:
    def test_row_scope_bounds_every_query(self, world: World) -> None:
        granted(world, row_scope={"district": DISTRICTS[1]})
        outside = next(person(i) for i in range(1, ROWS) if person(i)["district"] == DISTRICTS[0])
        assert world.call(id_number=outside["id_number"]).json()["records"] == []
        rows = world.call(limit=1000).json()["records"]
        assert len(rows) == ROWS // 2
        assert {r["district"] for r in rows} == {DISTRICTS[1]}

    def test_cursor_walks_all_rows_once(self, world: World) -> None:
        granted(world)
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
            body = world.call(**params).json()
            seen += [r["district"] + r["name"] for r in body["records"]]
            cursor = body["next"]
            if cursor is None:
                break
        assert len(seen) == ROWS

    @pytest.mark.parametrize("limit", ["0", "1001", "ten", "-1", "¹", "٣"])
    def test_bad_limit_is_400(self, world: World, limit: str) -> None:
        granted(world)
        assert world.call(limit=limit).status_code == 400

    @pytest.mark.parametrize("cursor", ["abc", "²", "9" * 19])
    def test_bad_cursor_is_400(self, world: World, cursor: str) -> None:
        granted(world)
        assert world.call(cursor=cursor).status_code == 400


@given(
    asked=st.text(alphabet="4401*", min_size=1, max_size=8),
    bound=st.text(alphabet="4401*", min_size=1, max_size=8),
)
def test_scope_narrowing_never_widens(asked: str, bound: str) -> None:
    """Whatever the caller asks, the merged filter matches only values the scope allows."""
    merged = _narrower(asked, bound)

    def matches(pattern: str, value: str) -> bool:
        return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern

    for value in ["4", "44", "440", "4401", "44010", "440106", "1", "0", "4*"]:
        if merged is not None and matches(merged, value):
            assert matches(bound, value)
            assert matches(asked, value)


class TestWhoMayCall:
    def test_another_departments_token_is_refused(self, world: World) -> None:
        grant = granted(world)
        other = world.province.token("gz_staff", "sz-approval")  # same system name, other department
        answer = world.call(token=other, grant=str(grant))
        assert answer.status_code == 403
        assert answer.json()["error"]["details"]["reason"] == "other_department"
        assert world.call(token=other).json()["error"]["details"]["reason"] == "no_grant"

    def test_another_system_of_the_same_department_is_refused(self, world: World) -> None:
        granted(world)
        other = world.province.token("sz_staff", "sz-archive")
        answer = world.call(token=other)
        assert answer.status_code == 403
        assert answer.json()["error"]["details"]["reason"] == "wrong_system"

    def test_no_token_is_401_and_is_logged(self, world: World) -> None:
        granted(world)
        answer = world.client.get("/gateway/v1/resources/R-PEOPLE/records")
        assert answer.status_code == 401
        log = world.client.get(
            "/api/v1/sharing/access-log",
            headers={"Authorization": "Bearer " + world.province.token("auditor", "audit")},
        )
        assert log.json()["calls"][0]["status"] == 401

    def test_expired_grant(self, world: World) -> None:
        req = world.request(valid_until=(date.today() + timedelta(days=1)).isoformat()).json()
        world.decide(req["id"])
        from yiwang.sharing.models import Grant

        with world.platform.session_scope() as db:
            db.get(Grant, 1).valid_until = date.today() - timedelta(days=1)  # type: ignore[union-attr]
        answer = world.call()
        assert answer.status_code == 403
        assert answer.json()["error"]["details"]["reason"] == "grant_expired"


class TestQuota:
    def test_daily_quota_then_429_with_retry_after(self, world: World) -> None:
        granted(world, daily_quota=3)
        assert [world.call(limit=1).status_code for _ in range(4)] == [200, 200, 200, 429]
        over = world.call(limit=1)
        assert over.status_code == 429
        assert int(over.headers["Retry-After"]) > 0

    def test_refused_calls_do_not_use_the_quota(self, world: World) -> None:
        granted(world, daily_quota=2, fields=["id_number"])
        assert world.call(fields="phone").status_code == 403
        assert [world.call(limit=1).status_code for _ in range(3)] == [200, 200, 429]

    def test_rate_limit(self, world: World) -> None:
        granted(world, rate_limit=2)
        codes = [world.call(limit=1).status_code for _ in range(12)]
        assert 429 in codes
        assert codes.count(200) >= 2
