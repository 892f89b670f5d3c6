"""Sharing rules: requests with statutory deadlines, decisions, grants, revocation, renewals.

Verbs take ``(session, actor, ...)``, check the authorization table, write an audit
entry and flush; the entrypoint commits. Deadlines count working days (工作日) in
Beijing time with the platform's calendar.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog
from yiwang.config import get_settings
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, Scope, authorize, register_actions
from yiwang.identity.models import Org
from yiwang.kit import audit, workdays
from yiwang.kit.db import utcnow
from yiwang.kit.errors import InvalidInput, NotFound
from yiwang.sharing import notices
from yiwang.sharing.errors import Duplicate, GrantNotFound, RequestNotFound, WrongState
from yiwang.sharing.models import Grant, SharingRequest
from yiwang.sharing.schemas import DecisionIn, RequestIn

DEPARTMENT: dict[str, Scope] = {"staff": "own_org", "cdo": "subtree"}
OVERSIGHT: dict[str, Scope] = {"admin": "all", "operator": "all", "auditor": "all"}

register_actions(
    {
        # ask for a published resource on behalf of one's own department
        "sharing.request": {"staff": "own_org", "cdo": "own_org"},
        # see requests and grants of one's departments (either side)
        "sharing.view": {**DEPARTMENT, **OVERSIGHT},
        # approve or refuse a request to one's department's resource (the operator: when coordinating)
        "sharing.decide": {**DEPARTMENT, "admin": "all", "operator": "all"},
        # let a grant serve personal information unmasked (the provider CDO's explicit approval)
        "sharing.clear": {"cdo": "subtree", "admin": "all"},
        # revoke a grant at once (the provider, its CDO, the operator)
        "sharing.revoke": {**DEPARTMENT, "admin": "all", "operator": "all"},
        # withdraw one's department's pending request, or ask the operator to coordinate
        "sharing.withdraw": DEPARTMENT,
        "sharing.escalate": DEPARTMENT,
        # read the gateway's access log (provider side, consumer side, or all)
        "sharing.access_log": {**DEPARTMENT, **OVERSIGHT},
        # call the gateway with a system token of one's department
        "gateway.call": {"staff": "own_org", "cdo": "own_org"},
        # raise a data objection as a consumer; answer one as the provider
        "sharing.object": DEPARTMENT,
        "sharing.answer_objection": {**DEPARTMENT, "admin": "all", "operator": "all"},
        # post a demand; answer a demand addressed to one's department (or any, the operator)
        "sharing.demand": DEPARTMENT,
        "sharing.answer_demand": {**DEPARTMENT, "admin": "all", "operator": "all"},
        # put a resource on a department's duty list
        "sharing.assign_duty": {"cdo": "subtree", "admin": "all", "operator": "all"},
        # the console of pending work, calls and quality
        "sharing.console": {"cdo": "subtree", "admin": "all", "operator": "all", "auditor": "all"},
    }
)

MAX_VALIDITY_DAYS = 3 * 366


# ------------------------------------------------------------------ shapes


def _json_list(text: str) -> list[str]:
    return list(json.loads(text or "[]"))


def grant_status(grant: Grant, today: date | None = None) -> str:
    """active | expired | revoked (expiry is a matter of the date, not a stored state)."""
    if grant.status == "revoked":
        return "revoked"
    if grant.valid_until < (today or workdays.beijing_today()):
        return "expired"
    return "active"


@dataclass(frozen=True)
class GrantStanding:
    """What another network (the exchange's authorised operation of public data) needs to
    know of a grant before relying on it."""

    id: int
    status: str  # active | expired | revoked
    consumer: str
    resource: str
    purpose: str
    valid_until: date


def grant_standings(
    session: Session, ids: Sequence[int], today: date | None = None
) -> dict[int, GrantStanding]:
    """The standing of each known grant among ``ids`` (unknown ids are left out)."""
    if not ids:
        return {}
    grants = list(session.execute(select(Grant).where(Grant.id.in_(list(ids)))).scalars())
    codes = org_codes(session, grants)
    return {
        g.id: GrantStanding(
            g.id, grant_status(g, today), codes[g.consumer_id], g.resource_code, g.purpose, g.valid_until
        )
        for g in grants
    }


def is_overdue(req: SharingRequest, today: date | None = None) -> bool:
    return (
        req.status == "pending"
        and req.deadline is not None
        and (today or workdays.beijing_today()) > req.deadline
    )


def request_shape(req: SharingRequest, codes: Mapping[int, str], today: date | None = None) -> dict[str, Any]:
    return {
        "id": req.id,
        "status": req.status,
        "grant": req.grant_id,
        "deadline": req.deadline,
        "resource": req.resource_code,
        "resource_name": req.resource_name,
        "provider": codes.get(req.provider_id, ""),
        "consumer": codes.get(req.consumer_id, ""),
        "requester": req.requester,
        "fields": _json_list(req.fields),
        "purpose": req.purpose,
        "scenario": req.scenario,
        "basis": req.basis,
        "valid_until": req.valid_until,
        "system": req.system,
        "reason": req.reason,
        "overdue": is_overdue(req, today),
        "escalated": req.escalated_at is not None,
        "renews": req.renewal_of,
        "created_at": req.created_at,
        "decided_at": req.decided_at,
    }


def grant_shape(grant: Grant, codes: Mapping[int, str], today: date | None = None) -> dict[str, Any]:
    return {
        "id": grant.id,
        "request": grant.request_id,
        "resource": grant.resource_code,
        "resource_name": grant.resource_name,
        "provider": codes.get(grant.provider_id, ""),
        "consumer": codes.get(grant.consumer_id, ""),
        "system": grant.system,
        "fields": _json_list(grant.fields),
        "clear_fields": _json_list(grant.clear_fields),
        "row_scope": json.loads(grant.row_scope or "{}"),
        "purpose": grant.purpose,
        "valid_until": grant.valid_until,
        "daily_quota": grant.daily_quota,
        "rate_limit": grant.rate_limit,
        "status": grant_status(grant, today),
        "revoke_reason": grant.revoke_reason,
        "created_at": grant.created_at,
    }


def org_codes(session: Session, items: Sequence[Any]) -> dict[int, str]:
    """Org codes of both sides (``provider_id``, ``consumer_id``) of every item, in one query."""
    ids = {i.provider_id for i in items} | {i.consumer_id for i in items}
    return {org_id: org.code for org_id, org in identity.orgs_by_ids(session, ids).items()}


# ------------------------------------------------------------------ helpers


def org_of(session: Session, org_id: int) -> Org:
    """The org with this id (both sides of requests, grants and objections point at orgs)."""
    return identity.orgs_by_ids(session, {org_id})[org_id]


def consumer_org(session: Session, actor: Actor) -> Org:
    """The actor's department, which asks and consumes; a 422 when the actor belongs to none."""
    org = identity.org_by_code(session, actor.org_code)
    if org is None or org.kind != "department":
        raise InvalidInput(
            "只有部门的工作人员可以提出共享申请（当前账号不属于部门）", details={"field": "consumer"}
        )
    return org


def decision_deadline(start: date) -> date:
    """The decision's due date: ``sharing_decision_days`` working days after ``start``."""
    return workdays.deadline_or_estimate(start, get_settings().sharing_decision_days)


def _check_fields(view: catalog.DataView, names: Sequence[str], field: str) -> list[str]:
    unknown = [n for n in names if n not in view.field_names]
    if unknown:
        raise InvalidInput(
            f"{field}：资源 {view.code} 没有信息项 {'、'.join(unknown)}",
            details={"field": field, "unknown": unknown},
        )
    dups = sorted(n for n, seen in Counter(names).items() if seen > 1)
    if dups:
        raise InvalidInput(
            f"{field}：信息项重复 {'、'.join(dups)}", details={"field": field, "duplicates": dups}
        )
    return list(names)


def _check_validity(valid_until: date, today: date) -> None:
    if valid_until <= today:
        raise InvalidInput("valid_until：有效期须晚于今天", details={"field": "valid_until"})
    if valid_until > today + timedelta(days=MAX_VALIDITY_DAYS):
        raise InvalidInput("valid_until：有效期最长三年，到期可续期", details={"field": "valid_until"})


def _published_view(session: Session, code: str) -> catalog.DataView:
    try:
        view = catalog.data_view(session, code)
    except NotFound:
        raise InvalidInput(f"resource：资源 {code} 不存在", details={"field": "resource"}) from None
    if view.status != "published":
        raise InvalidInput(f"resource：资源 {code} 未发布，不能申请", details={"field": "resource"})
    return view


def _record(
    session: Session, actor: Actor, action: str, target_type: str, target: object, **details: Any
) -> None:
    audit.record(session, actor, action, target_type=target_type, target_id=target, details=details)


# ------------------------------------------------------------------ requests


def submit_request(
    session: Session, actor: Actor, data: RequestIn, *, today: date | None = None
) -> SharingRequest:
    """Ask for a published resource. By its share type: unconditional → granted at once;
    conditional → pending until the provider decides (deadline in working days); none →
    refused at once, with the resource's legal basis."""
    today = today or workdays.beijing_today()
    consumer = consumer_org(session, actor)
    authorize(
        actor, "sharing.request", org_path=consumer.path, target_type="resource", target_id=data.resource
    )
    view = _published_view(session, data.resource)
    fields = _check_fields(view, data.fields, "fields")
    _check_validity(data.valid_until, today)
    if view.provider_id == consumer.id:
        raise InvalidInput("resource：本部门的资源无需申请共享", details={"field": "resource"})
    renewed = _renewed_grant(session, data, view, consumer) if data.renews else None
    _check_not_duplicate(session, view, consumer, data.system, renewed, today)
    req = SharingRequest(
        resource_id=view.id,
        resource_code=view.code,
        resource_name=view.name,
        provider_id=view.provider_id,
        consumer_id=consumer.id,
        requester=actor.username,
        fields=json.dumps(fields, ensure_ascii=False),
        purpose=data.purpose,
        scenario=data.scenario,
        basis=data.basis,
        valid_until=data.valid_until,
        system=data.system,
        status="pending",
        renewal_of=renewed.id if renewed else None,
    )
    session.add(req)
    session.flush()
    catalog.count_request(session, view.id)
    _record(
        session,
        actor,
        "sharing.request",
        "sharing_request",
        req.id,
        resource=view.code,
        share_type=view.share_type,
    )
    if view.share_type == "none":
        _refuse(session, actor, req, f"该资源不予共享。依据：{view.share_basis}", automatic=True)
    elif view.share_type == "unconditional":
        _grant(session, actor, req, fields=fields, row_scope={}, daily_quota=None, rate_limit=None, clear=[])
        req.reason = "无条件共享，自动授权"
        req.decided_by = "auto"
    else:
        req.deadline = decision_deadline(today)
        notices.notify(
            session,
            view.provider_id,
            ("staff", "cdo"),
            "request.new",
            f"{consumer.name} 申请共享「{view.name}」，请在 {req.deadline.isoformat()} 前答复",
            f"/sharing/requests/{req.id}",
        )
    session.flush()
    return req


def _renewed_grant(session: Session, data: RequestIn, view: catalog.DataView, consumer: Org) -> Grant:
    grant = session.get(Grant, data.renews)
    if grant is None or grant.consumer_id != consumer.id or grant.resource_id != view.id:
        raise InvalidInput("renews：要续期的授权不存在或不属于本部门的这一资源", details={"field": "renews"})
    if grant.status == "revoked":
        raise InvalidInput("renews：已撤销的授权不能续期，请重新申请", details={"field": "renews"})
    return grant


def _check_not_duplicate(
    session: Session, view: catalog.DataView, consumer: Org, system: str, renewed: Grant | None, today: date
) -> None:
    """One scenario, one request: no second pending request, nor a second live grant, per system."""
    pending = session.execute(
        select(SharingRequest.id).where(
            SharingRequest.resource_id == view.id,
            SharingRequest.consumer_id == consumer.id,
            SharingRequest.system == system,
            SharingRequest.status == "pending",
        )
    ).first()
    if pending is not None:
        raise Duplicate(
            f"系统 {system} 对资源 {view.code} 已有待答复的申请（#{pending.id}）",
            details={"request": pending.id},
        )
    live = session.execute(
        select(Grant.id).where(
            Grant.resource_id == view.id,
            Grant.consumer_id == consumer.id,
            Grant.system == system,
            Grant.status == "active",
            Grant.valid_until >= today,
        )
    ).scalars()
    others = [gid for gid in live if renewed is None or gid != renewed.id]
    if others:
        raise Duplicate(
            f"系统 {system} 已持有资源 {view.code} 的有效授权（#{others[0]}），到期前请用续期申请",
            details={"grant": others[0]},
        )


def _pending(session: Session, request_id: int) -> SharingRequest:
    req = session.get(SharingRequest, request_id)
    if req is None:
        raise RequestNotFound(f"共享申请 #{request_id} 不存在")
    return req


def decide_request(
    session: Session, actor: Actor, request_id: int, decision: DecisionIn, *, today: date | None = None
) -> SharingRequest:
    """The provider's decision: approve (optionally narrowing fields, scoping rows, setting a
    daily quota and rate, naming personal fields to serve in clear) or refuse with a reason."""
    req = _pending(session, request_id)
    provider = org_of(session, req.provider_id)
    authorize(
        actor, "sharing.decide", org_path=provider.path, target_type="sharing_request", target_id=req.id
    )
    if req.status != "pending":
        raise WrongState(f"共享申请 #{req.id} 已{_STATUS_ZH[req.status]}，不能再答复")
    if not decision.approve:
        if not decision.reason:
            raise InvalidInput("reason：不予共享须说明理由", details={"field": "reason"})
        _refuse(session, actor, req, decision.reason, automatic=False)
        return req
    view = catalog.data_view(session, req.resource_code)
    requested = _json_list(req.fields)
    fields = _check_fields(view, decision.fields, "fields") if decision.fields is not None else requested
    wider = [f for f in fields if f not in requested]
    if wider:
        raise InvalidInput(
            f"fields：只能在申请的信息项内收窄，{'、'.join(wider)} 未被申请",
            details={"field": "fields", "unknown": wider},
        )
    scope = dict(decision.row_scope or {})
    _check_fields(view, list(scope), "row_scope")
    clear = _check_clear(actor, view, provider, fields, decision.clear_fields or [])
    _grant(
        session,
        actor,
        req,
        fields=fields,
        row_scope=scope,
        daily_quota=decision.daily_quota,
        rate_limit=decision.rate_limit,
        clear=clear,
    )
    req.reason = decision.reason
    req.decided_by = actor.username
    session.flush()
    return req


def _check_clear(
    actor: Actor, view: catalog.DataView, provider: Org, fields: list[str], clear: list[str]
) -> list[str]:
    if not clear:
        return []
    outside = [f for f in clear if f not in fields]
    if outside:
        raise InvalidInput(
            f"clear_fields：{'、'.join(outside)} 不在授权的信息项内", details={"field": "clear_fields"}
        )
    personal = {f.name for f in view.fields if f.pi_kind != "none"}
    plain = [f for f in clear if f not in personal]
    if plain:
        raise InvalidInput(
            f"clear_fields：{'、'.join(plain)} 不是个人信息项，无需明文授权",
            details={"field": "clear_fields"},
        )
    authorize(actor, "sharing.clear", org_path=provider.path, target_type="resource", target_id=view.code)
    return clear


def _grant(
    session: Session,
    actor: Actor,
    req: SharingRequest,
    *,
    fields: list[str],
    row_scope: dict[str, str],
    daily_quota: int | None,
    rate_limit: int | None,
    clear: list[str],
) -> Grant:
    grant = Grant(
        request_id=req.id,
        resource_id=req.resource_id,
        resource_code=req.resource_code,
        resource_name=req.resource_name,
        provider_id=req.provider_id,
        consumer_id=req.consumer_id,
        system=req.system,
        fields=json.dumps(fields, ensure_ascii=False),
        clear_fields=json.dumps(clear, ensure_ascii=False),
        row_scope=json.dumps(row_scope, ensure_ascii=False, sort_keys=True),
        purpose=req.purpose,
        valid_until=req.valid_until,
        daily_quota=daily_quota,
        rate_limit=rate_limit,
        status="active",
        granted_by=actor.username,
    )
    session.add(grant)
    session.flush()
    req.status, req.grant_id, req.decided_at = "granted", grant.id, utcnow()
    if req.renewal_of:
        # The renewal replaces the grant it renews: one live grant per system and resource.
        old = session.get(Grant, req.renewal_of)
        if old is not None and old.status == "active":
            old.status, old.revoked_at, old.revoked_by = "revoked", utcnow(), actor.username
            old.revoke_reason = f"已由续期授权 #{grant.id} 取代"
    _record(
        session,
        actor,
        "sharing.grant",
        "sharing_grant",
        grant.id,
        request=req.id,
        resource=req.resource_code,
        fields=fields,
        row_scope=row_scope,
        daily_quota=daily_quota,
        clear=clear,
    )
    notices.notify(
        session,
        req.consumer_id,
        ("staff", "cdo"),
        "request.granted",
        f"共享申请 #{req.id}（{req.resource_name}）已获授权 #{grant.id}",
        f"/sharing/requests/{req.id}",
    )
    return grant


def _refuse(session: Session, actor: Actor, req: SharingRequest, reason: str, *, automatic: bool) -> None:
    req.status, req.reason, req.decided_at = "refused", reason, utcnow()
    req.decided_by = "auto" if automatic else actor.username
    _record(session, actor, "sharing.refuse", "sharing_request", req.id, reason=reason, automatic=automatic)
    notices.notify(
        session,
        req.consumer_id,
        ("staff", "cdo"),
        "request.refused",
        f"共享申请 #{req.id}（{req.resource_name}）不予共享：{reason}",
        f"/sharing/requests/{req.id}",
    )


_STATUS_ZH = {"pending": "待答复", "granted": "授权", "refused": "拒绝", "withdrawn": "撤回"}


def withdraw_request(session: Session, actor: Actor, request_id: int, reason: str) -> SharingRequest:
    """The requester's department takes back a pending request."""
    req = _pending(session, request_id)
    consumer = org_of(session, req.consumer_id)
    authorize(
        actor, "sharing.withdraw", org_path=consumer.path, target_type="sharing_request", target_id=req.id
    )
    if req.status != "pending":
        raise WrongState(f"共享申请 #{req.id} 已{_STATUS_ZH[req.status]}，不能撤回")
    req.status, req.reason, req.decided_at, req.decided_by = "withdrawn", reason, utcnow(), actor.username
    _record(session, actor, "sharing.withdraw", "sharing_request", req.id, reason=reason)
    session.flush()
    return req


def escalate_request(session: Session, actor: Actor, request_id: int, reason: str) -> SharingRequest:
    """Either side asks the platform operator to coordinate (协调) a disputed or overdue request."""
    req = _pending(session, request_id)
    sides = identity.orgs_by_ids(session, {req.provider_id, req.consumer_id})
    _authorize_on_either(actor, "sharing.escalate", list(sides.values()), "sharing_request", req.id)
    if req.status != "pending":
        raise WrongState(f"共享申请 #{req.id} 已{_STATUS_ZH[req.status]}，无需协调")
    if req.escalated_at is not None:
        raise WrongState(f"共享申请 #{req.id} 已提请协调")
    req.escalated_at, req.escalation_reason = utcnow(), reason
    _record(session, actor, "sharing.escalate", "sharing_request", req.id, reason=reason)
    notices.notify_role(
        session,
        "operator",
        "request.escalated",
        f"共享申请 #{req.id}（{req.resource_name}）提请协调：{reason}",
        f"/sharing/requests/{req.id}",
    )
    session.flush()
    return req


def _authorize_on_either(actor: Actor, action: str, orgs: list[Org], target_type: str, target: int) -> None:
    """Allowed when the actor may act on either side (provider or consumer)."""
    denied: AccessDenied | None = None
    for org in orgs:
        try:
            authorize(actor, action, org_path=org.path, target_type=target_type, target_id=target)
            return
        except AccessDenied as exc:
            denied = exc
    assert denied is not None
    raise denied


def get_request(session: Session, actor: Actor, request_id: int) -> SharingRequest:
    req = _pending(session, request_id)
    _authorize_either_side(
        session, actor, "sharing.view", req.provider_id, req.consumer_id, "sharing_request", req.id
    )
    return req


def _authorize_either_side(
    session: Session,
    actor: Actor,
    action: str,
    provider_id: int,
    consumer_id: int,
    target_type: str,
    target: int,
) -> None:
    reach_ids = identity.orgs_in_reach(actor, action)
    if reach_ids is None:
        return
    inside = session.execute(reach_ids.where(Org.id.in_([provider_id, consumer_id]))).first()
    if inside is None:
        raise RequestNotFound(
            f"{'共享申请' if target_type == 'sharing_request' else '授权'} #{target} 不存在"
        )


def side_filter(query: Select[Any], actor: Actor, action: str, role: str | None, model: Any) -> Select[Any]:
    """``query`` on ``model`` (with provider_id and consumer_id) narrowed to the actor's side(s)."""
    reach_ids = identity.orgs_in_reach(actor, action)
    if reach_ids is None:
        return query
    if role == "provider":
        return query.where(model.provider_id.in_(reach_ids))
    if role == "consumer":
        return query.where(model.consumer_id.in_(reach_ids))
    return query.where(or_(model.provider_id.in_(reach_ids), model.consumer_id.in_(reach_ids)))


def list_requests(
    session: Session,
    actor: Actor,
    *,
    role: str | None = None,
    status: str | None = None,
    overdue: bool = False,
    limit: int = 200,
    today: date | None = None,
) -> list[SharingRequest]:
    """Requests on the actor's side(s), newest first: ``role`` provider (to answer) or consumer (asked)."""
    today = today or workdays.beijing_today()
    query = side_filter(select(SharingRequest), actor, "sharing.view", role, SharingRequest)
    if status:
        query = query.where(SharingRequest.status == status)
    if overdue:
        query = query.where(SharingRequest.status == "pending", SharingRequest.deadline < today)
    query = query.order_by(SharingRequest.id.desc()).limit(max(1, min(limit, 1000)))
    return list(session.execute(query).scalars())


# ------------------------------------------------------------------ grants


def list_grants(
    session: Session,
    actor: Actor,
    *,
    role: str | None = None,
    status: str | None = None,
    resource: str | None = None,
    limit: int = 200,
    today: date | None = None,
) -> list[Grant]:
    """Grants on the actor's side(s), newest first; ``status`` active | expired | revoked."""
    today = today or workdays.beijing_today()
    query = side_filter(select(Grant), actor, "sharing.view", role, Grant)
    if status == "revoked":
        query = query.where(Grant.status == "revoked")
    elif status == "active":
        query = query.where(Grant.status == "active", Grant.valid_until >= today)
    elif status == "expired":
        query = query.where(Grant.status == "active", Grant.valid_until < today)
    if resource:
        query = query.where(Grant.resource_code == resource)
    query = query.order_by(Grant.id.desc()).limit(max(1, min(limit, 1000)))
    return list(session.execute(query).scalars())


def get_grant(session: Session, actor: Actor, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise GrantNotFound(f"授权 #{grant_id} 不存在")
    _authorize_either_side(
        session, actor, "sharing.view", grant.provider_id, grant.consumer_id, "grant", grant.id
    )
    return grant


def revoke_grant(session: Session, actor: Actor, grant_id: int, reason: str) -> Grant:
    """Revoke at once: the next gateway call under this grant is refused."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise GrantNotFound(f"授权 #{grant_id} 不存在")
    provider = org_of(session, grant.provider_id)
    authorize(
        actor, "sharing.revoke", org_path=provider.path, target_type="sharing_grant", target_id=grant.id
    )
    if grant.status == "revoked":
        raise WrongState(f"授权 #{grant.id} 已于此前撤销")
    grant.status, grant.revoked_at, grant.revoked_by, grant.revoke_reason = (
        "revoked",
        utcnow(),
        actor.username,
        reason,
    )
    _record(
        session,
        actor,
        "sharing.revoke",
        "sharing_grant",
        grant.id,
        reason=reason,
        resource=grant.resource_code,
    )
    notices.notify(
        session,
        grant.consumer_id,
        ("staff", "cdo"),
        "grant.revoked",
        f"授权 #{grant.id}（{grant.resource_name}）已被撤销：{reason}",
        f"/sharing/grants/{grant.id}",
    )
    session.flush()
    return grant


# ------------------------------------------------------------------ reminders (a scheduled job)


@dataclass
class ReminderRun:
    reminded: int = 0
    overdue: int = 0


def send_reminders(session: Session, actor: Actor, *, today: date | None = None) -> ReminderRun:
    """Remind providers of decisions due soon and flag overdue ones to the operator; idempotent per day."""
    authorize(actor, "sharing.console")
    today = today or workdays.beijing_today()
    ahead = get_settings().sharing_reminder_days
    try:
        horizon = workdays.add_working_days(today, ahead) if ahead else today
    except workdays.CalendarUnknownYear:
        horizon = today + timedelta(days=ahead + 2 * (ahead // 5 + 1))
    run = ReminderRun()
    pending = session.execute(
        select(SharingRequest).where(SharingRequest.status == "pending", SharingRequest.deadline <= horizon)
    ).scalars()
    for req in pending:
        if req.reminded_at is not None and req.reminded_at.date() >= today - timedelta(days=1):
            continue
        assert req.deadline is not None
        late = req.deadline < today
        message = (
            f"共享申请 #{req.id}（{req.resource_name}）已超过答复期限 {req.deadline.isoformat()}"
            if late
            else f"共享申请 #{req.id}（{req.resource_name}）须在 {req.deadline.isoformat()} 前答复"
        )
        notices.notify(
            session,
            req.provider_id,
            ("staff", "cdo"),
            "request.overdue" if late else "request.due",
            message,
            f"/sharing/requests/{req.id}",
        )
        if late:
            notices.notify_role(
                session, "operator", "request.overdue", message, f"/sharing/requests/{req.id}"
            )
            run.overdue += 1
        else:
            run.reminded += 1
        req.reminded_at = utcnow()
    _record(
        session, actor, "sharing.remind", "sharing_request", "", reminded=run.reminded, overdue=run.overdue
    )
    session.flush()
    return run
