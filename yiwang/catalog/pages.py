"""The catalog's pages: search with facets, resource pages, provider pages, the forms to describe
and submit resources, the CDO's review queue and data upload.

Every page goes through the catalog's service functions with the signed-in actor (authorization
is enforced there). The catalog may not import the page shell (import-linter): it renders through
``request.app.state.render_page``, which ``yiwang.web.mount`` sets, and its templates join the
shell's loader through the same hook identity's pages use. Expected failures of a form (bad input,
wrong state) are shown on the form, in Chinese, with what was typed kept; refusals propagate to the
app's handler, which records them and shows the 403 page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yiwang import forms
from yiwang.catalog import data, service
from yiwang.catalog import repository as repo
from yiwang.catalog.models import Resource
from yiwang.catalog.schemas import ResourceIn
from yiwang.catalog.search import FACETS, SORTS
from yiwang.http import CurrentActor, DbSession, OptionalActor, platform
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, authorize, reach
from yiwang.identity.models import Org
from yiwang.kit.datastore import LoadRejected
from yiwang.kit.errors import InvalidInput, NotFound, PermissionDenied, PlatformError
from yiwang.kit.explain import explain
from yiwang.kit.validators import whole_number

router = APIRouter(include_in_schema=False)

Renderer = Callable[..., Response]
PAGE_SIZE = 20
MAX_PAGE = 5000  # 100,000 results deep is far enough for people; the API pages further
FACET_ORDER = ("provider", "region", "theme", "share_type", "open_type", "level", "format", "update_cycle")
FILTERS = tuple(f for f in FACETS if f != "keyword") + ("keyword",)
CHOICES: dict[str, tuple[str, ...]] = {
    "format": ("table", "file", "api"),
    "share_type": ("unconditional", "conditional", "none"),
    "share_method": ("api", "table", "file"),
    "open_type": ("unconditional", "conditional", "none"),
    "update_cycle": ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular"),
    "level": ("core", "important", "general"),
    "field_type": ("string", "integer", "number", "date", "datetime", "boolean"),
    "field_format": ("id_number", "uscc", "phone", "region_code", "email"),
    "pi": ("none", "name", "id_number", "phone", "address", "bank_card", "email", "other"),
    "mode": ("replace", "append", "upsert"),
}
DONE = ("create", "update", "propose_change", "submit", "publish", "reject", "revoke", "load")
LIST_SPLIT = re.compile(r"[,，、;；\s]+")
FIELD_INPUT = re.compile(r"^fields-(\d{1,3})-(name|title|type|format|pi|key|required)$")
FIELD_ROW_LIMIT = 500


# ------------------------------------------------------------------ rendering helpers


def _render(request: Request, template: str, context: Mapping[str, Any], status: int = 200) -> Response:
    renderer: Renderer = request.app.state.render_page
    return renderer(request, template, {"choices": CHOICES, **context}, status=status)


def _viewer(request: Request, db: Session, actor: Actor | None) -> None:
    """Put the actor's organisation name where the layout's user menu finds it."""
    if actor is None:
        return
    try:
        request.state.org_name = identity.get_org(db, actor, actor.org_code).name
    except PlatformError:
        request.state.org_name = actor.org_code


def _local(target: str | None, default: str) -> str:
    """``target`` when it is a catalog path on this site, else ``default`` (no open redirects)."""
    if not target or len(target) > 2000 or not target.startswith("/catalog") or "\\" in target:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target) or urlsplit(target).netloc:
        return default
    return target


def _allowed(actor: Actor | None, action: str, org: Org) -> bool:
    if actor is None:
        return False
    try:
        authorize(actor, action, org_path=org.path)
    except AccessDenied:
        return False
    return True


def _brief(value: Any) -> str:
    """A metadata value in a line: lists joined, fields by their titles."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(
            str(v.get("title") or v.get("name")) if isinstance(v, dict) else str(v) for v in value
        )
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _providers(db: Session, resources: Sequence[Resource]) -> dict[int, Org]:
    return service.provider_codes(db, resources) if resources else {}


# ------------------------------------------------------------------ search (catalog home)


def _filters(request: Request) -> dict[str, list[str]]:
    chosen: dict[str, list[str]] = {}
    for name in FILTERS:
        values = [v.strip()[:100] for v in request.query_params.getlist(name)[:20] if v.strip()]
        if values:
            chosen[name] = list(dict.fromkeys(values))
    return chosen


def _page_number(raw: str | None) -> int:
    number = whole_number(raw, most_digits=5)
    return min(number, MAX_PAGE) if number else 1


def _link(base: str, params: Sequence[tuple[str, str]], **changes: Any) -> str:
    """``base`` with ``params``, each key in ``changes`` replaced (``None`` drops it)."""
    kept = [(k, v) for k, v in params if k not in changes]
    for key, value in changes.items():
        if value is None or value == "":
            continue
        kept += [(key, str(v)) for v in value] if isinstance(value, list | tuple) else [(key, str(value))]
    return base + ("?" + urlencode(kept) if kept else "")


def _labels(
    db: Session, facets: Mapping[str, list[tuple[str, int]]], chosen: Mapping[str, list[str]]
) -> dict[str, str]:
    """Names for the org codes among the provider and region facet values."""
    codes = {v for name in ("provider", "region") for v, _ in facets.get(name, [])}
    codes |= {v for name in ("provider", "region") for v in chosen.get(name, [])}
    return {code: org.name for code, org in identity.orgs_by_codes(db, codes).items()} if codes else {}


def _matched_fields(resource: Resource, q: str) -> list[Markup]:
    if not q:
        return []
    hits = []
    for f in resource.fields:
        marked = service.highlight(f.title, q)
        if "<mark>" in marked:
            hits.append(Markup(marked))
    return hits[:6]


def _search_context(
    request: Request,
    db: Session,
    actor: Actor | None,
    *,
    base: str,
    fixed: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    q = (request.query_params.get("q") or "").strip()[:200]
    sort = request.query_params.get("sort") or "relevance"
    sort = sort if sort in SORTS else "relevance"
    chosen = _filters(request)
    filters = {**chosen, **(fixed or {})}
    page_no = _page_number(request.query_params.get("page"))
    result = service.search(
        db, actor, q=q, filters=filters, sort=sort, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
    )
    resources = [r for r, _ in result.items]
    orgs = _providers(db, resources)
    items = []
    for resource in resources:
        summary = resource.summary if len(resource.summary) <= 160 else resource.summary[:160] + "…"
        items.append(
            {
                "r": resource,
                "provider": orgs[resource.provider_id],
                "name": Markup(service.highlight(resource.name, q)),
                "summary": Markup(service.highlight(summary, q)),
                "fields": _matched_fields(resource, q),
                "themes": json.loads(resource.themes),
                "overdue": service.is_overdue(resource),
            }
        )
    params = [(k, v) for k, values in chosen.items() for v in values]
    if q:
        params.insert(0, ("q", q))
    if sort != "relevance":
        params.append(("sort", sort))
    facets: dict[str, list[tuple[str, int]]] = {}
    for name in FACET_ORDER:
        if fixed and name in fixed:
            continue
        counts = list(result.facets.get(name, []))
        present = {v for v, _ in counts}
        counts += [(v, 0) for v in chosen.get(name, []) if v not in present]
        facets[name] = counts
    labels = _labels(db, facets, chosen)
    active = [
        {
            "facet": name,
            "value": v,
            "remove": _link(base, params, **{name: [x for x in values if x != v]}, page=None),
        }
        for name, values in chosen.items()
        for v in values
    ]
    pages = max(1, -(-result.total // PAGE_SIZE))
    return {
        "q": q,
        "sort": sort,
        "sorts": ("relevance", "newest", "requested"),
        "chosen": chosen,
        "facets": facets,
        "labels": labels,
        "active": active,
        "items": items,
        "total": result.total,
        "page_no": page_no,
        "pages": min(pages, MAX_PAGE),
        "prev_url": _link(base, params, page=page_no - 1 if page_no > 2 else None) if page_no > 1 else None,
        "next_url": _link(base, params, page=page_no + 1) if page_no < min(pages, MAX_PAGE) else None,
        "clear_url": _link(base, [("q", q)] if q else []),
        "base": base,
    }


@router.get("/catalog")
def catalog_home(request: Request, actor: OptionalActor, db: DbSession) -> Response:
    _viewer(request, db, actor)
    context = {
        "s": _search_context(request, db, actor, base="/catalog"),
        "can_create": actor is not None and reach(actor, "catalog.edit") is not None,
        "can_review": actor is not None and reach(actor, "catalog.review") is not None,
    }
    return _render(request, "catalog/home.html", context)


# ------------------------------------------------------------------ my resources, providers, review queue


@router.get("/catalog/mine")
def my_resources(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    status = request.query_params.get("status") or ""
    statuses = [status] if status in ("draft", "submitted", "published", "rejected", "revoked") else None
    resources = service.list_for_actor(db, actor, statuses=statuses)
    _viewer(request, db, actor)
    orgs = _providers(db, resources)
    rows = [{"r": r, "provider": orgs[r.provider_id]} for r in resources]
    return _render(request, "catalog/mine.html", {"rows": rows, "status": status if statuses else ""})


@router.get("/catalog/providers/{org_code}")
def provider_page(request: Request, org_code: str, actor: OptionalActor, db: DbSession) -> Response:
    org = identity.org_by_code(db, org_code[:64])
    if org is None or org.kind != "department":
        raise NotFound(f"提供部门 {org_code[:64]} 不存在")
    _viewer(request, db, actor)
    base = f"/catalog/providers/{org.code}"
    context: dict[str, Any] = {
        "s": _search_context(request, db, actor, base=base, fixed={"provider": [org.code]})
    }
    own: list[Resource] = []
    if actor is not None and _allowed(actor, "catalog.edit", org):
        own = [r for r in service.list_for_actor(db, actor, provider=org.code) if r.status != "published"]
    parent = identity.orgs_by_ids(db, {org.parent_id}).get(org.parent_id) if org.parent_id else None
    context.update(
        {"org": org, "parent": parent, "own": own, "can_create": _allowed(actor, "catalog.edit", org)}
    )
    return _render(request, "catalog/provider.html", context)


def _changes(resource: Resource, org: Org) -> list[dict[str, str]]:
    """What a proposed change would alter, key by key."""
    if not resource.pending:
        return []
    current = service.shape(resource, org.code)
    proposed = json.loads(resource.pending)
    return [
        {"key": key, "old": _brief(current.get(key)), "new": _brief(value)}
        for key, value in proposed.items()
        if key not in ("code", "provider") and value != current.get(key)
    ]


def _queue_context(db: Session, actor: Actor) -> dict[str, Any]:
    queue = service.review_queue(db, actor)
    orgs = _providers(db, queue)
    items = [
        {
            "r": r,
            "provider": orgs[r.provider_id],
            "change": r.status == "published",
            "changes": _changes(r, orgs[r.provider_id]) if r.status == "published" else [],
        }
        for r in queue
    ]
    return {"items": items}


@router.get("/catalog/review")
def review_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    context = _queue_context(db, actor)
    _viewer(request, db, actor)
    done = request.query_params.get("done")
    return _render(request, "catalog/review.html", {**context, "done": done if done in DONE else None})


# ------------------------------------------------------------------ the resource form


def _blank_field() -> dict[str, Any]:
    return {
        "name": "",
        "title": "",
        "type": "string",
        "format": "",
        "pi": "none",
        "key": False,
        "required": False,
    }


def _form_from(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values (text) from a resource in the contract shape."""
    form: dict[str, Any] = {
        k: "" if values.get(k) is None else values.get(k) for k in ResourceIn.model_fields
    }
    for key in ("themes", "keywords", "related"):
        form[key] = "、".join(values.get(key) or [])
    form["fields"] = [
        {**_blank_field(), **{k: ("" if v is None else v) for k, v in f.items()}}
        for f in values.get("fields") or []
    ]
    return form


def _empty_form(provider: str = "") -> dict[str, Any]:
    return {
        **_form_from({}),
        "provider": provider,
        "format": "table",
        "share_type": "unconditional",
        "share_method": "api",
        "open_type": "none",
        "update_cycle": "irregular",
        "level": "general",
        "fields": [_blank_field()],
    }


def _parse_form(raw: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The submitted form as form values (kept for re-display); and the button pressed."""
    form: dict[str, Any] = {k: str(raw.get(k, "")).strip() for k in ResourceIn.model_fields if k != "fields"}
    rows: dict[int, dict[str, Any]] = {}
    for key, value in raw.items():
        found = FIELD_INPUT.match(key)
        if found and int(found.group(1)) < FIELD_ROW_LIMIT:
            row = rows.setdefault(int(found.group(1)), _blank_field())
            name = found.group(2)
            row[name] = bool(value) if name in ("key", "required") else str(value).strip()
    form["fields"] = [rows[i] for i in sorted(rows)]
    return form, str(raw.get("action", "save"))


def _to_input(form: Mapping[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """The contract shape from form values, and for each field in it the row it came from."""
    item: dict[str, Any] = {k: v for k, v in form.items() if k not in ("fields", "code", "released")}
    item["code"] = form.get("code") or None
    item["released"] = form.get("released") or None
    for key in ("themes", "keywords", "related"):
        item[key] = [p for p in LIST_SPLIT.split(str(form.get(key, ""))) if p]
    fields, rows = [], []
    for index, row in enumerate(form["fields"]):
        if not (row["name"] or row["title"]):
            continue  # an empty row of the form is no field
        fields.append({**row, "format": row["format"] or None})
        rows.append(index)
    item["fields"] = fields
    return item, rows


def _resource_errors(exc: ValidationError, rows: list[int]) -> dict[str, str]:
    """Each problem under the form input it belongs to (``fields.3.title``), in Chinese."""
    errors: dict[str, str] = {}
    for problem, err in zip(explain(exc.errors()), exc.errors(), strict=True):
        loc = [p for p in err.get("loc", ()) if p not in ("body",)]
        reason = problem["reason"]
        if loc and loc[0] == "fields" and len(loc) >= 3 and isinstance(loc[1], int) and loc[1] < len(rows):
            key = f"fields.{rows[loc[1]]}.{loc[2]}"
        elif loc:
            key = str(loc[0])
        elif "share_condition" in reason:
            key = "share_condition"
        elif "share_basis" in reason:
            key = "share_basis"
        elif "信息项" in reason:
            key = "fields"
        else:
            key = "_form"
        errors.setdefault(key, reason)
    return errors


def _provider_choices(db: Session, actor: Actor) -> list[Org]:
    """The departments the actor may describe resources for."""
    scope = reach(actor, "catalog.edit")
    if scope is None:
        return []
    orgs = identity.list_orgs(db, actor, under=None if scope == "all" else actor.org_code, kind="department")
    if scope == "own_org":
        orgs = [o for o in orgs if o.code == actor.org_code]
    return sorted(orgs, key=lambda o: o.path)


def _form_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    form: Mapping[str, Any],
    resource: Resource | None = None,
    org: Org | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    _viewer(request, db, actor)
    context = {
        "form": form,
        "resource": resource,
        "org": org,
        "errors": dict(errors or {}),
        "providers": [] if resource is not None else _provider_choices(db, actor),
        "action_url": f"/catalog/{resource.code}/edit" if resource is not None else "/catalog/new",
    }
    return _render(request, "catalog/form.html", context, status=status)


@router.get("/catalog/new")
def new_resource(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    if reach(actor, "catalog.edit") is None:
        raise PermissionDenied("当前角色不能编目数据资源")
    provider = (request.query_params.get("provider") or "")[:64]
    if not provider and reach(actor, "catalog.edit") == "own_org":
        provider = actor.org_code
    return _form_page(request, db, actor, form=_empty_form(provider))


def _save(request: Request, db: Session, actor: Actor, raw: Mapping[str, str], code: str | None) -> Response:
    forms.check_csrf(request, raw.get("csrf_token"))
    resource = org = None
    if code is not None:
        resource = service.get_resource(db, actor, code)
        org = service.authorize_on(db, actor, "catalog.edit", resource)
    form, action = _parse_form(raw)
    if resource is not None and org is not None:
        form["code"], form["provider"] = resource.code, org.code
    if action == "add_field" or action.startswith("remove_field-"):
        rows = list(form["fields"])
        if action == "add_field":
            rows.append(_blank_field())
        else:
            index = action.removeprefix("remove_field-")
            position = whole_number(index, most_digits=4)
            if position is not None and position < len(rows):
                rows.pop(position)
        return _form_page(
            request, db, actor, form={**form, "fields": rows or [_blank_field()]}, resource=resource, org=org
        )
    item, rows = _to_input(form)
    try:
        parsed = ResourceIn.model_validate(item)
    except ValidationError as exc:
        return _form_page(
            request,
            db,
            actor,
            form=form,
            resource=resource,
            org=org,
            errors=_resource_errors(exc, rows),
            status=422,
        )
    try:
        if resource is None:
            saved = service.create_resource(db, actor, parsed)
            done = "create"
        else:
            saved = service.update_resource(db, actor, resource.code, parsed)
            done = "update" if saved.status == "draft" else "propose_change"
        if action == "submit":
            service.submit_resource(db, actor, saved.code)
            done = "submit"
    except PlatformError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        db.rollback()
        if code is not None:
            resource = service.get_resource(db, actor, code)
            org = service.provider_codes(db, [resource])[resource.provider_id]
        field = exc.details.get("field") if isinstance(exc.details, dict) else None
        errors = {str(field) if field in form else "_form": exc.message}
        return _form_page(
            request, db, actor, form=form, resource=resource, org=org, errors=errors, status=exc.status
        )
    return RedirectResponse(f"/catalog/{saved.code}?done={done}", status_code=303)


@router.post("/catalog/new")
async def create_resource(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    raw = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_save, request, db, actor, raw, None)


@router.get("/catalog/{code}/edit")
def edit_resource(request: Request, code: str, actor: CurrentActor, db: DbSession) -> Response:
    resource = service.get_resource(db, actor, code)
    org = service.authorize_on(db, actor, "catalog.edit", resource)
    values = service.shape(resource, org.code)
    if resource.status == "published" and resource.pending:
        values = {**json.loads(resource.pending), "code": resource.code, "provider": org.code}
    form = _form_from(values)
    if not form["fields"]:
        form["fields"] = [_blank_field()]
    return _form_page(request, db, actor, form=form, resource=resource, org=org)


@router.post("/catalog/{code}/edit")
async def update_resource(request: Request, code: str, actor: CurrentActor, db: DbSession) -> Response:
    raw = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_save, request, db, actor, raw, code)


# ------------------------------------------------------------------ lifecycle: submit, review, revoke


@router.post("/catalog/{code}/submit")
def submit_resource(
    request: Request, code: str, actor: CurrentActor, db: DbSession, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    forms.check_csrf(request, csrf_token)
    service.submit_resource(db, actor, code)
    return RedirectResponse(f"/catalog/{code}?done=submit", status_code=303)


@router.post("/catalog/{code}/review")
def review_resource(
    request: Request,
    code: str,
    actor: CurrentActor,
    db: DbSession,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    if decision not in ("approve", "reject"):
        raise InvalidInput("请选择通过或驳回", details={"field": "decision"})
    target = _local(next, f"/catalog/{code}")
    try:
        service.review_resource(db, actor, code, approve=decision == "approve", reason=reason)
    except InvalidInput as exc:
        # A rejection without a reason: back to the queue with the message under that item.
        db.rollback()
        context = _queue_context(db, actor)
        _viewer(request, db, actor)
        return _render(
            request,
            "catalog/review.html",
            {**context, "done": None, "error_code": code, "error": exc.message, "reason": reason},
            status=422,
        )
    done = "publish" if decision == "approve" else "reject"
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}done={done}", status_code=303)


@router.post("/catalog/{code}/revoke")
def revoke_resource(
    request: Request,
    code: str,
    actor: CurrentActor,
    db: DbSession,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    service.revoke_resource(db, actor, code, reason=reason)
    return RedirectResponse(f"/catalog/{code}?done=revoke", status_code=303)


# ------------------------------------------------------------------ data upload


def _upload_page(
    request: Request,
    db: Session,
    actor: Actor,
    code: str,
    *,
    rejected: Mapping[str, Any] | None = None,
    error: str | None = None,
    mode: str = "replace",
    status: int = 200,
) -> Response:
    resource = service.get_resource(db, actor, code)
    org = service.authorize_on(db, actor, "catalog.load", resource)
    loads = repo.loads(db, resource.id, limit=10)
    _viewer(request, db, actor)
    context = {
        "r": resource,
        "org": org,
        "loads": loads,
        "rejected": rejected,
        "error": error,
        "mode": mode,
        "done": request.query_params.get("done") == "load" and not rejected and not error,
    }
    return _render(request, "catalog/upload.html", context, status=status)


@router.get("/catalog/{code}/upload")
def upload_page(request: Request, code: str, actor: CurrentActor, db: DbSession) -> Response:
    return _upload_page(request, db, actor, code)


@router.post("/catalog/{code}/upload")
def upload(
    request: Request,
    code: str,
    actor: CurrentActor,
    db: DbSession,
    file: Annotated[UploadFile | None, File()] = None,
    mode: Annotated[str, Form()] = "replace",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    mode = mode if mode in CHOICES["mode"] else "replace"
    if file is None or not file.filename:
        return _upload_page(
            request, db, actor, code, error="请选择要上传的文件（CSV、XLSX 或 JSON）", mode=mode, status=422
        )
    try:
        data.load_data(
            db, actor, code, file.file, file.filename, mode, suite=platform(request).keyring.suite_name
        )
    except LoadRejected as exc:
        db.rollback()  # nothing of a rejected load stays, not even its table
        details = exc.details if isinstance(exc.details, dict) else {}
        rejected = {
            "message": exc.message,
            "errors": details.get("errors", []),
            "total": details.get("total", 0),
            "truncated": details.get("truncated", False),
        }
        return _upload_page(request, db, actor, code, rejected=rejected, mode=mode, status=422)
    except PlatformError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        db.rollback()
        return _upload_page(request, db, actor, code, error=exc.message, mode=mode, status=exc.status)
    return RedirectResponse(f"/catalog/{code}/upload?done=load", status_code=303)


# ------------------------------------------------------------------ the resource page


@router.get("/catalog/{code}")
def resource_page(request: Request, code: str, actor: OptionalActor, db: DbSession) -> Response:
    resource = service.get_resource(db, actor, code)
    org = service.provider_codes(db, [resource])[resource.provider_id]
    _viewer(request, db, actor)
    preview_fields: list[Any] = []
    preview_rows: list[dict[str, Any]] = []
    preview_note = ""
    if resource.format == "table":
        if actor is None:
            preview_note = "登录后可查看数据样例（个人信息已脱敏）"
        else:
            try:
                preview_fields, preview_rows = data.preview(db, actor, code, limit=10)
            except PermissionDenied as exc:
                preview_note = exc.message
    signed_in = actor is not None
    may_edit = _allowed(actor, "catalog.edit", org)
    may_review = _allowed(actor, "catalog.review", org)
    may_revoke = _allowed(actor, "catalog.revoke", org)
    may_load = _allowed(actor, "catalog.load", org)
    status = resource.status
    pending = resource.pending_status
    can = {
        "edit": may_edit and status in ("draft", "rejected", "published"),
        "submit": may_edit
        and (status == "draft" or (status == "published" and pending in ("draft", "rejected"))),
        "review": may_review and (status == "submitted" or pending == "submitted"),
        "revoke": may_revoke and status == "published",
        "upload": may_load and status == "published" and resource.format == "table",
    }
    done = request.query_params.get("done")
    related = repo.resources_by_codes(db, json.loads(resource.related)[:50])
    context = {
        "r": resource,
        "org": org,
        "region": identity.org_by_code(db, resource.region_code) if resource.region_code else None,
        "themes": json.loads(resource.themes),
        "keywords": json.loads(resource.keywords),
        "related": [r for r in related if r.status == "published"],
        "overdue": service.is_overdue(resource),
        "preview_fields": preview_fields,
        "preview_rows": preview_rows,
        "preview_note": preview_note,
        "loads": repo.loads(db, resource.id, limit=20) if signed_in else [],
        "versions": [{"v": v, "changed": sorted(json.loads(v.diff))} for v in repo.versions(db, resource.id)]
        if signed_in
        else [],
        "activity": [
            {"a": a, "details": json.loads(a.details)} for a in repo.activity(db, resource.id, limit=50)
        ]
        if signed_in
        else [],
        "changes": _changes(resource, org) if (may_edit or may_review) else [],
        "can": can,
        "done": done if done in DONE else None,
    }
    return _render(request, "catalog/resource.html", context)
