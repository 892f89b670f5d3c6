"""Data asset registration: the process, certificates and their events, pledges, offline bundles."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from datetime import date
from typing import Any

import pytest

from tests.conftest import PASSWORD, Province
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor
from yiwang.kit.merkle import MemoryTree, sign_checkpoint
from yiwang.kit.validators import make_uscc_from
from yiwang.registry import bundle, service
from yiwang.registry.schemas import ApplicationIn, DecisionIn, ObjectionIn, ReportIn
from yiwang.runtime import Platform

HOLDER = make_uscc_from("9", "1", "440100", "MA5D12345")
BANK_A = make_uscc_from("9", "1", "440100", "MA5D23456")
BANK_B = make_uscc_from("9", "1", "440300", "MA5D34567")
ASSESSOR = make_uscc_from("9", "1", "440100", "MA5D45678")


class Registry:
    """The province plus an enterprise holder, an assessor firm and two banks, with their people."""

    def __init__(self, platform: Platform, province: Province) -> None:
        self.platform, self.province = platform, province
        with platform.session_scope() as db:
            system = Actor.system()
            for code, name, parent in [
                (HOLDER, "广州电力数据科技有限公司", "440100"),
                (BANK_A, "广州某商业银行", "440100"),
                (BANK_B, "深圳某商业银行", "440300"),
                (ASSESSOR, "广州数据合规评估有限公司", "440100"),
            ]:
                identity.create_org(db, system, code=code, name=name, parent=parent, kind="enterprise")
            for username, org, role in [
                ("holder", HOLDER, "enterprise"),
                ("bank_a", BANK_A, "bank"),
                ("bank_b", BANK_B, "bank"),
                ("assessor", ASSESSOR, "assessor"),
            ]:
                identity.create_user(
                    db, system, username=username, org_code=org, roles=[role], password=PASSWORD
                )

    def actor(self, username: str) -> Actor:
        return self.province.actor(username)

    def certificate(self, today: date = date(2025, 9, 29)) -> str:
        """Walk one application all the way to its certificate; returns the number."""
        p = self.platform
        with p.session_scope() as db:
            app = service.submit_application(db, self.actor("holder"), application(), today=today)
            service.accept_application(db, self.actor("operator"), app.id, DecisionIn(approve=True))
            service.attach_report(
                db, self.actor("assessor"), app.id, ReportIn(opinion="pass", report="来源合法")
            )
            service.decide_compliance(
                db, self.actor("operator"), app.id, DecisionIn(approve=True), today=today
            )
            assert app.notice_end is not None
            issued = service.issue_due(
                db, self.actor("operator"), p.keyring, today=app.notice_end.replace(day=28)
            )
            return issued[0].number


def application(**overrides: Any) -> ApplicationIn:
    data: dict[str, Any] = {
        "name": "工商业用户用电数据集",
        "kind": "data_resource",
        "description": "2020年以来广州市工商业用户的月度用电量（脱敏）",
        "rights": ["holding", "processing"],
        "source": "自有电力营销系统",
        "collection_method": "系统自动采集",
        "records": 1_200_000,
        "size_bytes": 3_000_000_000,  # past a 32-bit integer: datasets are big
        "scenarios": ["企业信用评估", "能耗分析"],
        "fingerprint": hashlib.sha256(b"dataset v1").hexdigest(),
    }
    data.update(overrides)
    return ApplicationIn(**data)


@pytest.fixture
def registry(platform: Platform, province: Province) -> Registry:
    return Registry(platform, province)


class TestProcess:
    def test_notice_counts_working_days_across_national_day(self, registry: Registry) -> None:
        with registry.platform.session_scope() as db:
            app = service.submit_application(
                db, registry.actor("holder"), application(), today=date(2025, 9, 29)
            )
            service.accept_application(db, registry.actor("operator"), app.id, DecisionIn(approve=True))
            with pytest.raises(AccessDenied):
                service.attach_report(
                    db, registry.actor("holder"), app.id, ReportIn(opinion="pass", report="x")
                )
            service.attach_report(
                db, registry.actor("assessor"), app.id, ReportIn(opinion="pass", report="合规")
            )
            service.decide_compliance(
                db, registry.actor("operator"), app.id, DecisionIn(approve=True), today=date(2025, 9, 29)
            )
            assert app.notice_end == date(2025, 10, 20)  # 1-8 Oct off, Saturday 11 Oct a working day

    def test_an_objection_pauses_the_notice_and_dismissal_resumes_it(self, registry: Registry) -> None:
        with registry.platform.session_scope() as db:
            app = service.submit_application(
                db, registry.actor("holder"), application(), today=date(2025, 9, 29)
            )
            service.accept_application(db, registry.actor("operator"), app.id, DecisionIn(approve=True))
            service.attach_report(
                db, registry.actor("assessor"), app.id, ReportIn(opinion="pass", report="合规")
            )
            service.decide_compliance(
                db, registry.actor("operator"), app.id, DecisionIn(approve=True), today=date(2025, 9, 29)
            )
            objection = service.lodge_objection(
                db,
                None,
                app.id,
                ObjectionIn(grounds="该数据含我司提供的数据", name="某公司"),
                today=date(2025, 10, 9),
            )
            assert app.status == "paused"
            # While paused, nothing is issued even long after the original end.
            assert (
                service.issue_due(
                    db, registry.actor("operator"), registry.platform.keyring, today=date(2025, 11, 3)
                )
                == []
            )
            service.decide_objection(
                db,
                registry.actor("operator"),
                objection.id,
                uphold=False,
                reason="异议人未提供证据",
                today=date(2025, 10, 20),
            )
            # Paused on 9 Oct with 8 working days left (10 Oct, Saturday 11 Oct, 13-17 Oct, 20 Oct);
            # resumed on 20 Oct, those 8 run 21-24 and 27-30 Oct.
            assert app.status == "notice"
            assert app.notice_end == date(2025, 10, 30)

    def test_an_upheld_objection_refuses_the_application(self, registry: Registry) -> None:
        with registry.platform.session_scope() as db:
            app = service.submit_application(db, registry.actor("holder"), application())
            service.accept_application(db, registry.actor("operator"), app.id, DecisionIn(approve=True))
            service.attach_report(
                db, registry.actor("assessor"), app.id, ReportIn(opinion="pass", report="合规")
            )
            service.decide_compliance(db, registry.actor("operator"), app.id, DecisionIn(approve=True))
            objection = service.lodge_objection(
                db, registry.actor("bank_a"), app.id, ObjectionIn(grounds="权属争议")
            )
            service.decide_objection(
                db, registry.actor("operator"), objection.id, uphold=True, reason="权属存在争议"
            )
            assert app.status == "refused"


class TestCertificates:
    def test_acceptance_overdue_after_five_working_days(self, registry: Registry) -> None:
        with registry.platform.session_scope() as db:
            app = service.submit_application(
                db, registry.actor("holder"), application(), today=date(2025, 9, 29)
            )
            assert app.accept_by == date(2025, 10, 13)  # 30 Sep, 9, 10, 11 (Saturday make-up), 13 Oct
            assert not service.acceptance_overdue(app, date(2025, 10, 13))
            assert service.acceptance_overdue(app, date(2025, 10, 14))

    def test_number_status_and_events(self, registry: Registry) -> None:
        number = registry.certificate()
        assert number == "GD-DA-2025-000001"
        with registry.platform.session_scope(read_only=True) as db:
            assert service.standing(db, number) == service.Standing(number, "active", HOLDER, True)
        with registry.platform.session_scope(read_only=True) as db:
            listed = service.list_certificates(db)
        assert [(c.number, c.status, c.holder) for c in listed] == [(number, "active", HOLDER)]

    def test_a_pledged_certificate_cannot_be_transferred_or_cancelled(self, registry: Registry) -> None:
        number = registry.certificate()
        suite = registry.platform.keyring.suite_name
        with registry.platform.session_scope() as db:
            service.pledge(db, registry.actor("bank_a"), suite, number)
        with registry.platform.session_scope() as db, pytest.raises(service.WrongState, match="已质押"):
            service.transfer(db, registry.actor("operator"), suite, number, BANK_B, "转让")
        with registry.platform.session_scope() as db, pytest.raises(service.WrongState, match="已质押"):
            service.cancel(db, registry.actor("operator"), suite, number, "注销")
        with registry.platform.session_scope() as db, pytest.raises(service.WrongState):
            service.release(db, registry.actor("bank_b"), suite, number)
        with registry.platform.session_scope() as db:
            assert service.release(db, registry.actor("bank_a"), suite, number).status == "active"
            assert (
                service.transfer(db, registry.actor("operator"), suite, number, BANK_B, "转让").status
                == "active"
            )

    def test_two_banks_pledging_at_once_exactly_one_wins(self, registry: Registry) -> None:
        number = registry.certificate()
        suite = registry.platform.keyring.suite_name
        outcomes: list[str] = []
        start = threading.Barrier(2)

        def attempt(bank: str) -> None:
            start.wait()
            try:
                with registry.platform.session_scope() as db:
                    service.pledge(db, registry.actor(bank), suite, number)
                outcomes.append("won")
            except service.WrongState:
                outcomes.append("refused")

        threads = [threading.Thread(target=attempt, args=(b,)) for b in ("bank_a", "bank_b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["refused", "won"]


class TestBundle:
    def export(self, registry: Registry, number: str) -> dict[str, Any]:
        with registry.platform.session_scope() as db:
            return bundle.export(db, registry.platform.keyring, number)

    def test_valid_bundle_verifies_offline_with_its_status(self, registry: Registry) -> None:
        number = registry.certificate()
        with registry.platform.session_scope() as db:
            service.pledge(db, registry.actor("bank_a"), registry.platform.keyring.suite_name, number)
        outcome = bundle.verify(self.export(registry, number))
        assert outcome.ok, outcome.failed
        assert outcome.status == "pledged"

    @pytest.mark.parametrize(
        ("tamper", "check"),
        [
            (lambda b: b["certificate"].update(name="另一个数据集"), "凭证签名"),
            (lambda b: b["signature"].update(value="AAAA" + b["signature"]["value"][4:]), "凭证签名"),
            (lambda b: b["checkpoint"].update(root="00" + b["checkpoint"]["root"][2:]), "检查点签名"),
            (lambda b: b["events"][0]["inclusion"].__setitem__(0, "00" * 32), "包含证明"),
            (
                lambda b: b["events"][0].update(leaf=b["events"][0]["leaf"].replace("issue", "issued")),
                "包含证明",
            ),
        ],
    )
    def test_any_changed_byte_fails_naming_the_check(
        self, registry: Registry, tamper: Any, check: str
    ) -> None:
        number = registry.certificate()
        registry.certificate()  # a second certificate, so the proofs are not empty
        data = copy.deepcopy(self.export(registry, number))
        tamper(data)
        outcome = bundle.verify(data)
        assert not outcome.ok
        assert check in outcome.failed

    def test_a_rewritten_log_fails_consistency_with_an_earlier_checkpoint(self, registry: Registry) -> None:
        number = registry.certificate()
        registry.certificate()
        held = self.export(registry, number)
        keyring = registry.platform.keyring
        with registry.platform.session_scope() as db:
            leaves = [e.leaf.encode() for e in service.certificate_events(db, number)[1]]
            honest = bundle.later_checkpoint(db, keyring, held["checkpoint"]["size"])
        assert bundle.verify(held, honest).ok
        # The registry rebuilds its tree with one leaf replaced, then signs with its own key.
        size = held["checkpoint"]["size"]
        forged = MemoryTree(
            keyring.suite_name, [b"forged leaf"] + [b"x%d" % i for i in range(1, size)] + leaves
        )
        checkpoint = sign_checkpoint(keyring, "registry", keyring.suite_name, len(forged), forged.root())
        later = {
            "checkpoint": checkpoint.to_dict(),
            "consistency": {
                "from": size,
                "proof": [p.hex() for p in forged.consistency_proof(size, len(forged))],
            },
        }
        outcome = bundle.verify(held, later)
        assert not outcome.ok
        assert "一致性" in outcome.failed

    def test_garbage_is_a_clear_failure(self) -> None:
        assert not bundle.verify({"format": "nonsense"}).ok
        assert "格式" in bundle.verify(json.loads('{"format": "yiwang-certificate-bundle/1"}')).failed
