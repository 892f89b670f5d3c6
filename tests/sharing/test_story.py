"""The sharing story through the CONTRACT endpoints: request, decision, gateway, log, revocation."""

from __future__ import annotations

import json
from datetime import date, timedelta

from tests.conftest import tamper
from tests.sharing.conftest import DISTRICTS, World, load_people, publish
from yiwang.identity.authz import Actor
from yiwang.kit import audit
from yiwang.kit.accesslog import ACCESS
from yiwang.sharing import calls


class TestStory:
    def test_request_approve_narrowed_call_log_revoke(self, world: World) -> None:
        asked = world.request()
        assert asked.status_code == 201, asked.text
        req = asked.json()
        assert req["status"] == "pending"
        assert req["grant"] is None
        assert date.fromisoformat(req["deadline"]) > date.today()

        decided = world.decide(
            req["id"],
            fields=["id_number", "name", "district"],
            row_scope={"district": DISTRICTS[0]},
            daily_quota=100,
            reason="同意，限天河区",
        )
        assert decided.status_code == 200, decided.text
        grant_id = decided.json()["grant"]
        assert decided.json()["status"] == "granted"
        assert grant_id

        answer = world.call(limit=100)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"resource", "records", "next", "masked", "call"}
        assert body["records"], "rows in scope are served"
        assert all(set(r) == {"id_number", "name", "district"} for r in body["records"])
        assert all(r["district"] == DISTRICTS[0] for r in body["records"])
        assert len(body["records"]) == 20
        assert sorted(body["masked"]) == ["id_number", "name"]
        first = body["records"][0]
        assert first["id_number"][:6] == "440106"
        assert "*" in first["id_number"]
        assert first["name"].startswith("欧阳")
        assert first["name"].endswith("*")

        refused_field = world.call(fields="id_number,phone")
        assert refused_field.status_code == 403
        assert refused_field.json()["error"]["details"]["field"] == "phone"

        # both sides see the calls
        for headers in (world.as_consumer(), world.as_provider()):
            log = world.client.get("/api/v1/sharing/access-log", headers=headers).json()["calls"]
            assert [c["status"] for c in log[:2]] == [403, 200]
            assert log[1]["call"] == body["call"]
            assert log[1]["records"] == 20
            assert log[1]["grant"] == grant_id

        revoked = world.client.post(
            f"/api/v1/sharing/grants/{grant_id}/revoke",
            json={"reason": "用途已结束"},
            headers=world.as_provider(),
        )
        assert revoked.status_code == 200
        assert revoked.json()["status"] == "revoked"
        after = world.call()
        assert after.status_code == 403
        assert after.json()["error"]["details"]["reason"] == "grant_revoked"

        with world.platform.session_scope() as db:
            assert audit.verify_database(db, world.platform.keyring.public_keys()).ok
            result = calls.verify(db, Actor.system(), world.platform.keyring)
            assert result.ok
            assert result.entries == 3

    def test_tampered_access_log_export_fails(self, world: World) -> None:
        grant = world.decide(world.request().json()["id"]).json()["grant"]
        assert grant
        for _ in range(3):
            assert world.call(limit=5).status_code == 200
        with world.platform.session_scope() as db:
            lines = list(calls.export(db, Actor.system(), world.platform.keyring))
        assert audit.verify_export(lines).ok
        entries = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "entry"]
        forged = json.loads(lines[entries[1]])
        forged["records"] = 0
        lines[entries[1]] = audit.canonical_json(forged)
        result = audit.verify_export(lines)
        assert not result.ok
        assert result.first_bad == forged["seq"]

    def test_tampered_access_log_in_database_fails(self, world: World) -> None:
        world.decide(world.request().json()["id"])
        for _ in range(2):
            assert world.call(limit=5).status_code == 200
        tamper(world.platform, "UPDATE access_entry SET records = 99 WHERE seq = 1")
        with world.platform.session_scope() as db:
            result = audit.verify_database(db, world.platform.keyring.public_keys(), chain=ACCESS)
        assert not result.ok
        assert result.first_bad == 1


class TestShareTypes:
    def test_unconditional_is_granted_at_once(self, world: World) -> None:
        publish(world.platform, "R-OPEN", "unconditional")
        load_people(world.platform, "R-OPEN", 5)
        answer = world.request("R-OPEN")
        assert answer.status_code == 201
        assert answer.json()["status"] == "granted"
        assert answer.json()["grant"]
        assert world.call("R-OPEN").status_code == 200

    def test_none_is_refused_with_its_basis(self, world: World) -> None:
        publish(world.platform, "R-CLOSED", "none")
        answer = world.request("R-CLOSED")
        assert answer.status_code == 201
        assert answer.json()["status"] == "refused"
        assert "社会保险法" in answer.json()["reason"]
        denied = world.call("R-CLOSED")
        assert denied.status_code == 403
        assert denied.json()["error"]["details"]["reason"] == "no_grant"

    def test_refusal_needs_a_reason(self, world: World) -> None:
        req = world.request().json()
        answer = world.client.post(
            f"/api/v1/sharing/requests/{req['id']}/decision",
            json={"approve": False},
            headers=world.as_provider(),
        )
        assert answer.status_code == 422
        assert "理由" in answer.json()["error"]["message"]
        ok = world.client.post(
            f"/api/v1/sharing/requests/{req['id']}/decision",
            json={"approve": False, "reason": "用途与共享条件不符"},
            headers=world.as_provider(),
        )
        assert ok.status_code == 200
        assert ok.json()["status"] == "refused"


class TestRenewal:
    def test_renewal_replaces_the_grant(self, world: World) -> None:
        first = world.decide(world.request().json()["id"]).json()["grant"]
        again = world.request()
        assert again.status_code == 409, "one live grant per system and resource"
        renewal = world.request(renews=first, valid_until=(date.today() + timedelta(days=300)).isoformat())
        assert renewal.status_code == 201, renewal.text
        second = world.decide(renewal.json()["id"]).json()["grant"]
        grants = {
            g["id"]: g for g in world.client.get("/api/v1/sharing/grants", headers=world.as_consumer()).json()
        }
        assert grants[first]["status"] == "revoked"
        assert grants[second]["status"] == "active"
        assert world.call().status_code == 200
