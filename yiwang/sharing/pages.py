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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Annotated, Any, TypeVar
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
from yiwang.kit.validators import whole_number
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
CsrfToken = Annotated[str, Form()]
Errors = dict[str, str]  # a form's problems, by the input they are shown under
T = TypeVar("T")


# ------------------------------------------------------------------ helpers


def _render(
    request: Request,
    db: Session,
    actor: Actor,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> Response:
    """Render through the shell's hook (sharing may not import the shell), with the user menu filled."""
    _viewer(request, db, actor)
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


def _choice(request: Request, name: str, offered: Sequence[str]) -> str:
    """A query parameter when it is one of the values the page offers; '' (no filter) otherwise."""
    value = request.query_params.get(name) or ""
    return value if value in offered else ""


def _done(request: Request) -> str | None:
    return _choice(request, "done", DONE) or None


def _parties(db: Session, items: Sequence[Any]) -> dict[int, Org]:
    """Both sides (``provider_id``, ``consumer_id``) of requests, grants or objections, by id."""
    return identity.orgs_by_ids(db, {i.provider_id for i in items} | {i.consumer_id for i in items})


def _codes(orgs: Mapping[int, Org]) -> dict[int, str]:
    return {i: o.code for i, o in orgs.items()}


def _names(orgs: Mapping[Any, Org]) -> dict[str, str]:
    return {o.code: o.name for o in orgs.values()}


def _lines(text: str) -> list[str]:
    return [p.strip() for p in LIST_SPLIT.split(text) if p.strip()]


def _unfilled(form: Mapping[str, Any], asks: Mapping[str, str]) -> Errors:
    """What to ask for under each required input left empty."""
    return {key: ask for key, ask in asks.items() if not form[key]}


def _positive(text: str, label: str, errors: dict[str, str], key: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    number = whole_number(text, most_digits=10)
    if not number:
        errors[key] = f"{label}应为正整数"
        return None
    return number


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


def _form_post(
    db: Session,
    inputs: Sequence[str],
    checked: Errors,
    verb: Callable[[], T],
    then: str | Callable[[T], str],
    again: Callable[[Errors, int], Response],
    *,
    refusals_under: str | None = None,
) -> Response:
    """Finish a posted form: unless the page's own checks found problems, run the service verb and
    go on to ``then`` (303); otherwise show the form ``again`` with each problem under its input.

    The verb builds the service's input as well, so a schema's complaint lands on the form like the
    service's own; ``refusals_under`` puts every service refusal under that one input instead.
    """
    if checked:
        return again(checked, 422)
    try:
        result = verb()
    except ValidationError as exc:
        return again(forms.validation_errors(exc, inputs), 422)
    except PlatformError as exc:
        if not forms.shown_on_form(exc):
            raise
        db.rollback()  # the form is rendered again in this session: drop the verb's partial writes
        if refusals_under is not None:
            return again({refusals_under: exc.message}, exc.status)
        key, message = forms.field_message(exc, inputs)
        return again({key: message}, exc.status)
    return RedirectResponse(then(result) if callable(then) else then, status_code=303)


# ------------------------------------------------------------------ home


@router.get("/sharing")
def sharing_home(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    today = workdays.beijing_today()
    to_answer = service.list_requests(db, actor, role="provider", limit=50, today=today)
    asked = service.list_requests(db, actor, role="consumer", limit=50, today=today)
    held = service.list_grants(db, actor, role="consumer", limit=50, today=today)
    given = service.list_grants(db, actor, role="provider", limit=50, today=today)
    orgs = _parties(db, [*to_answer, *asked, *held, *given])
    codes = _codes(orgs)
    usage = gateway.usage_today(db, [g.id for g in held + given], today)
    context = {
        "to_answer": [service.request_shape(r, codes, today) for r in to_answer],
        "asked": [service.request_shape(r, codes, today) for r in asked],
        "held": _grant_rows(db, held, codes, today, usage),
        "given": _grant_rows(db, given, codes, today, usage),
        "names": _names(orgs),
        "usage": usage,
        "notices": notices.for_actor(db, actor, limit=20),
        "can_console": reach(actor, "sharing.console") is not None,
        "pending_count": sum(1 for r in to_answer if r.status == "pending"),
        "overdue_count": sum(1 for r in to_answer if service.is_overdue(r, today)),
    }
    return _render(request, db, actor, "sharing/home.html", context)


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
    context = {
        "r": resource,
        "provider": provider,
        "fields": [{"name": f.name, "title": f.title, "pi": f.pi, "key": f.key} for f in resource.fields],
        "form": form,
        "errors": dict(errors or {}),
        "systems": systems,
        "own": provider is not None and provider.code == actor.org_code,
    }
    return _render(request, db, actor, "sharing/request_form.html", context, status=status)


def _request_problems(form: Mapping[str, Any]) -> Errors:
    errors = _unfilled(
        form,
        {
            "fields": "请至少选择一个信息项",
            "purpose": "请填写申请用途",
            "basis": "请填写共享依据",
            "valid_until": "请填写有效期至",
            "system": "请填写使用系统",
        },
    )
    if form["valid_until"] and _day(form["valid_until"]) is None:
        errors["valid_until"] = "日期格式应为 YYYY-MM-DD"
    return errors


@router.get("/sharing/requests/new")
def new_request(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    code = (request.query_params.get("resource") or "").strip()[:80]
    if not code:
        return RedirectResponse("/catalog", status_code=303)
    default_until = workdays.beijing_today() + timedelta(days=365)
    form: dict[str, Any] = {
        **dict.fromkeys(REQUEST_INPUTS, ""),
        "resource": code,
        "fields": [],
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
    csrf_token: CsrfToken = "",
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
    return _form_post(
        db,
        REQUEST_INPUTS,
        _request_problems(form),
        lambda: service.submit_request(db, actor, RequestIn.model_validate(form)),
        lambda req: f"/sharing/requests/{req.id}?done=submitted",
        lambda errors, status: _request_form_page(
            request, db, actor, code, form=form, errors=errors, status=status
        ),
    )


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
    codes = _codes(orgs)
    provider, consumer = orgs.get(req.provider_id), orgs.get(req.consumer_id)
    shape = service.request_shape(req, codes, today)
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
            grant = service.grant_shape(service.get_grant(db, actor, req.grant_id), codes, today)
        except PlatformError:
            grant = None
    fields = [
        {"name": n, "title": info.get(n, {}).get("title", n), "pi": info.get(n, {}).get("pi", "none")}
        for n in shape["fields"]
    ]
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
    return _render(request, db, actor, "sharing/request.html", context, status=status)


@router.get("/sharing/requests/{request_id}")
def request_page(request: Request, request_id: RowId, actor: CurrentActor, db: DbSession) -> Response:
    return _request_page(request, db, actor, request_id)


def _decision_item(kept: Mapping[str, Any]) -> tuple[dict[str, Any], Errors]:
    """The service's decision input from the form, and what the form got wrong."""
    errors: Errors = {}
    if kept["choice"] not in ("approve", "refuse"):
        errors[forms.FORM] = "请选择同意或不予共享"
    approve = kept["choice"] == "approve"
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
    elif kept["choice"] == "refuse" and not kept["reason"]:
        errors["reason"] = "不予共享须说明理由"
    return item, errors


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
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
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
    item, checked = _decision_item(kept)
    done = "approved" if decision == "approve" else "refused"
    return _form_post(
        db,
        DECISION_INPUTS,
        checked,
        lambda: service.decide_request(db, actor, request_id, DecisionIn.model_validate(item)),
        f"/sharing/requests/{request_id}?done={done}",
        lambda errors, status: _request_page(
            request, db, actor, request_id, decision=kept, errors=errors, status=status
        ),
    )


def _act_on_request(
    request: Request,
    db: Session,
    actor: Actor,
    request_id: int,
    act: Callable[[Session, Actor, int, str], SharingRequest],
    reason: str,
    done: str,
    checked: Errors | None = None,
) -> Response:
    """Withdraw or escalate a request from its page; a refusal is shown at the top of the page."""
    return _form_post(
        db,
        (),
        checked or {},
        lambda: act(db, actor, request_id, reason),
        f"/sharing/requests/{request_id}?done={done}",
        lambda errors, status: _request_page(request, db, actor, request_id, errors=errors, status=status),
    )


@router.post("/sharing/requests/{request_id}/withdraw")
def withdraw_request(
    request: Request,
    request_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    why = reason.strip() or "申请方撤回"
    return _act_on_request(request, db, actor, request_id, service.withdraw_request, why, "withdrawn")


@router.post("/sharing/requests/{request_id}/escalate")
def escalate_request(
    request: Request,
    request_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    why = reason.strip()
    checked = {} if why else {"escalate": "提请协调须说明理由"}
    return _act_on_request(
        request, db, actor, request_id, service.escalate_request, why, "escalated", checked
    )


# ------------------------------------------------------------------ grants


def _grant_rows(
    db: Session,
    grants: Sequence[Grant],
    codes: Mapping[int, str],
    today: date,
    usage: Mapping[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Grants as the tables show them, each with the calls it served today (``usage``: when the
    page has counted them already)."""
    if usage is None:
        usage = gateway.usage_today(db, [g.id for g in grants], today)
    return [{**service.grant_shape(g, codes, today), "used": usage.get(g.id, 0)} for g in grants]


@router.get("/sharing/grants")
def grants_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    today = workdays.beijing_today()
    role = _choice(request, "role", SIDES)
    status = _choice(request, "status", GRANT_STATUSES)
    items = service.list_grants(db, actor, role=role or None, status=status or None, limit=500, today=today)
    orgs = _parties(db, items)
    context = {
        "rows": _grant_rows(db, items, _codes(orgs), today),
        "names": _names(orgs),
        "role": role,
        "status": status,
        "statuses": GRANT_STATUSES,
    }
    return _render(request, db, actor, "sharing/grants.html", context)


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
    orgs = _parties(db, [grant])
    provider = orgs.get(grant.provider_id)
    row = _grant_rows(db, [grant], _codes(orgs), today)[0]
    info = _field_info(db, grant.resource_code)
    recent, _next = calls.list_calls(db, actor, calls.CallFilter(grant=grant.id, limit=10))
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
    return _render(request, db, actor, "sharing/grant.html", context, status=status)


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
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    why = reason.strip()
    kept = reason if why else ""  # a reason of blanks is not worth showing again
    return _form_post(
        db,
        ("reason",),
        {} if why else {"reason": "撤销授权须说明理由"},
        lambda: service.revoke_grant(db, actor, grant_id, why),
        f"/sharing/grants/{grant_id}?done=revoked",
        lambda errors, status: _grant_page(
            request, db, actor, grant_id, errors=errors, reason=kept, status=status
        ),
        refusals_under="reason",
    )


# ------------------------------------------------------------------ the access log


@router.get("/sharing/access-log")
def access_log_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    params = request.query_params
    form: dict[str, Any] = {
        "resource": (params.get("resource") or "").strip()[:80],
        "grant": (params.get("grant") or "").strip()[:12],
        "side": _choice(request, "side", SIDES),
        "denied": params.get("denied") in ("1", "on", "true"),
        "since": (params.get("since") or "").strip()[:10],
        "until": (params.get("until") or "").strip()[:10],
    }
    errors: dict[str, str] = {}
    flt = calls.CallFilter(resource=form["resource"] or None, side=form["side"] or None, limit=50)
    flt.denied = bool(form["denied"])
    if form["grant"]:
        grant_id = whole_number(form["grant"], most_digits=10)
        if grant_id and grant_id < 2**31:
            flt.grant = grant_id
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
        before_seq = whole_number(before)
        if before_seq is not None:
            flt.before_seq = before_seq
        else:
            errors["before"] = "分页游标无效"
    rows, next_cursor = ([], None) if errors else calls.list_calls(db, actor, flt)
    orgs = identity.orgs_by_codes(db, {r.consumer for r in rows} | {r.provider for r in rows})
    query = [(k, str(v)) for k, v in form.items() if v and k != "denied"]
    if form["denied"]:
        query.append(("denied", "1"))
    next_url = (
        "/sharing/access-log?" + urlencode([*query, ("before", str(next_cursor))]) if next_cursor else None
    )
    context = {
        "rows": rows,
        "names": _names(orgs),
        "form": form,
        "errors": errors,
        "next_url": next_url,
        "first_url": "/sharing/access-log" + ("?" + urlencode(query) if query else ""),
        "paged": bool(before) and not errors,
    }
    return _render(request, db, actor, "sharing/access_log.html", context, status=422 if errors else 200)


# ------------------------------------------------------------------ objections, demands, duties


@dataclass(frozen=True)
class _Retry:
    """A failed post as its list page shows it again: what was typed into the page's own form, or
    into the answer form of row ``answer_for``, with the problems under it.

    These pages list what their forms create, so a failed form is the whole list again, always 422.
    """

    errors: Errors
    form: Mapping[str, Any] | None = None
    answer_for: int | None = None
    answer_form: Mapping[str, Any] | None = None


def _status(retry: _Retry | None) -> int:
    return 200 if retry is None else 422


def _form_parts(request: Request, blank: Mapping[str, Any], retry: _Retry | None) -> dict[str, Any]:
    """A list page's own form (what was typed, or ``blank``), its problems, and what was just done."""
    form, errors = (retry.form, retry.errors) if retry else (None, {})
    return {"form": dict(form or blank), "errors": dict(errors), "done": _done(request)}


def _answer_parts(retry: _Retry | None) -> dict[str, Any]:
    """The row whose answer form failed, and what was typed into it."""
    answer_for, answer_form = (retry.answer_for, retry.answer_form) if retry else (None, None)
    return {"answer_for": answer_for, "answer_form": dict(answer_form or {})}


OBJECTION_INPUTS = ("resource", "keys", "description")
OBJECTION_ANSWER_INPUTS = ("outcome", "answer", "load")


def _objections_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    only: int | None = None,
    retry: _Retry | None = None,
) -> Response:
    today = workdays.beijing_today()
    role = _choice(request, "role", SIDES)
    state = _choice(request, "status", ("open", "corrected", "rejected"))
    if only is not None:
        items = [lists.get_objection(db, actor, only)]
    else:
        items = lists.list_objections(db, actor, role=role or None, status=state or None)
    orgs = _parties(db, items)
    codes = _codes(orgs)
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
    blank = {"resource": request.query_params.get("resource", "")[:80], "keys": "", "description": ""}
    context = {
        "rows": rows,
        "names": _names(orgs),
        "role": role,
        "status": state,
        "only": only,
        "held": held,
        **_form_parts(request, blank, retry),
        **_answer_parts(retry),
    }
    return _render(request, db, actor, "sharing/objections.html", context, status=_status(retry))


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
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = {"resource": resource.strip(), "keys": keys, "description": description.strip()}
    checked = _unfilled(
        {**form, "keys": _lines(keys)},
        {
            "resource": "请选择资源",
            "keys": "请填写有异议记录的主键值（每行一个）",
            "description": "请说明异议内容",
        },
    )
    return _form_post(
        db,
        OBJECTION_INPUTS,
        checked,
        lambda: lists.raise_objection(
            db,
            actor,
            ObjectionIn(resource=form["resource"], keys=_lines(keys), description=form["description"]),
        ),
        lambda objection: f"/sharing/objections/{objection.id}?done=objection",
        lambda errors, _: _objections_page(request, db, actor, retry=_Retry(errors, form=form)),
    )


@router.post("/sharing/objections/{objection_id}/answer")
def answer_objection(
    request: Request,
    objection_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    outcome: Annotated[str, Form(max_length=20)] = "",
    answer: Text = "",
    load: Annotated[str, Form(max_length=20)] = "",
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"outcome": outcome, "answer": answer.strip(), "load": load.strip()}
    checked: Errors = {}
    if outcome not in ("corrected", "rejected"):
        checked["outcome"] = "请选择已更正或不予更正"
    if not kept["answer"]:
        checked["answer"] = "请填写答复"
    data = {
        "outcome": outcome,
        "answer": kept["answer"],
        "load": _positive(kept["load"], "装载记录编号", checked, "load"),
    }
    return _form_post(
        db,
        OBJECTION_ANSWER_INPUTS,
        checked,
        lambda: lists.answer_objection(db, actor, objection_id, ObjectionAnswerIn.model_validate(data)),
        f"/sharing/objections/{objection_id}?done=answered",
        lambda errors, _: _objections_page(
            request,
            db,
            actor,
            only=objection_id,
            retry=_Retry(errors, answer_for=objection_id, answer_form=kept),
        ),
    )


# ------------------------------------------------------------------ demands

DEMAND_INPUTS = ("title", "items", "purpose", "provider")
DEMAND_ANSWER_INPUTS = ("resource", "reason")


def _demands_page(request: Request, db: Session, actor: Actor, *, retry: _Retry | None = None) -> Response:
    state = _choice(request, "status", ("open", "answered", "declined"))
    items = lists.list_demands(db, actor, status=state or None)
    orgs = identity.orgs_by_ids(db, {d.org_id for d in items} | {d.provider_id for d in items})
    codes = _codes(orgs)
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
    can_post = reach(actor, "sharing.demand") is not None
    blank = {"title": "", "items": "", "purpose": "", "provider": ""}
    context = {
        "rows": rows,
        "names": _names(orgs),
        "status": state,
        "can_post": can_post,
        "departments": _departments(db, actor) if can_post else [],
        **_form_parts(request, blank, retry),
        **_answer_parts(retry),
    }
    return _render(request, db, actor, "sharing/demands.html", context, status=_status(retry))


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
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = {"title": title.strip(), "items": items, "purpose": purpose.strip(), "provider": provider.strip()}
    checked = _unfilled(
        {**form, "items": _lines(items)},
        {"title": "请填写需求名称", "purpose": "请填写用途", "items": "请填写所需的数据项（每行一个）"},
    )
    data = {
        "title": form["title"],
        "items": [i for i in items.splitlines() if i.strip()],
        "purpose": form["purpose"],
        "provider": form["provider"] or None,
    }
    return _form_post(
        db,
        DEMAND_INPUTS,
        checked,
        lambda: lists.post_demand(db, actor, DemandIn.model_validate(data)),
        "/sharing/demands?done=demand",
        lambda errors, _: _demands_page(request, db, actor, retry=_Retry(errors, form=form)),
    )


@router.post("/sharing/demands/{demand_id}/answer")
def answer_demand(
    request: Request,
    demand_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    resource: Annotated[str, Form(max_length=80)] = "",
    reason: Text = "",
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"resource": resource.strip(), "reason": reason.strip()}
    checked: Errors = {}
    if not kept["resource"] and not kept["reason"]:
        checked["reason"] = "请填写满足需求的资源代码，或说明不能满足的理由"
    return _form_post(
        db,
        DEMAND_ANSWER_INPUTS,
        checked,
        lambda: lists.answer_demand(
            db, actor, demand_id, DemandAnswerIn(resource=kept["resource"] or None, reason=kept["reason"])
        ),
        "/sharing/demands?done=answered",
        lambda errors, _: _demands_page(
            request, db, actor, retry=_Retry(errors, answer_for=demand_id, answer_form=kept)
        ),
    )


# ------------------------------------------------------------------ duties

DUTY_INPUTS = ("org", "resource", "note")


def _duties_page(
    request: Request,
    db: Session,
    actor: Actor,
    org_code: str,
    retry: _Retry | None = None,
) -> Response:
    org = identity.org_by_code(db, org_code)
    if org is None:
        raise NotFound(f"部门 {org_code} 不存在")
    duties = lists.duty_list(db, actor, org.code)
    scope = reach(actor, "sharing.assign_duty")
    departments: list[Org] = []
    if scope is not None:
        departments = _departments(db, actor, None if scope == "all" else actor.org_code)
    blank = {"org": org.code if org.kind == "department" else "", "resource": "", "note": ""}
    context = {
        "org": org,
        "duties": duties,
        "can_assign": scope is not None,
        "departments": departments,
        **_form_parts(request, blank, retry),
    }
    return _render(request, db, actor, "sharing/duties.html", context, status=_status(retry))


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
    csrf_token: CsrfToken = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = {"org": org.strip(), "resource": resource.strip(), "note": note.strip()}

    def again(errors: Errors, _: int) -> Response:
        shown = form["org"] if form["org"] and identity.org_by_code(db, form["org"]) else actor.org_code
        return _duties_page(request, db, actor, shown, retry=_Retry(errors, form=form))

    return _form_post(
        db,
        DUTY_INPUTS,
        _unfilled(form, {"org": "请选择部门", "resource": "请填写资源代码"}),
        lambda: lists.assign_duty(db, actor, DutyIn.model_validate(form)),
        "/sharing/duties?" + urlencode({"org": form["org"], "done": "duty"}),
        again,
    )


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
    names = _names(identity.orgs_by_codes(db, org_codes))
    scope_org = identity.org_by_code(db, data["scope"]) if data["scope"] != "province" else None
    context = {
        "o": data,
        "chart": _chart(days, today),
        "names": names,
        "scope_name": scope_org.name if scope_org else "",
        "max_resource_calls": max([r["calls"] for r in data["calls"]["top_resources"]] + [1]),
        "max_consumer_calls": max([c["calls"] for c in data["calls"]["top_consumers"]] + [1]),
    }
    return _render(request, db, actor, "sharing/console.html", context)
