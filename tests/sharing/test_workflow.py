"""Deadlines, who may do what, objections, demands, duties, reminders and the console."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import literal, select

from tests.sharing.conftest import World, person
from yiwang.identity.authz import PERMISSIONS, AccessDenied, Actor
from yiwang.runtime import Platform
from yiwang.sharing import calls, service
from yiwang.sharing.schemas import RequestIn


class TestDeadline:
    def test_counts_working_days_over_national_day(self, world: World) -> None:
        """Submitted on Monday 2025-09-29: 30 Sep is working day 1, 1-8 Oct are the holiday, 9 and
        10 Oct are 2 and 3, Saturday 11 Oct is a make-up working day (4), then 13-17 Oct (5-9):
        the 10th is Monday 20 Oct (without the make-up day it would be the 21st)."""
        body = RequestIn(
            resource="R-PEOPLE",
            fields=["id_number"],
            purpose="核验",
            basis="依据",
            valid_until=date(2025, 12, 31),
            system="sz-approval",
        )
        with world.platform.session_scope() as db:
            req = service.submit_request(db, world.province.actor("sz_staff"), body, today=date(2025, 9, 29))
            assert req.deadline == date(2025, 10, 20)

    def test_overdue_flag_after_the_deadline(self, world: World) -> None:
        req = world.request().json()
        with world.platform.session_scope(read_only=True) as db:
            later = date.fromisoformat(req["deadline"]) + timedelta(days=1)
            overdue = service.list_requests(db, world.province.actor("gz_staff"), overdue=True, today=later)
        assert [r.id for r in overdue] == [req["id"]]


class TestValidation:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"fields": ["nope"]}, "fields"),
            ({"resource": "R-MISSING"}, "resource"),
            ({"valid_until": "2020-01-01"}, "valid_until"),
            ({"purpose": ""}, "purpose"),
        ],
    )
    def test_bad_request_names_the_field_and_changes_nothing(
        self, world: World, change: dict[str, object], field: str
    ) -> None:
        answer = world.request(**change)
        assert answer.status_code == 422
        assert field in answer.text
        assert world.client.get("/api/v1/sharing/requests", headers=world.as_consumer()).json() == []

    def test_own_department_need_not_ask(self, world: World) -> None:
        answer = world.client.post(
            "/api/v1/sharing/requests",
            json={
                "resource": "R-PEOPLE",
                "fields": ["id_number"],
                "purpose": "x",
                "basis": "y",
                "valid_until": (date.today() + timedelta(days=10)).isoformat(),
                "system": "gz",
            },
            headers=world.as_provider(),
        )
        assert answer.status_code == 422

    def test_decision_cannot_widen_the_fields(self, world: World) -> None:
        req = world.request(fields=["id_number"]).json()
        answer = world.decide(req["id"], fields=["id_number", "phone"])
        assert answer.status_code == 422
        assert "phone" in answer.json()["error"]["message"]


class TestAuthorization:
    def test_every_sharing_action_is_in_the_table(self) -> None:
        for action in (
            "sharing.request",
            "sharing.decide",
            "sharing.revoke",
            "sharing.clear",
            "gateway.call",
        ):
            assert action in PERMISSIONS
        assert "auditor" not in PERMISSIONS["gateway.call"]
        assert PERMISSIONS["sharing.clear"] == {"cdo": "subtree", "admin": "all"}

    def test_consumer_cannot_decide_or_revoke(self, world: World) -> None:
        req = world.request().json()
        assert world.decide(req["id"], headers=world.as_consumer()).status_code == 403
        grant = world.decide(req["id"]).json()["grant"]
        revoke = world.client.post(
            f"/api/v1/sharing/grants/{grant}/revoke", json={"reason": "x"}, headers=world.as_consumer()
        )
        assert revoke.status_code == 403

    def test_third_department_sees_nothing(self, world: World) -> None:
        world.request()
        with world.platform.session_scope(read_only=True) as db:
            outsider = Actor(
                username="x",
                org_code="440000-zsj",
                org_path="/440000/440000-zsj/",
                roles=frozenset({"staff"}),
                org_id=1,
            )
            assert service.list_requests(db, outsider) == []
            with pytest.raises(AccessDenied):
                service.list_requests(db, Actor.anonymous())

    def test_auditor_may_not_call_the_gateway(self, world: World) -> None:
        world.decide(world.request().json()["id"])
        token = world.province.token("auditor", "sz-approval")
        assert world.call(token=token).status_code == 403


class TestWithdrawAndEscalate:
    def test_withdraw_then_no_decision(self, world: World) -> None:
        req = world.request().json()
        out = world.client.post(
            f"/api/v1/sharing/requests/{req['id']}/withdraw",
            json={"reason": "需求取消"},
            headers=world.as_consumer(),
        )
        assert out.json()["status"] == "withdrawn"
        assert world.decide(req["id"]).status_code == 409

    def test_escalation_reaches_the_operator(self, world: World) -> None:
        req = world.request().json()
        answer = world.client.post(
            f"/api/v1/sharing/requests/{req['id']}/escalate",
            json={"reason": "逾期未答复"},
            headers=world.as_consumer(),
        )
        assert answer.json()["escalated"] is True
        op = world.province.token("operator", "op")
        notes = world.client.get(
            "/api/v1/sharing/notifications", headers={"Authorization": f"Bearer {op}"}
        ).json()
        assert any(n["kind"] == "request.escalated" for n in notes)
        decided = world.decide(req["id"], headers={"Authorization": f"Bearer {op}"})
        assert decided.json()["status"] == "granted"


class TestObjectionsDemandsDuties:
    def test_objection_answered_corrected(self, world: World) -> None:
        world.decide(world.request().json()["id"])
        raised = world.client.post(
            "/api/v1/sharing/objections",
            json={"resource": "R-PEOPLE", "keys": [person(1)["id_number"]], "description": "姓名有误"},
            headers=world.as_consumer(),
        )
        assert raised.status_code == 201, raised.text
        oid = raised.json()["id"]
        missing_load = world.client.post(
            f"/api/v1/sharing/objections/{oid}/answer",
            json={"outcome": "corrected", "answer": "已更正"},
            headers=world.as_provider(),
        )
        assert missing_load.status_code == 422
        done = world.client.post(
            f"/api/v1/sharing/objections/{oid}/answer",
            json={"outcome": "corrected", "answer": "已更正", "load": 1},
            headers=world.as_provider(),
        )
        assert done.json()["status"] == "corrected"

    def test_objection_needs_a_grant(self, world: World) -> None:
        raised = world.client.post(
            "/api/v1/sharing/objections",
            json={"resource": "R-PEOPLE", "keys": ["x"], "description": "错"},
            headers=world.as_consumer(),
        )
        assert raised.status_code == 422

    def test_demand_answered_with_a_resource(self, world: World) -> None:
        posted = world.client.post(
            "/api/v1/sharing/demands",
            json={
                "title": "参保信息",
                "items": ["身份证号", "参保状态"],
                "purpose": "审批核验",
                "provider": "440100-amr",
            },
            headers=world.as_consumer(),
        )
        assert posted.status_code == 201, posted.text
        answer = world.client.post(
            f"/api/v1/sharing/demands/{posted.json()['id']}/answer",
            json={"resource": "R-PEOPLE"},
            headers=world.as_provider(),
        )
        assert answer.json()["status"] == "answered"
        assert answer.json()["resource"] == "R-PEOPLE"

    def test_duty_list_shows_status(self, world: World) -> None:
        added = world.client.post(
            "/api/v1/sharing/duties",
            json={"org": "440100-amr", "resource": "R-PEOPLE"},
            headers=world.as_cdo(),
        )
        assert added.status_code == 201, added.text
        duties = world.client.get("/api/v1/sharing/duties?org=440100-amr", headers=world.as_provider()).json()
        assert [d["status"] for d in duties] == ["current"]


class TestConsole:
    @pytest.mark.parametrize(
        ("stored", "day"),
        [
            ("2026-12-02T15:59:59.999999Z", "2026-12-02"),
            ("2026-12-02T16:00:00.000000Z", "2026-12-03"),
            ("2026-12-31T23:30:00.000000Z", "2027-01-01"),
        ],
    )
    def test_calls_are_counted_by_beijing_day(self, platform: Platform, stored: str, day: str) -> None:
        with platform.session_scope(read_only=True) as db:
            assert db.execute(select(calls.beijing_day(db, literal(stored)))).scalar_one() == day
        assert calls.utc_start_of(date(2026, 12, 3)) == "2026-12-02T16:00:00.000000Z"

    def test_console_counts(self, world: World) -> None:
        world.request()
        console = world.client.get("/api/v1/sharing/console", headers=world.as_cdo())
        assert console.status_code == 200, console.text
        data = console.json()
        assert data["requests"]["pending"] == 1
        assert data["quality"][0]["resource"] == "R-PEOPLE"
        assert "质量分" in data["quality_formula"]
        assert world.client.get("/api/v1/sharing/console", headers=world.as_provider()).status_code == 403

    def test_reminders_notify_the_provider(self, world: World) -> None:
        req = world.request().json()
        with world.platform.session_scope() as db:
            run = service.send_reminders(db, Actor.system(), today=date.fromisoformat(req["deadline"]))
        assert run.reminded == 1
        notes = world.client.get("/api/v1/sharing/notifications", headers=world.as_provider()).json()
        assert any(n["kind"] == "request.due" for n in notes)
