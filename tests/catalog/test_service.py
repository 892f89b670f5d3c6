"""Catalog lifecycle, versions, import/export and who may do what — through the service verbs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from yiwang.catalog import service
from yiwang.catalog.errors import ImportRejected, WrongState
from yiwang.catalog.models import Resource
from yiwang.catalog.schemas import ResourceIn
from yiwang.identity.authz import AccessDenied, Actor
from yiwang.kit.audit import AuditEntry
from yiwang.kit.errors import InvalidInput
from yiwang.runtime import Platform


def create(platform: Platform, actor: Actor, **overrides: Any) -> str:
    with platform.session_scope() as db:
        return service.create_resource(db, actor, ResourceIn.model_validate(resource_data(**overrides))).code


def act(platform: Platform, verb: Any, *args: Any, **kwargs: Any) -> Resource:
    with platform.session_scope() as db:
        return verb(db, *args, **kwargs)  # type: ignore[no-any-return]


class TestLifecycle:
    def test_draft_submit_publish_and_versioned_change(self, platform: Platform, province: Province) -> None:
        staff, cdo = province.actor("gz_staff"), province.actor("gz_cdo")
        code = create(platform, staff)
        assert code == "JC-440100-amr-00001"
        act(platform, service.submit_resource, staff, code)
        published = act(platform, service.review_resource, cdo, code, approve=True)
        assert (published.status, published.version) == ("published", 1)

        changed = ResourceIn.model_validate(resource_data(summary="新的摘要", update_cycle="weekly"))
        proposal = act(platform, service.update_resource, staff, code, changed)
        assert proposal.pending_status == "draft"
        with platform.session_scope(read_only=True) as db:
            assert service.get_resource(db, staff, code).summary != "新的摘要"  # unreviewed, not shown
        act(platform, service.submit_resource, staff, code)
        act(platform, service.review_resource, cdo, code, approve=True)
        with platform.session_scope(read_only=True) as db:
            resource = service.get_resource(db, staff, code)
            assert (resource.version, resource.summary, resource.update_cycle) == (2, "新的摘要", "weekly")
            from yiwang.catalog import repository

            diff = repository.versions(db, resource.id)[0].diff
        assert "summary" in diff
        assert "update_cycle" in diff

    def test_reject_needs_a_reason_and_returns_to_editing(
        self, platform: Platform, province: Province
    ) -> None:
        staff, cdo = province.actor("gz_staff"), province.actor("gz_cdo")
        code = create(platform, staff)
        act(platform, service.submit_resource, staff, code)
        with pytest.raises(InvalidInput, match="理由"):
            act(platform, service.review_resource, cdo, code, approve=False, reason=" ")
        rejected = act(platform, service.review_resource, cdo, code, approve=False, reason="摘要不完整")
        assert (rejected.status, rejected.status_reason) == ("rejected", "摘要不完整")
        again = act(
            platform, service.update_resource, staff, code, ResourceIn.model_validate(resource_data())
        )
        assert again.status == "draft"

    def test_revoke_only_published(self, platform: Platform, province: Province) -> None:
        staff, cdo = province.actor("gz_staff"), province.actor("gz_cdo")
        code = create(platform, staff)
        with pytest.raises(WrongState):
            act(platform, service.revoke_resource, cdo, code, reason="x")
        act(platform, service.submit_resource, staff, code)
        act(platform, service.review_resource, cdo, code, approve=True)
        revoked = act(platform, service.revoke_resource, cdo, code, reason="数据已停止更新")
        assert revoked.status == "revoked"

    def test_every_act_is_audited(self, platform: Platform, province: Province) -> None:
        staff, cdo = province.actor("gz_staff"), province.actor("gz_cdo")
        code = create(platform, staff)
        act(platform, service.submit_resource, staff, code)
        act(platform, service.review_resource, cdo, code, approve=True)
        with platform.session_scope(read_only=True) as db:
            actions = (
                db.execute(
                    select(AuditEntry.action).where(AuditEntry.target_id == code).order_by(AuditEntry.seq)
                )
                .scalars()
                .all()
            )
        assert actions == ["catalog.create", "catalog.submit", "catalog.publish"]


class TestWhoMay:
    def test_staff_of_one_department_cannot_edit_anothers(
        self, platform: Platform, province: Province
    ) -> None:
        code = create(platform, province.actor("gz_staff"))
        with pytest.raises(AccessDenied):
            act(platform, service.submit_resource, province.actor("sz_staff"), code)
        with pytest.raises(AccessDenied):
            create(platform, province.actor("sz_staff"))  # provider 440100-amr is not theirs

    def test_staff_cannot_review_and_another_citys_cdo_cannot_either(
        self, platform: Platform, province: Province
    ) -> None:
        staff = province.actor("gz_staff")
        code = create(platform, staff)
        act(platform, service.submit_resource, staff, code)
        for who in ("gz_staff", "sz_cdo", "auditor"):
            with pytest.raises(AccessDenied):
                act(platform, service.review_resource, province.actor(who), code, approve=True)

    def test_drafts_are_invisible_outside_the_provider(self, platform: Platform, province: Province) -> None:
        code = create(platform, province.actor("gz_staff"))
        with platform.session_scope(read_only=True) as db:
            assert service.get_resource(db, province.actor("gz_cdo"), code).code == code
            with pytest.raises(Exception, match="不存在"):
                service.get_resource(db, province.actor("sz_staff"), code)


def many(count: int) -> list[dict[str, Any]]:
    return [resource_data(name=f"资源{i:03d} 养老保险参保信息", code=f"T-{i:03d}") for i in range(count)]


class TestImport:
    def test_one_bad_entry_imports_nothing_and_is_named(self, platform: Platform, province: Province) -> None:
        entries = many(150)
        entries[87]["share_type"] = "sometimes"
        with pytest.raises(ImportRejected) as caught, platform.session_scope() as db:
            service.import_resources(db, Actor.system(), entries)
        problems = caught.value.details
        assert [(p["index"], p["field"]) for p in problems] == [(87, "share_type")]
        assert "87" in caught.value.message
        with platform.session_scope(read_only=True) as db:
            assert db.execute(select(func.count()).select_from(Resource)).scalar_one() == 0

        entries[87]["share_type"] = "unconditional"
        with platform.session_scope() as db:
            created = service.import_resources(db, Actor.system(), entries, publish=True)
        assert len(created) == 150
        with platform.session_scope(read_only=True) as db:
            assert len(service.export_resources(db, Actor.system())) == 150

    def test_every_bad_entry_is_listed(self, platform: Platform, province: Province) -> None:
        entries = many(5)
        entries[0]["provider"] = "nowhere"
        entries[2] = {**entries[2], "share_type": "conditional", "share_condition": ""}
        entries[4]["code"] = entries[3]["code"]
        with pytest.raises(ImportRejected) as caught, platform.session_scope() as db:
            service.import_resources(db, Actor.system(), entries)
        assert sorted({p["index"] for p in caught.value.details}) == [0, 2, 4]
        assert all(p["reason"] for p in caught.value.details)

    def test_export_round_trips_into_import(self, platform: Platform, province: Province) -> None:
        with platform.session_scope() as db:
            service.import_resources(db, Actor.system(), many(3), publish=True)
        with platform.session_scope(read_only=True) as db:
            exported = service.export_resources(db, Actor.system())
        assert exported[0]["fields"][0]["name"] == "uscc"
        for item in exported:
            item["code"] = "R" + item["code"]
        with platform.session_scope() as db:
            assert len(service.import_resources(db, Actor.system(), exported)) == 3


class TestShape:
    def test_conditional_needs_condition_and_none_needs_basis(self) -> None:
        with pytest.raises(ValueError, match="共享条件"):
            ResourceIn.model_validate(resource_data(share_condition=""))
        with pytest.raises(ValueError, match="法律依据"):
            ResourceIn.model_validate(resource_data(share_type="none"))
        assert ResourceIn.model_validate(
            resource_data(share_type="none", share_basis="《个人信息保护法》第十三条")
        )
