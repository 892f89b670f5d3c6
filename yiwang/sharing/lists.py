"""Data objections (数据异议), the demand list (需求清单) and the duty list (责任清单)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog
from yiwang.config import get_settings
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor, authorize
from yiwang.identity.models import Org
from yiwang.kit import audit, workdays
from yiwang.kit.db import utcnow
from yiwang.kit.errors import InvalidInput, NotFound
from yiwang.sharing import notices
from yiwang.sharing.errors import DemandNotFound, ObjectionNotFound, WrongState
from yiwang.sharing.models import Demand, Duty, Grant, Objection
from yiwang.sharing.schemas import DemandAnswerIn, DemandIn, DutyIn, ObjectionAnswerIn, ObjectionIn
from yiwang.sharing.service import consumer_org, org_of, side_filter


def answer_deadline(start: date) -> date:
    """An objection's due date: ``objection_answer_days`` working days after ``start``."""
    return workdays.deadline_or_estimate(start, get_settings().objection_answer_days)


# ------------------------------------------------------------------ objections

OUTCOME_ZH = {"corrected": "已更正", "rejected": "不予更正"}


def raise_objection(
    session: Session, actor: Actor, data: ObjectionIn, *, today: date | None = None
) -> Objection:
    """A consumer disputes records (by key) of a resource it holds a grant for."""
    today = today or workdays.beijing_today()
    consumer = consumer_org(session, actor)
    authorize(
        actor, "sharing.object", org_path=consumer.path, target_type="resource", target_id=data.resource
    )
    try:
        view = catalog.data_view(session, data.resource)
    except NotFound:
        raise InvalidInput(f"resource：资源 {data.resource} 不存在", details={"field": "resource"}) from None
    held = session.execute(
        select(Grant.id).where(Grant.resource_id == view.id, Grant.consumer_id == consumer.id).limit(1)
    ).first()
    if held is None:
        raise InvalidInput(
            f"resource：本部门没有资源 {view.code} 的授权，只能对获得共享的数据提出异议",
            details={"field": "resource"},
        )
    objection = Objection(
        resource_id=view.id,
        resource_code=view.code,
        provider_id=view.provider_id,
        consumer_id=consumer.id,
        raised_by=actor.username,
        record_keys=json.dumps(data.keys, ensure_ascii=False),
        description=data.description,
        status="open",
        deadline=answer_deadline(today),
    )
    session.add(objection)
    session.flush()
    audit.record(
        session,
        actor,
        "sharing.object",
        target_type="objection",
        target_id=objection.id,
        details={"resource": view.code, "records": len(data.keys)},
    )
    notices.notify(
        session,
        view.provider_id,
        ("staff", "cdo"),
        "objection.new",
        f"{consumer.name} 对「{view.name}」的 {len(data.keys)} 条记录提出异议，"
        f"请在 {objection.deadline} 前答复",
        f"/sharing/objections/{objection.id}",
    )
    return objection


def answer_objection(session: Session, actor: Actor, objection_id: int, data: ObjectionAnswerIn) -> Objection:
    """The provider answers: corrected (linked to the data load that fixed it) or rejected with reasons."""
    objection = session.get(Objection, objection_id)
    if objection is None:
        raise ObjectionNotFound(f"数据异议 #{objection_id} 不存在")
    provider = org_of(session, objection.provider_id)
    authorize(
        actor,
        "sharing.answer_objection",
        org_path=provider.path,
        target_type="objection",
        target_id=objection.id,
    )
    if objection.status != "open":
        raise WrongState(f"数据异议 #{objection.id} 已答复")
    if data.outcome == "corrected" and data.load is None:
        raise InvalidInput("load：已更正的异议须关联更正数据的装载记录", details={"field": "load"})
    objection.status, objection.answer, objection.load_id = data.outcome, data.answer, data.load
    objection.answered_by, objection.answered_at = actor.username, utcnow()
    audit.record(
        session,
        actor,
        "sharing.answer_objection",
        target_type="objection",
        target_id=objection.id,
        details={"outcome": data.outcome, "load": data.load},
    )
    notices.notify(
        session,
        objection.consumer_id,
        ("staff", "cdo"),
        "objection.answered",
        f"数据异议 #{objection.id}（{objection.resource_code}）已答复：{OUTCOME_ZH[data.outcome]}",
        f"/sharing/objections/{objection.id}",
    )
    session.flush()
    return objection


def objection_shape(o: Objection, codes: dict[int, str], today: date | None = None) -> dict[str, Any]:
    today = today or workdays.beijing_today()
    return {
        "id": o.id,
        "resource": o.resource_code,
        "provider": codes.get(o.provider_id, ""),
        "consumer": codes.get(o.consumer_id, ""),
        "raised_by": o.raised_by,
        "keys": json.loads(o.record_keys),
        "description": o.description,
        "status": o.status,
        "deadline": o.deadline,
        "overdue": o.status == "open" and today > o.deadline,
        "answer": o.answer,
        "load": o.load_id,
        "answered_at": o.answered_at,
        "created_at": o.created_at,
    }


def get_objection(session: Session, actor: Actor, objection_id: int) -> Objection:
    """One objection, to either side (or oversight); unknown to everyone else."""
    objection = session.get(Objection, objection_id)
    if objection is None:
        raise ObjectionNotFound(f"数据异议 #{objection_id} 不存在")
    reach_ids = identity.orgs_in_reach(actor, "sharing.view")
    if reach_ids is not None:
        sides = [objection.provider_id, objection.consumer_id]
        if session.execute(reach_ids.where(Org.id.in_(sides))).first() is None:
            raise ObjectionNotFound(f"数据异议 #{objection_id} 不存在")
    return objection


def list_objections(
    session: Session,
    actor: Actor,
    *,
    role: str | None = None,
    status: str | None = None,
    resource: str | None = None,
) -> list[Objection]:
    query = side_filter(select(Objection), actor, "sharing.view", role, Objection)
    if status:
        query = query.where(Objection.status == status)
    if resource:
        query = query.where(Objection.resource_code == resource)
    return list(session.execute(query.order_by(Objection.id.desc()).limit(500)).scalars())


def objection_counts(session: Session, resource_ids: list[int]) -> dict[int, Counter[str]]:
    """Objections per resource and status (the quality score uses them)."""
    counts: dict[int, Counter[str]] = {}
    if not resource_ids:
        return counts
    rows = session.execute(
        select(Objection.resource_id, Objection.status, func.count())
        .where(Objection.resource_id.in_(resource_ids))
        .group_by(Objection.resource_id, Objection.status)
    )
    for rid, status, n in rows:
        counts.setdefault(rid, Counter())[status] += n
    return counts


# ------------------------------------------------------------------ demands


def post_demand(session: Session, actor: Actor, data: DemandIn) -> Demand:
    """A department states data it needs (optionally addressed to a provider department)."""
    org = consumer_org(session, actor)
    authorize(actor, "sharing.demand", org_path=org.path, target_type="demand")
    provider_id = None
    if data.provider:
        provider = identity.org_by_code(session, data.provider)
        if provider is None or provider.kind != "department":
            raise InvalidInput(f"provider：部门 {data.provider} 不存在", details={"field": "provider"})
        provider_id = provider.id
    demand = Demand(
        org_id=org.id,
        provider_id=provider_id,
        title=data.title,
        items=json.dumps(data.items, ensure_ascii=False),
        purpose=data.purpose,
        status="open",
        posted_by=actor.username,
    )
    session.add(demand)
    session.flush()
    audit.record(
        session,
        actor,
        "sharing.demand",
        target_type="demand",
        target_id=demand.id,
        details={"title": data.title},
    )
    if provider_id is not None:
        notices.notify(
            session,
            provider_id,
            ("staff", "cdo"),
            "demand.new",
            f"{org.name} 提出数据需求「{data.title}」",
            "/sharing/demands",
        )
    return demand


def answer_demand(session: Session, actor: Actor, demand_id: int, data: DemandAnswerIn) -> Demand:
    """A provider answers with a published resource, or declines with a reason."""
    demand = session.get(Demand, demand_id)
    if demand is None:
        raise DemandNotFound(f"数据需求 #{demand_id} 不存在")
    # May this actor answer at all (for the addressed department, or any, the operator)?
    target = org_of(session, demand.provider_id) if demand.provider_id else None
    authorize(
        actor,
        "sharing.answer_demand",
        org_path=target.path if target is not None else None,
        target_type="demand",
        target_id=demand.id,
    )
    if demand.status != "open":
        raise WrongState(f"数据需求 #{demand.id} 已答复")
    if data.resource:
        try:
            view = catalog.data_view(session, data.resource)
        except NotFound:
            raise InvalidInput(
                f"resource：资源 {data.resource} 不存在", details={"field": "resource"}
            ) from None
        if view.status != "published":
            raise InvalidInput(f"resource：资源 {view.code} 未发布", details={"field": "resource"})
        authorize(
            actor,
            "sharing.answer_demand",
            org_path=view.provider_path,
            target_type="demand",
            target_id=demand.id,
        )
        demand.status, demand.resource_code = "answered", view.code
    else:
        if not data.reason:
            raise InvalidInput("reason：不能满足需求时须说明理由", details={"field": "reason"})
        demand.status = "declined"
    demand.answer, demand.answered_by, demand.answered_at = data.reason, actor.username, utcnow()
    audit.record(
        session,
        actor,
        "sharing.answer_demand",
        target_type="demand",
        target_id=demand.id,
        details={"status": demand.status, "resource": demand.resource_code},
    )
    notices.notify(
        session,
        demand.org_id,
        ("staff", "cdo"),
        "demand.answered",
        f"数据需求「{demand.title}」已答复",
        "/sharing/demands",
    )
    session.flush()
    return demand


def list_demands(session: Session, actor: Actor, *, status: str | None = None) -> list[Demand]:
    """Every department's demands are visible to all staff: needs are shared to be met."""
    authorize(actor, "sharing.view")
    query = select(Demand)
    if status:
        query = query.where(Demand.status == status)
    return list(session.execute(query.order_by(Demand.id.desc()).limit(500)).scalars())


def demand_shape(d: Demand, codes: dict[int, str]) -> dict[str, Any]:
    return {
        "id": d.id,
        "org": codes.get(d.org_id, ""),
        "provider": codes.get(d.provider_id, "") if d.provider_id else None,
        "title": d.title,
        "items": json.loads(d.items),
        "purpose": d.purpose,
        "status": d.status,
        "resource": d.resource_code or None,
        "answer": d.answer,
        "posted_by": d.posted_by,
        "created_at": d.created_at,
        "answered_at": d.answered_at,
    }


# ------------------------------------------------------------------ duties


def assign_duty(session: Session, actor: Actor, data: DutyIn) -> Duty:
    """Put a published resource on its provider department's duty list."""
    org = identity.org_by_code(session, data.org)
    if org is None or org.kind != "department":
        raise InvalidInput(f"org：部门 {data.org} 不存在", details={"field": "org"})
    authorize(actor, "sharing.assign_duty", org_path=org.path, target_type="duty", target_id=data.resource)
    try:
        view = catalog.data_view(session, data.resource)
    except NotFound:
        raise InvalidInput(f"resource：资源 {data.resource} 不存在", details={"field": "resource"}) from None
    if view.provider_id != org.id:
        raise InvalidInput(f"resource：资源 {view.code} 不由 {org.name} 提供", details={"field": "resource"})
    existing = session.execute(
        select(Duty).where(Duty.org_id == org.id, Duty.resource_id == view.id)
    ).scalar()
    if existing is not None:
        raise WrongState(f"资源 {view.code} 已在 {org.name} 的责任清单中")
    duty = Duty(
        org_id=org.id,
        resource_id=view.id,
        resource_code=view.code,
        note=data.note,
        assigned_by=actor.username,
    )
    session.add(duty)
    session.flush()
    audit.record(
        session,
        actor,
        "sharing.assign_duty",
        target_type="duty",
        target_id=duty.id,
        details={"resource": view.code},
    )
    return duty


def duty_list(session: Session, actor: Actor, org_code: str) -> list[dict[str, Any]]:
    """A department's duties with each resource's status: published and current, overdue, or missing."""
    org = identity.org_by_code(session, org_code)
    if org is None:
        raise NotFound(f"部门 {org_code} 不存在")
    authorize(actor, "sharing.view", org_path=org.path, target_type="duty", target_id=org_code)
    duties = list(session.execute(select(Duty).where(Duty.org_id == org.id).order_by(Duty.id)).scalars())
    states = catalog.freshness(session, [d.resource_code for d in duties])
    return [
        {
            "id": d.id,
            "resource": d.resource_code,
            "note": d.note,
            "status": states.get(d.resource_code, "missing"),
        }
        for d in duties
    ]
