"""The sharing network's pages: requests and decisions, grants, the access log, objections,
demands and duties, and the CDO's and operator's console.

Every page goes through sharing's service functions with the signed-in actor (authorization is
enforced there). Sharing may not import the page shell (import-linter): it renders through
``request.app.state.render_page``; its templates join the shell's loader through the same hook the
catalog uses. A form's expected failures (bad input, wrong state, duplicates) are shown on the form,
in Chinese, next to the field at fault and with what was typed kept; refusals (403) and unknown
targets (404) propagate to the app's handler, which records refusals and shows the error page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yiwang import forms
from yiwang.catalog import service as catalog
from yiwang.http import CurrentActor, DbSession, RowId
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, authorize, reach
from yiwang.identity.models import Org
from yiwang.kit import workdays
from yiwang.kit.audit import format_time
from yiwang.kit.errors import NotFound, PlatformError
from yiwang.sharing import calls, console, gateway, lists, notices, service
from yiwang.sharing.models import Grant, SharingRequest
from yiwang.sharing.schemas import (
    DecisionIn,
    DemandAnswerIn,
    DemandIn,
    DutyIn,
    ObjectionAnswerIn,
    ObjectionIn,
    RequestIn,
)

router = APIRouter(include_in_schema=False)

Renderer = Callable[..., Response]
BEIJING = timezone(timedelta(hours=8))
LIST_SPLIT = re.compile(r"[\n,，、;；]+")
REQUEST_STATUSES = ("pending", "granted", "refused", "withdrawn")
GRANT_STATUSES = ("active", "expired", "revoked")
SIDES = ("provider", "consumer")
DONE = (
    "submitted",
    "approved",
    "refused",
    "withdrawn",
    "escalated",
    "revoked",
    "objection",
    "answered",
    "demand",
    "duty",
)
CHART_DAYS = 30
Text = Annotated[str, Form(max_length=4000)]


# ------------------------------------------------------------------ helpers


def _render(request: Request, template: str, context: Mapping[str, Any], status: int = 200) -> Response:
    renderer: Renderer = request.app.state.render_page
    return renderer(request, template, dict(context), status=status)


def _viewer(request: Request, db: Session, actor: Actor) -> None:
    """Put the actor's organisation name where the layout's user menu finds it."""
    try:
        request.state.org_name = identity.get_org(db, actor, actor.org_code).name
    except PlatformError:
        request.state.org_name = actor.org_code


def _allowed(actor: Actor, action: str, org: Org | None) -> bool:
    if org is None:
        return False
    try:
        authorize(actor, action, org_path=org.path)
    except AccessDenied:
        return False
    return True


def _done(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in DONE else None


def _lines(text: str) -> list[str]:
    return [p.strip() for p in LIST_SPLIT.split(text) if p.strip()]


def _positive(text: str, label: str, errors: dict[str, str], key: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 10 or int(text) < 1:
        errors[key] = f"{label}应为正整数"
        return None
    return int(text)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if len(value.strip()) == 10 else None
    except ValueError:
        return None


def _utc_bound(day: date, *, end: bool) -> str:
    """A Beijing calendar day's first (or last) moment as the access log's ISO UTC text."""
    start = datetime.combine(day, time.min, tzinfo=BEIJING)
    moment = start + timedelta(days=1) - timedelta(microseconds=1) if end else start
    return format_time(moment.astimezone(UTC))


def _departments(db: Session, actor: Actor, under: str | None = None) -> list[Org]:
    """Departments to offer in a form (none when the actor may not list organisations)."""
    try:
        found = identity.list_orgs(db, actor, under=under, kind="department")
    except PlatformError:
        return []
    return sorted(found, key=lambda o: o.path)


def _field_info(db: Session, code: str) -> dict[str, dict[str, str]]:
    """Titles and personal-information kinds of a resource's fields, by name (empty when gone)."""
    try:
        view = catalog.data_view(db, code)
    except NotFound:
        return {}
    return {f.name: {"title": f.title or f.name, "pi": f.pi} for f in view.fields}


# ------------------------------------------------------------------ home


@router.get("/sharing")
def sharing_home(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    today = workdays.beijing_today()
    to_answer = service.list_requests(db, actor, role="provider", limit=50, today=today)
    asked = service.list_requests(db, actor, role="consumer", limit=50, today=today)
    held = service.list_grants(db, actor, role="consumer", limit=50, today=today)
    given = service.list_grants(db, actor, role="provider", limit=50, today=today)
    everything: list[Any] = [*to_answer, *asked, *held, *given]
    codes = service.org_codes(db, everything)
    orgs = identity.orgs_by_ids(db, {i.provider_id for i in everything} | {i.consumer_id for i in everything})
    usage = gateway.usage_today(db, [g.id for g in held + given], today)
    _viewer(request, db, actor)
    context = {
        "to_answer": [service.request_shape(r, codes, today) for r in to_answer],
        "asked": [service.request_shape(r, codes, today) for r in asked],
        "held": [{**service.grant_shape(g, codes, today), "used": usage.get(g.id, 0)} for g in held],
        "given": [{**service.grant_shape(g, codes, today), "used": usage.get(g.id, 0)} for g in given],
        "names": {o.code: o.name for o in orgs.values()},
        "usage": usage,
        "notices": notices.for_actor(db, actor, limit=20),
        "can_console": reach(actor, "sharing.console") is not None,
        "pending_count": sum(1 for r in to_answer if r.status == "pending"),
        "overdue_count": sum(1 for r in to_answer if service.is_overdue(r, today)),
    }
    return _render(request, "sharing/home.html", context)


# ------------------------------------------------------------------ the request form

REQUEST_INPUTS = ("resource", "fields", "purpose", "scenario", "basis", "valid_until", "system")


def _request_form_page(
    request: Request,
    db: Session,
    actor: Actor,
    code: str,
    *,
    form: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    resource = catalog.get_resource(db, actor, code)
    provider = identity.orgs_by_ids(db, {resource.provider_id}).get(resource.provider_id)
    systems: list[str] = []
    if reach(actor, "token.view") is not None:
        systems = sorted({t.name for t in identity.list_tokens(db, actor) if t.revoked_at is None})
    _viewer(request, db, actor)
    context = {
        "r": resource,
        "provider": provider,
        "fields": [{"name": f.name, "title": f.title, "pi": f.pi, "key": f.key} for f in resource.fields],
        "form": form,
        "errors": dict(errors or {}),
        "systems": systems,
        "own": provider is not None and provider.code == actor.org_code,
    }
    return _render(request, "sharing/request_form.html", context, status=status)


@router.get("/sharing/requests/new")
def new_request(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    code = (request.query_params.get("resource") or "").strip()[:80]
    if not code:
        return RedirectResponse("/catalog", status_code=303)
    default_until = workdays.beijing_today() + timedelta(days=365)
    form: dict[str, Any] = {
        "resource": code,
        "fields": [],
        "purpose": "",
        "scenario": "",
        "basis": "",
        "valid_until": default_until.isoformat(),
        "system": actor.token_name or "",
    }
    return _request_form_page(request, db, actor, code, form=form)


@router.post("/sharing/requests/new")
def submit_request(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    resource: Annotated[str, Form(max_length=80)] = "",
    fields: Annotated[list[str] | None, Form()] = None,
    purpose: Text = "",
    scenario: Text = "",
    basis: Text = "",
    valid_until: Annotated[str, Form(max_length=40)] = "",
    system: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    code = resource.strip()
    if not code:
        raise NotFound("请先在数据目录中选择要申请的资源")
    form: dict[str, Any] = {
        "resource": code,
        "fields": list(dict.fromkeys(f.strip() for f in (fields or []) if f.strip())),
        "purpose": purpose.strip(),
        "scenario": scenario.strip(),
        "basis": basis.strip(),
        "valid_until": valid_until.strip(),
        "system": system.strip(),
    }
    errors: dict[str, str] = {}
    if not form["fields"]:
        errors["fields"] = "请至少选择一个信息项"
    for key, label in (
        ("purpose", "申请用途"),
        ("basis", "共享依据"),
        ("valid_until", "有效期至"),
        ("system", "使用系统"),
    ):
        if not form[key]:
            errors[key] = f"请填写{label}"
    if form["valid_until"] and _day(form["valid_until"]) is None:
        errors["valid_until"] = "日期格式应为 YYYY-MM-DD"
    if errors:
        return _request_form_page(request, db, actor, code, form=form, errors=errors, status=422)
    try:
        data = RequestIn.model_validate(form)
    except ValidationError as exc:
        errors = forms.validation_errors(exc, REQUEST_INPUTS)
        return _request_form_page(request, db, actor, code, form=form, errors=errors, status=422)
    try:
        req = service.submit_request(db, actor, data)
    except PlatformError as exc:
        if not forms.shown_on_form(exc):
            raise
        db.rollback()
        key, message = forms.field_message(exc, REQUEST_INPUTS)
        return _request_form_page(
            request, db, actor, code, form=form, errors={key: message}, status=exc.status
        )
    return RedirectResponse(f"/sharing/requests/{req.id}?done=submitted", status_code=303)


# ------------------------------------------------------------------ one request, its decision

DECISION_INPUTS = ("fields", "row_scope", "daily_quota", "rate_limit", "clear_fields", "reason")


def _request_page(
    request: Request,
    db: Session,
    actor: Actor,
    request_id: int,
    *,
    decision: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    today = workdays.beijing_today()
    req = service.get_request(db, actor, request_id)
    orgs = identity.orgs_by_ids(db, {req.provider_id, req.consumer_id})
    provider, consumer = orgs.get(req.provider_id), orgs.get(req.consumer_id)
    shape = service.request_shape(req, {i: o.code for i, o in orgs.items()}, today)
    info = _field_info(db, req.resource_code)
    pending = req.status == "pending"
    can = {
        "decide": pending and _allowed(actor, "sharing.decide", provider),
        "clear": pending and _allowed(actor, "sharing.clear", provider),
        "withdraw": pending and _allowed(actor, "sharing.withdraw", consumer),
        "escalate": pending
        and req.escalated_at is None
        and (_allowed(actor, "sharing.escalate", provider) or _allowed(actor, "sharing.escalate", consumer)),
    }
    grant = None
    if req.grant_id:
        try:
            found = service.get_grant(db, actor, req.grant_id)
            grant = service.grant_shape(found, {i: o.code for i, o in orgs.items()}, today)
        except PlatformError:
            grant = None
    fields = [
        {"name": n, "title": info.get(n, {}).get("title", n), "pi": info.get(n, {}).get("pi", "none")}
        for n in shape["fields"]
    ]
    _viewer(request, db, actor)
    context = {
        "req": shape,
        "provider": provider,
        "consumer": consumer,
        "fields": fields,
        "titles": {n: i["title"] for n, i in info.items()},
        "grant": grant,
        "escalation_reason": req.escalation_reason,
        "decided_by": req.decided_by,
        "can": can,
        "decision": dict(decision or {"fields": shape["fields"], "clear_fields": []}),
        "errors": dict(errors or {}),
        "done": _done(request),
    }
    return _render(request, "sharing/request.html", context, status=status)


@router.get("/sharing/requests/{request_id}")
def request_page(request: Request, request_id: RowId, actor: CurrentActor, db: DbSession) -> Response:
    return _request_page(request, db, actor, request_id)


@router.post("/sharing/requests/{request_id}/decision")
def decide_request(
    request: Request,
    request_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    decision: Annotated[str, Form(max_length=20)] = "",
    fields: Annotated[list[str] | None, Form()] = None,
    scope_field: Annotated[str, Form(max_length=63)] = "",
    scope_value: Annotated[str, Form(max_length=200)] = "",
    daily_quota: Annotated[str, Form(max_length=20)] = "",
    rate_limit: Annotated[str, Form(max_length=20)] = "",
    clear_fields: Annotated[list[str] | None, Form()] = None,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    approve = decision == "approve"
    kept: dict[str, Any] = {
        "fields": [f for f in (fields or []) if f],
        "scope_field": scope_field.strip(),
        "scope_value": scope_value.strip(),
        "daily_quota": daily_quota.strip(),
        "rate_limit": rate_limit.strip(),
        "clear_fields": [f for f in (clear_fields or []) if f],
        "reason": reason.strip(),
        "choice": decision,
    }
    errors: dict[str, str] = {}
    if decision not in ("approve", "refuse"):
        errors["_form"] = "请选择同意或不予共享"
    item: dict[str, Any] = {"approve": approve, "reason": kept["reason"]}
    if approve:
        if not kept["fields"]:
            errors["fields"] = "同意共享时请至少保留一个信息项"
        item["fields"] = kept["fields"] or None
        if kept["scope_field"] and kept["scope_value"]:
            item["row_scope"] = {kept["scope_field"]: kept["scope_value"]}
        elif kept["scope_field"] or kept["scope_value"]:
            errors["row_scope"] = "行范围须同时选择信息项并填写取值"
        item["daily_quota"] = _positive(kept["daily_quota"], "每日调用上限", errors, "daily_quota")
        item["rate_limit"] = _positive(kept["rate_limit"], "每秒调用上限", errors, "rate_limit")
        item["clear_fields"] = kept["clear_fields"] or None
    elif decision == "refuse" and not kept["reason"]:
        errors["reason"] = "不予共享须说明理由"
    if not errors:
        try:
            parsed = DecisionIn.model_validate(item)
        except ValidationError as exc:
            errors = forms.validation_errors(exc, DECISION_INPUTS)
    if errors:
        return _request_page(request, db, actor, request_id, decision=kept, errors=errors, status=422)
    try:
        service.decide_request(db, actor, request_id, parsed)
    except PlatformError as exc:
        if not forms.shown_on_form(exc):
            raise
        db.rollback()
        key, message = forms.field_message(exc, DECISION_INPUTS)
        return _request_page(
            request, db, actor, request_id, decision=kept, errors={key: message}, status=exc.status
        )
    done = "approved" if approve else "refused"
    return RedirectResponse(f"/sharing/requests/{request_id}?done={done}", status_code=303)


def _reason_action(
    request: Request,
    db: Session,
    actor: Actor,
    request_id: int,
    reason: str,
    act: Callable[[Session, Actor, int, str], SharingRequest],
    done: str,
    default: str,
) -> Response:
    try:
        act(db, actor, request_id, reason.strip() or default)
    except PlatformError as exc:
        if not forms.shown_on_form(exc):
            raise
        db.rollback()
        return _request_page(request, db, actor, request_id, errors={"_form": exc.message}, status=exc.status)
    return RedirectResponse(f"/sharing/requests/{request_id}?done={done}", status_code=303)


@router.post("/sharing/requests/{request_id}/withdraw")
def withdraw_request(
    request: Request,
    request_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    return _reason_action(
        request, db, actor, request_id, reason, service.withdraw_request, "withdrawn", "申请方撤回"
    )


@router.post("/sharing/requests/{request_id}/escalate")
def escalate_request(
    request: Request,
    request_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    if not reason.strip():
        return _request_page(
            request, db, actor, request_id, errors={"escalate": "提请协调须说明理由"}, status=422
        )
    return _reason_action(request, db, actor, request_id, reason, service.escalate_request, "escalated", "")


# ------------------------------------------------------------------ grants


def _grant_rows(db: Session, items: Sequence[Grant], today: date) -> list[dict[str, Any]]:
    codes = service.org_codes(db, items)
    usage = gateway.usage_today(db, [g.id for g in items], today)
    return [{**service.grant_shape(g, codes, today), "used": usage.get(g.id, 0)} for g in items]


@router.get("/sharing/grants")
def grants_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    today = workdays.beijing_today()
    role = request.query_params.get("role") or ""
    role = role if role in SIDES else ""
    status = request.query_params.get("status") or ""
    status = status if status in GRANT_STATUSES else ""
    items = service.list_grants(db, actor, role=role or None, status=status or None, limit=500, today=today)
    orgs = identity.orgs_by_ids(db, {g.provider_id for g in items} | {g.consumer_id for g in items})
    _viewer(request, db, actor)
    context = {
        "rows": _grant_rows(db, items, today),
        "names": {o.code: o.name for o in orgs.values()},
        "role": role,
        "status": status,
        "statuses": GRANT_STATUSES,
    }
    return _render(request, "sharing/grants.html", context)


def _grant_page(
    request: Request,
    db: Session,
    actor: Actor,
    grant_id: int,
    *,
    errors: Mapping[str, str] | None = None,
    reason: str = "",
    status: int = 200,
) -> Response:
    today = workdays.beijing_today()
    grant = service.get_grant(db, actor, grant_id)
    orgs = identity.orgs_by_ids(db, {grant.provider_id, grant.consumer_id})
    provider = orgs.get(grant.provider_id)
    row = _grant_rows(db, [grant], today)[0]
    info = _field_info(db, grant.resource_code)
    recent, _next = calls.list_calls(db, actor, calls.CallFilter(grant=grant.id, limit=10))
    _viewer(request, db, actor)
    context = {
        "g": row,
        "provider": provider,
        "consumer": orgs.get(grant.consumer_id),
        "titles": {n: i["title"] for n, i in info.items()},
        "pis": {n: i["pi"] for n, i in info.items()},
        "revoked_by": grant.revoked_by,
        "revoked_at": grant.revoked_at,
        "granted_by": grant.granted_by,
        "can_revoke": grant.status != "revoked" and _allowed(actor, "sharing.revoke", provider),
        "calls": recent,
        "errors": dict(errors or {}),
        "reason": reason,
        "done": _done(request),
    }
    return _render(request, "sharing/grant.html", context, status=status)


@router.get("/sharing/grants/{grant_id}")
def grant_page(request: Request, grant_id: RowId, actor: CurrentActor, db: DbSession) -> Response:
    return _grant_page(request, db, actor, grant_id)


@router.post("/sharing/grants/{grant_id}/revoke")
def revoke_grant(
    request: Request,
    grant_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    if not reason.strip():
        return _grant_page(request, db, actor, grant_id, errors={"reason": "撤销授权须说明理由"}, status=422)
    try:
        service.revoke_grant(db, actor, grant_id, reason.strip())
    except PlatformError as exc:
        if not forms.shown_on_form(exc):
            raise
        db.rollback()
        return _grant_page(
            request, db, actor, grant_id, errors={"reason": exc.message}, reason=reason, status=exc.status
        )
    return RedirectResponse(f"/sharing/grants/{grant_id}?done=revoked", status_code=303)


# ------------------------------------------------------------------ the access log


@router.get("/sharing/access-log")
def access_log_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    params = request.query_params
    form: dict[str, Any] = {
        "resource": (params.get("resource") or "").strip()[:80],
        "grant": (params.get("grant") or "").strip()[:12],
        "side": params.get("side") if params.get("side") in SIDES else "",
        "denied": params.get("denied") in ("1", "on", "true"),
        "since": (params.get("since") or "").strip()[:10],
        "until": (params.get("until") or "").strip()[:10],
    }
    errors: dict[str, str] = {}
    flt = calls.CallFilter(resource=form["resource"] or None, side=form["side"] or None, limit=50)
    flt.denied = bool(form["denied"])
    if form["grant"]:
        if form["grant"].isdigit() and 0 < int(form["grant"]) < 2**31:
            flt.grant = int(form["grant"])
        else:
            errors["grant"] = "授权编号应为正整数"
    for name in ("since", "until"):
        if form[name]:
            day = _day(str(form[name]))
            if day is None:
                errors[name] = "日期格式应为 YYYY-MM-DD"
            else:
                setattr(flt, name, _utc_bound(day, end=name == "until"))
    before = (params.get("before") or "").strip()
    if before:
        if before.isdigit() and len(before) < 19:
            flt.before_seq = int(before)
        else:
            errors["before"] = "分页游标无效"
    rows, next_cursor = ([], None) if errors else calls.list_calls(db, actor, flt)
    names = {
        code: org.name
        for code, org in identity.orgs_by_codes(
            db, {r.consumer for r in rows} | {r.provider for r in rows}
        ).items()
    }
    query = [(k, str(v)) for k, v in form.items() if v and k != "denied"]
    if form["denied"]:
        query.append(("denied", "1"))
    next_url = (
        "/sharing/access-log?" + urlencode([*query, ("before", str(next_cursor))]) if next_cursor else None
    )
    _viewer(request, db, actor)
    context = {
        "rows": rows,
        "names": names,
        "form": form,
        "errors": errors,
        "next_url": next_url,
        "first_url": "/sharing/access-log" + ("?" + urlencode(query) if query else ""),
        "paged": bool(before) and not errors,
    }
    return _render(request, "sharing/access_log.html", context, status=422 if errors else 200)


# ------------------------------------------------------------------ objections

OBJECTION_INPUTS = ("resource", "keys", "description")
OBJECTION_ANSWER_INPUTS = ("outcome", "answer", "load")


def _objections_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    only: int | None = None,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    answer_for: int | None = None,
    answer_form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    today = workdays.beijing_today()
    role = request.query_params.get("role") or ""
    role = role if role in SIDES else ""
    state = request.query_params.get("status") or ""
    state = state if state in ("open", "corrected", "rejected") else ""
    if only is not None:
        items = [lists.get_objection(db, actor, only)]
    else:
        items = lists.list_objections(db, actor, role=role or None, status=state or None)
    codes = service.org_codes(db, items)
    orgs = identity.orgs_by_ids(db, {o.provider_id for o in items} | {o.consumer_id for o in items})
    rows = []
    for o in items:
        shape = lists.objection_shape(o, codes, today)
        shape["can_answer"] = o.status == "open" and _allowed(
            actor, "sharing.answer_objection", orgs.get(o.provider_id)
        )
        rows.append(shape)
    held: list[str] = []
    if reach(actor, "sharing.object") is not None:
        grants = service.list_grants(db, actor, role="consumer", limit=500, today=today)
        held = sorted({g.resource_code for g in grants})
    _viewer(request, db, actor)
    context = {
        "rows": rows,
        "names": {o.code: o.name for o in orgs.values()},
        "role": role,
        "status": state,
        "only": only,
        "held": held,
        "form": dict(
            form or {"resource": request.query_params.get("resource", "")[:80], "keys": "", "description": ""}
        ),
        "errors": dict(errors or {}),
        "answer_for": answer_for,
        "answer_form": dict(answer_form or {}),
        "done": _done(request),
    }
    return _render(request, "sharing/objections.html", context, status=status)


@router.get("/sharing/objections")
def objections_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    return _objections_page(request, db, actor)


@router.get("/sharing/objections/{objection_id}")
def objection_page(request: Request, objection_id: RowId, actor: CurrentActor, db: DbSession) -> Response:
    return _objections_page(request, db, actor, only=objection_id)


@router.post("/sharing/objections")
def raise_objection(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    resource: Annotated[str, Form(max_length=80)] = "",
    keys: Annotated[str, Form(max_length=20000)] = "",
    description: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = {"resource": resource.strip(), "keys": keys, "description": description.strip()}
    errors: dict[str, str] = {}
    if not form["resource"]:
        errors["resource"] = "请选择资源"
    if not _lines(keys):
        errors["keys"] = "请填写有异议记录的主键值（每行一个）"
    if not form["description"]:
        errors["description"] = "请说明异议内容"
    if not errors:
        try:
            data = ObjectionIn(resource=form["resource"], keys=_lines(keys), description=form["description"])
            objection = lists.raise_objection(db, actor, data)
        except ValidationError as exc:
            errors = forms.validation_errors(exc, OBJECTION_INPUTS)
        except PlatformError as exc:
            if not forms.shown_on_form(exc):
                raise
            db.rollback()
            key, message = forms.field_message(exc, OBJECTION_INPUTS)
            errors = {key: message}
        else:
            return RedirectResponse(f"/sharing/objections/{objection.id}?done=objection", status_code=303)
    return _objections_page(request, db, actor, form=form, errors=errors, status=422)


@router.post("/sharing/objections/{objection_id}/answer")
def answer_objection(
    request: Request,
    objection_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    outcome: Annotated[str, Form(max_length=20)] = "",
    answer: Text = "",
    load: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"outcome": outcome, "answer": answer.strip(), "load": load.strip()}
    errors: dict[str, str] = {}
    if outcome not in ("corrected", "rejected"):
        errors["outcome"] = "请选择已更正或不予更正"
    if not kept["answer"]:
        errors["answer"] = "请填写答复"
    load_id = _positive(kept["load"], "装载记录编号", errors, "load")
    if not errors:
        try:
            data = ObjectionAnswerIn.model_validate(
                {"outcome": outcome, "answer": kept["answer"], "load": load_id}
            )
            lists.answer_objection(db, actor, objection_id, data)
        except ValidationError as exc:
            errors = forms.validation_errors(exc, OBJECTION_ANSWER_INPUTS)
        except PlatformError as exc:
            if not forms.shown_on_form(exc):
                raise
            db.rollback()
            key, message = forms.field_message(exc, OBJECTION_ANSWER_INPUTS)
            errors = {key: message}
        else:
            return RedirectResponse(f"/sharing/objections/{objection_id}?done=answered", status_code=303)
    return _objections_page(
        request,
        db,
        actor,
        only=objection_id,
        answer_for=objection_id,
        answer_form=kept,
        errors=errors,
        status=422,
    )


# ------------------------------------------------------------------ demands

DEMAND_INPUTS = ("title", "items", "purpose", "provider")


def _demands_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    answer_for: int | None = None,
    answer_form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    state = request.query_params.get("status") or ""
    state = state if state in ("open", "answered", "declined") else ""
    items = lists.list_demands(db, actor, status=state or None)
    orgs = identity.orgs_by_ids(db, {d.org_id for d in items} | {d.provider_id for d in items})
    codes = {i: o.code for i, o in orgs.items()}
    may_answer = reach(actor, "sharing.answer_demand") is not None
    rows = []
    for d in items:
        shape = lists.demand_shape(d, codes)
        target = orgs.get(d.provider_id) if d.provider_id else None
        shape["can_answer"] = (
            d.status == "open"
            and may_answer
            and d.org_id != actor.org_id
            and (target is None or _allowed(actor, "sharing.answer_demand", target))
        )
        rows.append(shape)
    departments = []
    if reach(actor, "sharing.demand") is not None:
        departments = _departments(db, actor)
    _viewer(request, db, actor)
    context = {
        "rows": rows,
        "names": {o.code: o.name for o in orgs.values()},
        "status": state,
        "can_post": reach(actor, "sharing.demand") is not None,
        "departments": departments,
        "form": dict(form or {"title": "", "items": "", "purpose": "", "provider": ""}),
        "errors": dict(errors or {}),
        "answer_for": answer_for,
        "answer_form": dict(answer_form or {}),
        "done": _done(request),
    }
    return _render(request, "sharing/demands.html", context, status=status)


@router.get("/sharing/demands")
def demands_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    return _demands_page(request, db, actor)


@router.post("/sharing/demands")
def post_demand(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    title: Annotated[str, Form(max_length=400)] = "",
    items: Annotated[str, Form(max_length=20000)] = "",
    purpose: Text = "",
    provider: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = {"title": title.strip(), "items": items, "purpose": purpose.strip(), "provider": provider.strip()}
    errors: dict[str, str] = {}
    for key, label in (("title", "需求名称"), ("purpose", "用途")):
        if not form[key]:
            errors[key] = f"请填写{label}"
    if not _lines(items):
        errors["items"] = "请填写所需的数据项（每行一个）"
    if not errors:
        try:
            data = DemandIn.model_validate(
                {
                    "title": form["title"],
                    "items": [i for i in items.splitlines() if i.strip()],
                    "purpose": form["purpose"],
                    "provider": form["provider"] or None,
                }
            )
            lists.post_demand(db, actor, data)
        except ValidationError as exc:
            errors = forms.validation_errors(exc, DEMAND_INPUTS)
        except PlatformError as exc:
            if not forms.shown_on_form(exc):
                raise
            db.rollback()
            key, message = forms.field_message(exc, DEMAND_INPUTS)
            errors = {key: message}
        else:
            return RedirectResponse("/sharing/demands?done=demand", status_code=303)
    return _demands_page(request, db, actor, form=form, errors=errors, status=422)


@router.post("/sharing/demands/{demand_id}/answer")
def answer_demand(
    request: Request,
    demand_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    resource: Annotated[str, Form(max_length=80)] = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"resource": resource.strip(), "reason": reason.strip()}
    errors: dict[str, str] = {}
    if not kept["resource"] and not kept["reason"]:
        errors["reason"] = "请填写满足需求的资源代码，或说明不能满足的理由"
    else:
        try:
            data = DemandAnswerIn(resource=kept["resource"] or None, reason=kept["reason"])
            lists.answer_demand(db, actor, demand_id, data)
        except ValidationError as exc:
            errors = forms.validation_errors(exc, ("resource", "reason"))
        except PlatformError as exc:
            if not forms.shown_on_form(exc):
                raise
            db.rollback()
            key, message = forms.field_message(exc, ("resource", "reason"))
            errors = {key: message}
        else:
            return RedirectResponse("/sharing/demands?done=answered", status_code=303)
    return _demands_page(
        request, db, actor, answer_for=demand_id, answer_form=kept, errors=errors, status=422
    )


# ------------------------------------------------------------------ duties

DUTY_INPUTS = ("org", "resource", "note")


def _duties_page(
    request: Request,
    db: Session,
    actor: Actor,
    org_code: str,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    org = identity.org_by_code(db, org_code)
    if org is None:
        raise NotFound(f"部门 {org_code} 不存在")
    duties = lists.duty_list(db, actor, org.code)
    may_assign = reach(actor, "sharing.assign_duty") is not None
    departments: list[Org] = []
    if may_assign:
        scope = reach(actor, "sharing.assign_duty")
        under = None if scope == "all" else actor.org_code
        departments = _departments(db, actor, under)
    _viewer(request, db, actor)
    context = {
        "org": org,
        "duties": duties,
        "can_assign": may_assign,
        "departments": departments,
        "form": dict(
            form or {"org": org.code if org.kind == "department" else "", "resource": "", "note": ""}
        ),
        "errors": dict(errors or {}),
        "done": _done(request),
    }
    return _render(request, "sharing/duties.html", context, status=status)


@router.get("/sharing/duties")
def duties_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    code = (request.query_params.get("org") or actor.org_code).strip()[:100]
    return _duties_page(request, db, actor, code)


@router.post("/sharing/duties")
def assign_duty(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    org: Annotated[str, Form(max_length=100)] = "",
    resource: Annotated[str, Form(max_length=80)] = "",
    note: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = {"org": org.strip(), "resource": resource.strip(), "note": note.strip()}
    errors: dict[str, str] = {}
    if not form["org"]:
        errors["org"] = "请选择部门"
    if not form["resource"]:
        errors["resource"] = "请填写资源代码"
    if not errors:
        try:
            lists.assign_duty(db, actor, DutyIn.model_validate(form))
        except ValidationError as exc:
            errors = forms.validation_errors(exc, DUTY_INPUTS)
        except PlatformError as exc:
            if not forms.shown_on_form(exc):
                raise
            db.rollback()
            key, message = forms.field_message(exc, DUTY_INPUTS)
            errors = {key: message}
        else:
            return RedirectResponse(
                "/sharing/duties?" + urlencode({"org": form["org"], "done": "duty"}), status_code=303
            )
    shown = form["org"] if form["org"] and identity.org_by_code(db, form["org"]) else actor.org_code
    return _duties_page(request, db, actor, shown, form=form, errors=errors, status=422)


# ------------------------------------------------------------------ the console


def _chart(days: list[tuple[str, int, int]], today: date) -> dict[str, Any]:
    """Bars of served and refused calls per day over the last ``CHART_DAYS`` days, as SVG geometry."""
    counted = {d: (ok, bad) for d, ok, bad in days}
    series: list[dict[str, Any]] = []
    for back in range(CHART_DAYS - 1, -1, -1):
        day = (today - timedelta(days=back)).isoformat()
        ok, bad = counted.get(day, (0, 0))
        series.append({"day": day, "served": ok, "refused": bad})
    peak = max([s["served"] + s["refused"] for s in series] + [1])
    width, height, gap, top = 24, 160, 4, 10
    bars = []
    for i, s in enumerate(series):
        x = i * (width + gap)
        served_h = round(s["served"] / peak * (height - top), 1)
        refused_h = round(s["refused"] / peak * (height - top), 1)
        bars.append(
            {
                **s,
                "x": x,
                "w": width,
                "served_y": round(height - served_h, 1),
                "served_h": served_h,
                "refused_y": round(height - served_h - refused_h, 1),
                "refused_h": refused_h,
            }
        )
    return {
        "bars": bars,
        "peak": peak,
        "width": CHART_DAYS * (width + gap),
        "height": height,
        "total": sum(s["served"] + s["refused"] for s in series),
    }


@router.get("/sharing/console")
def console_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    today = workdays.beijing_today()
    data = console.overview(db, actor, today=today, days=CHART_DAYS)
    since = (today - timedelta(days=CHART_DAYS)).isoformat()
    days = calls.daily_counts(db, actor, since=since) if reach(actor, "sharing.access_log") else []
    org_codes = {c["org"] for c in data["calls"]["top_consumers"]}
    names = {code: org.name for code, org in identity.orgs_by_codes(db, org_codes).items()}
    scope_org = identity.org_by_code(db, data["scope"]) if data["scope"] != "province" else None
    _viewer(request, db, actor)
    context = {
        "o": data,
        "chart": _chart(days, today),
        "names": names,
        "scope_name": scope_org.name if scope_org else "",
        "max_resource_calls": max([r["calls"] for r in data["calls"]["top_resources"]] + [1]),
        "max_consumer_calls": max([c["calls"] for c in data["calls"]["top_consumers"]] + [1]),
    }
    return _render(request, "sharing/console.html", context)
