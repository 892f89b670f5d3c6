"""Change registration (变更登记) and licence registration (授权许可登记) through the service: the
rules, who may do what, the log events, the audit trail, and bundles of changed and licensed
certificates verifying offline."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from tests.registry.test_registry import BANK_A, BANK_B, HOLDER, Registry
from yiwang.identity.authz import AccessDenied
from yiwang.kit.audit import AuditEntry
from yiwang.kit.crypto import Signature, verify_with_public_keys
from yiwang.kit.errors import InvalidInput
from yiwang.registry import bundle, service
from yiwang.registry.models import Certificate
from yiwang.registry.schemas import ChangeIn, DecisionIn, LicenceIn
from yiwang.runtime import Platform

TODAY = date(2026, 3, 2)  # the certificates of Registry.certificate() run 2025-10-28 … 2028-10-28
NEW_VERSION = hashlib.sha256(b"dataset v2").hexdigest()


@pytest.fixture
def registry(platform: Platform, province: Any) -> Registry:
    return Registry(platform, province)


def suite(registry: Registry) -> str:
    return registry.platform.keyring.suite_name


def change(registry: Registry, number: str, **fields: Any) -> int:
    with registry.platform.session_scope() as db:
        data = ChangeIn(reason=fields.pop("reason", "发布新版本数据集"), **fields)
        return service.apply_change(db, registry.actor("holder"), number, data).id


def decide(registry: Registry, change_id: int, approve: bool = True, reason: str = "材料齐全") -> None:
    with registry.platform.session_scope() as db:
        service.decide_change(
            db,
            registry.actor("operator"),
            registry.platform.keyring,
            change_id,
            DecisionIn(approve=approve, reason=reason),
            today=TODAY,
        )


def licence_in(**overrides: Any) -> LicenceIn:
    data: dict[str, Any] = {
        "licensee": BANK_B,
        "right": "processing",
        "scope": "用于企业信用评估模型训练，不得向第三方提供",
        "valid_from": TODAY,
        "valid_until": date(2027, 3, 1),
    }
    data.update(overrides)
    return LicenceIn(**data)


def grant(registry: Registry, number: str, username: str = "holder", **overrides: Any) -> int:
    with registry.platform.session_scope() as db:
        licence = service.grant_licence(
            db, registry.actor(username), suite(registry), number, licence_in(**overrides), today=TODAY
        )
        return licence.id


def export(registry: Registry, number: str) -> dict[str, Any]:
    with registry.platform.session_scope() as db:
        return bundle.export(db, registry.platform.keyring, number)


def events(registry: Registry, number: str) -> list[dict[str, Any]]:
    with registry.platform.session_scope(read_only=True) as db:
        return [json.loads(e.leaf) for e in service.certificate_events(db, number)[1]]


def certificate(registry: Registry, number: str) -> Certificate:
    with registry.platform.session_scope(read_only=True) as db:
        return service.certificate_events(db, number)[0]


def audit_actions(registry: Registry) -> list[str]:
    with registry.platform.session_scope(read_only=True) as db:
        return list(db.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


class TestApplyChange:
    def test_an_approved_change_resigns_the_body_and_logs_a_change_event(self, registry: Registry) -> None:
        number = registry.certificate()
        before = certificate(registry, number)
        change_id = change(
            registry, number, records=1_500_000, fingerprint=NEW_VERSION, description="新增2025年数据"
        )
        assert certificate(registry, number).body == before.body  # nothing changes before the decision
        decide(registry, change_id)

        after = certificate(registry, number)
        body = json.loads(after.body)
        assert (body["records"], body["fingerprint"], body["description"]) == (
            1_500_000,
            NEW_VERSION,
            "新增2025年数据",
        )
        assert (body["version"], body["changed"]) == (2, TODAY.isoformat())
        assert body["name"] == json.loads(before.body)["name"]  # fields not asked for stay
        keys = registry.platform.keyring.public_keys()
        signature = Signature.from_dict(json.loads(after.signature))
        assert verify_with_public_keys(keys, service.certificate_message(after.body), signature)

        issue, changed = events(registry, number)
        assert (issue["event"], changed["event"]) == ("issue", "change")
        assert (issue["seq"], changed["seq"]) == (1, 2)
        assert changed["details"]["fields"] == ["description", "fingerprint", "records"]
        hashed = hashlib.sha256(before.body.encode()).hexdigest()
        assert changed["details"]["previous_body_hash"] == hashed == issue["body_hash"]
        assert changed["body_hash"] == hashlib.sha256(after.body.encode()).hexdigest()
        assert "registry.change.apply" in audit_actions(registry)
        assert "registry.change.decide" in audit_actions(registry)

    def test_only_fields_that_differ_are_kept_and_no_difference_is_refused(self, registry: Registry) -> None:
        number = registry.certificate()
        with (
            registry.platform.session_scope() as db,
            pytest.raises(InvalidInput, match="没有与现登记内容不同的变更事项") as refused,
        ):
            service.apply_change(
                db, registry.actor("holder"), number, ChangeIn(records=1_200_000, reason="无变化")
            )
        assert refused.value.details == {"field": "changes"}
        change_id = change(
            registry, number, records=1_200_000, update_frequency="daily", name="工商业用户用电数据集"
        )
        with registry.platform.session_scope(read_only=True) as db:
            (pending,) = service.changes_of(db, registry.actor("holder"), number)
        assert pending.id == change_id
        assert json.loads(pending.changes) == {"update_frequency": "daily"}
        assert json.loads(pending.before) == {"update_frequency": "irregular"}

    def test_the_holders_staff_apply_and_only_the_registry_decides(self, registry: Registry) -> None:
        number = registry.certificate()
        for outsider in ("bank_a", "operator", "gz_staff"):
            with registry.platform.session_scope() as db, pytest.raises(AccessDenied):
                service.apply_change(db, registry.actor(outsider), number, ChangeIn(records=1, reason="x"))
        change_id = change(registry, number, records=1)
        with registry.platform.session_scope() as db, pytest.raises(AccessDenied):
            service.decide_change(
                db, registry.actor("holder"), registry.platform.keyring, change_id, DecisionIn(approve=True)
            )
        with registry.platform.session_scope() as db, pytest.raises(AccessDenied):
            service.withdraw_change(db, registry.actor("bank_a"), change_id)

    def test_a_refusal_needs_a_reason_and_changes_nothing(self, registry: Registry) -> None:
        number = registry.certificate()
        body = certificate(registry, number).body
        change_id = change(registry, number, records=7)
        with pytest.raises(InvalidInput, match="reason：不予变更须说明理由"):
            decide(registry, change_id, approve=False, reason="")
        decide(registry, change_id, approve=False, reason="记录数与评估报告不符")
        assert certificate(registry, number).body == body
        assert [e["event"] for e in events(registry, number)] == ["issue"]
        with pytest.raises(service.WrongState, match="已办结"):
            decide(registry, change_id)

    def test_one_change_at_a_time_until_decided_or_withdrawn(self, registry: Registry) -> None:
        number = registry.certificate()
        first = change(registry, number, records=7)
        with pytest.raises(service.WrongState, match=f"已有待审核的变更申请 #{first}"):
            change(registry, number, records=8)
        with registry.platform.session_scope() as db:
            assert service.withdraw_change(db, registry.actor("holder"), first).status == "withdrawn"
        second = change(registry, number, records=8)
        decide(registry, second)
        assert json.loads(certificate(registry, number).body)["records"] == 8

    def test_a_pledged_certificate_may_change_a_cancelled_one_may_not(self, registry: Registry) -> None:
        number = registry.certificate()
        with registry.platform.session_scope() as db:
            service.pledge(db, registry.actor("bank_a"), suite(registry), number)
        decide(registry, change(registry, number, fingerprint=NEW_VERSION))
        assert certificate(registry, number).status == "pledged"
        assert [(e["event"], e["status"]) for e in events(registry, number)][-1] == ("change", "pledged")
        with registry.platform.session_scope() as db:
            service.release(db, registry.actor("bank_a"), suite(registry), number)
            service.cancel(db, registry.actor("operator"), suite(registry), number, "持有方申请注销")
        with pytest.raises(service.WrongState, match="已注销，不能申请变更登记"):
            change(registry, number, records=1)

    def test_a_transfer_voids_a_pending_change(self, registry: Registry) -> None:
        number = registry.certificate()
        change_id = change(registry, number, records=9)
        with registry.platform.session_scope() as db:
            service.transfer(db, registry.actor("operator"), suite(registry), number, BANK_A, "股权转让")
            (lapsed,) = service.changes_of(db, registry.actor("operator"), number)
        assert (lapsed.id, lapsed.status) == (change_id, "lapsed")
        assert "凭证已转让" in lapsed.decision
        with pytest.raises(service.WrongState, match="已办结（已失效）"):
            decide(registry, change_id)


class TestLicence:
    def test_a_licence_is_listed_logged_and_ended_early(self, registry: Registry) -> None:
        number = registry.certificate()
        licence_id = grant(registry, number)
        with registry.platform.session_scope(read_only=True) as db:
            _cert, (licence,) = service.licences_of(db, number)
            assert service.licence_state(licence, TODAY) == "active"
            assert service.licence_state(licence, date(2027, 3, 2)) == "expired"
        leaf = events(registry, number)[-1]
        assert (leaf["event"], leaf["seq"], leaf["status"]) == ("licence", 2, "active")
        assert leaf["details"] == {
            "licence": licence_id,
            "licensee": BANK_B,
            "licensee_name": "深圳某商业银行",
            "right": "processing",
            "scope": "用于企业信用评估模型训练，不得向第三方提供",
            "valid_from": "2026-03-02",
            "valid_until": "2027-03-01",
        }
        with registry.platform.session_scope() as db, pytest.raises(InvalidInput, match="reason"):
            service.end_licence(db, registry.actor("holder"), suite(registry), licence_id, " ", today=TODAY)
        with registry.platform.session_scope() as db:
            ended = service.end_licence(
                db, registry.actor("holder"), suite(registry), licence_id, "被许可方违约", today=TODAY
            )
            assert service.licence_state(ended, TODAY) == "ended"
        assert events(registry, number)[-1]["event"] == "licence_end"
        with registry.platform.session_scope() as db, pytest.raises(service.WrongState, match="已终止"):
            service.end_licence(
                db, registry.actor("holder"), suite(registry), licence_id, "再次", today=TODAY
            )
        actions = audit_actions(registry)
        assert "registry.licence" in actions
        assert "registry.licence.end" in actions

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"right": "operating"}, "right", "凭证未登记数据产品经营权"),
            ({"licensee": "NOSUCHORG"}, "licensee", "被许可方 NOSUCHORG 不存在"),
            ({"licensee": HOLDER}, "licensee", "被许可方不能是持有方自己"),
            ({"valid_from": date(2026, 3, 1)}, "valid_from", "登记不能追溯"),
            ({"valid_until": date(2026, 3, 1)}, "valid_until", "早于起始日"),
            ({"valid_until": date(2029, 1, 1)}, "valid_until", "不能超过凭证有效期（至 2028-10-28）"),
        ],
    )
    def test_bad_licences_are_refused_naming_the_field(
        self, registry: Registry, overrides: dict[str, Any], field: str, message: str
    ) -> None:
        number = registry.certificate()
        with pytest.raises(InvalidInput, match=message) as refused:
            grant(registry, number, **overrides)
        assert refused.value.message.startswith(f"{field}：")
        assert refused.value.details == {"field": field}
        assert [e["event"] for e in events(registry, number)] == ["issue"]

    def test_holding_rights_let_the_holder_license_processing(self, registry: Registry) -> None:
        number = registry.certificate()  # rights: holding, processing
        with registry.platform.session_scope() as db:
            cert = service.certificate_events(db, number)[0]
            body = json.loads(cert.body)
            body["rights"] = ["holding"]
            cert.body = json.dumps(body)
        assert grant(registry, number) > 0

    def test_overlapping_licences_of_the_same_right_to_the_same_licensee_are_refused(
        self, registry: Registry
    ) -> None:
        number = registry.certificate()
        first = grant(registry, number)
        with pytest.raises(service.WrongState, match=f"期限重叠的数据加工使用权许可 #{first}"):
            grant(registry, number, valid_from=date(2026, 6, 1), valid_until=date(2027, 6, 1))
        assert grant(registry, number, valid_from=date(2027, 3, 2), valid_until=date(2027, 6, 1)) > first
        assert grant(registry, number, licensee=BANK_A) > first

    def test_not_while_pledged_nor_revoked(self, registry: Registry) -> None:
        number = registry.certificate()
        with registry.platform.session_scope() as db:
            service.pledge(db, registry.actor("bank_a"), suite(registry), number)
        with pytest.raises(service.WrongState, match="已质押，解除质押前不能授权许可"):
            grant(registry, number)
        with registry.platform.session_scope() as db:
            service.revoke(db, registry.actor("operator"), suite(registry), number, "材料造假")
        with pytest.raises(service.WrongState, match="已撤销"):
            grant(registry, number)

    def test_who_may_license_and_end(self, registry: Registry) -> None:
        number = registry.certificate()
        for outsider in ("bank_b", "operator"):
            with pytest.raises(AccessDenied):
                grant(registry, number, username=outsider)
        licence_id = grant(registry, number)
        with registry.platform.session_scope() as db, pytest.raises(AccessDenied):
            service.end_licence(
                db, registry.actor("bank_b"), suite(registry), licence_id, "不用了", today=TODAY
            )
        with registry.platform.session_scope() as db:
            service.end_licence(
                db, registry.actor("operator"), suite(registry), licence_id, "登记机构依法终止", today=TODAY
            )

    def test_a_revocation_ends_the_licences_and_says_so(self, registry: Registry) -> None:
        number = registry.certificate()
        first, second = grant(registry, number), grant(registry, number, licensee=BANK_A)
        with registry.platform.session_scope() as db:
            service.revoke(db, registry.actor("operator"), suite(registry), number, "材料造假")
            _cert, licences = service.licences_of(db, number)
        assert [service.licence_state(licence, TODAY) for licence in licences] == ["ended", "ended"]
        assert events(registry, number)[-1]["details"]["licences_ended"] == [first, second]
        outcome = bundle.verify(export(registry, number))
        assert outcome.ok, outcome.failed
        assert (outcome.status, outcome.licences) == ("revoked", [])


class TestBundle:
    def changed_and_licensed(self, registry: Registry) -> str:
        number = registry.certificate()
        registry.certificate()  # another certificate's events in the log between this one's
        decide(registry, change(registry, number, fingerprint=NEW_VERSION, records=2_000_000))
        grant(registry, number)
        return number

    def test_a_changed_and_licensed_certificate_verifies_offline(self, registry: Registry) -> None:
        number = self.changed_and_licensed(registry)
        data = export(registry, number)
        outcome = bundle.verify(json.loads(json.dumps(data)))
        assert outcome.ok, outcome.failed
        assert (outcome.status, outcome.events, outcome.last_event, outcome.version) == (
            "active",
            3,
            "licence",
            2,
        )
        assert "事件序号连续（1–3）" in outcome.checked
        (licence,) = outcome.licences
        assert (licence["licensee"], licence["right"], licence["valid_until"], licence["expired"]) == (
            BANK_B,
            "processing",
            "2027-03-01",
            False,
        )
        assert data["certificate"]["fingerprint"] == NEW_VERSION

    def test_a_bundle_exported_before_the_change_still_verifies_as_of_its_checkpoint(
        self, registry: Registry
    ) -> None:
        number = registry.certificate()
        held = export(registry, number)
        decide(registry, change(registry, number, records=5))
        outcome = bundle.verify(held)
        assert outcome.ok, outcome.failed
        assert (outcome.events, outcome.version) == (1, 1)
        with registry.platform.session_scope() as db:
            later = bundle.later_checkpoint(db, registry.platform.keyring, held["checkpoint"]["size"])
        assert bundle.verify(held, later).ok

    @pytest.mark.parametrize(
        ("tamper", "check"),
        [
            # the licence leaf: a longer term, another licensee
            (lambda b: _edit_leaf(b, "licence", "2027-03-01", "2028-03-01"), "事件 3 的包含证明"),
            (lambda b: _edit_leaf(b, "licence", BANK_B, BANK_A), "事件 3 的包含证明"),
            # leaving out an event in the middle (the change), or the last one (the licence) and the
            # change with it, or presenting the old body with the new events
            (lambda b: b["events"].pop(1), "事件序号"),
            (lambda b: b["events"].__delitem__(slice(1, None)), "与凭证不符"),
            (lambda b: b["certificate"].update(records=1), "凭证签名"),
        ],
    )
    def test_tampering_fails_naming_the_check(self, registry: Registry, tamper: Any, check: str) -> None:
        number = self.changed_and_licensed(registry)
        data = copy.deepcopy(export(registry, number))
        tamper(data)
        outcome = bundle.verify(data)
        assert not outcome.ok
        assert check in outcome.failed

    def test_a_body_that_no_event_registered_fails(self, registry: Registry) -> None:
        """The old, validly signed body with the new events: the change chain does not end at it."""
        number = registry.certificate()
        old = export(registry, number)
        decide(registry, change(registry, number, records=5))
        data = export(registry, number)
        data["certificate"], data["signature"] = old["certificate"], old["signature"]
        outcome = bundle.verify(data)
        assert not outcome.ok
        assert "事件 2 与凭证不符" in outcome.failed


def _edit_leaf(data: dict[str, Any], kind: str, old: str, new: str) -> None:
    for event in data["events"]:
        if json.loads(event["leaf"])["event"] == kind:
            assert old in event["leaf"]
            event["leaf"] = event["leaf"].replace(old, new)
