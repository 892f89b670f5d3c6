"""CKAN-compatible Action API over the published catalog: ``/api/3/action/{action}``.

CKAN clients (ckanapi, harvesters, portal front-ends) work unchanged: CKAN's
envelopes ``{"help", "success", "result" | "error"}``, its error types and
statuses, its parameter conventions (``fq`` terms, ``facet.field`` as a JSON
list, ``rows``/``start``). Mapping: organization = provider department (name =
org code), groups = themes, tags = keywords, resources = the distributions,
extras = the Chinese catalog attributes. Read-only: no CKAN write action exists.

Anonymous callers see the open-data subset (``open_type == "unconditional"``),
signed-in callers (``Authorization: <token>`` as CKAN sends it, or ``Bearer``)
every published resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from yiwang import __version__
from yiwang.catalog import service
from yiwang.catalog.dcat import (
    base_url,
    distributions,
    iso,
    modified_at,
    published_resource,
    search_published,
)
from yiwang.catalog.models import Resource
from yiwang.http import DbSession, OptionalActor, request_id
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor
from yiwang.identity.errors import InvalidToken
from yiwang.identity.models import Org
from yiwang.kit.errors import AuthenticationRequired, InvalidInput, NotFound, PermissionDenied, PlatformError

ROWS_DEFAULT = 10
ROWS_MAX = 1000  # CKAN's ckan.search.rows_max
LIST_MAX = 1000  # CKAN's ckan.group_and_organization_list_max
# The catalog's facet queries return at most this many values; counts for longer lists are
# asked for in chunks of this size, each filtered to the chunk.
FACET_CAP = 50
CKAN_VERSION = "2.10.0"  # the API generation this imitates; clients gate features on it

# CKAN field → catalog facet (the catalog's own facet names are accepted as well).
FIELDS = {
    "organization": "provider",
    "owner_org": "provider",
    "groups": "theme",
    "tags": "keyword",
    "res_format": "format",
    **{name: name for name in ("provider", "region", "theme", "keyword", "share_type", "open_type")},
    **{name: name for name in ("level", "format", "update_cycle")},
}
# Terms CKAN clients add to every query (harvesters: ``+dataset_type:dataset``): true of every
# published resource, so they filter nothing; any other value of these fields matches nothing.
CONSTANT_TERMS = {"dataset_type": "dataset", "type": "dataset", "state": "active", "capacity": "public"}
SORTS = {
    ("score", "desc"): "relevance",
    ("metadata_modified", "desc"): "newest",
    ("metadata_created", "desc"): "newest",
    ("name", "asc"): "name",
    ("title_string", "asc"): "name",
    ("views_recent", "desc"): "requested",
    ("views_total", "desc"): "requested",
}
EXTRAS = (
    "category",
    "share_type",
    "share_condition",
    "share_basis",
    "share_method",
    "open_type",
    "update_cycle",
    "level",
    "format",
    "region",
    "released",
    "related",
)


class BadRequest(PlatformError):
    """CKAN's ``Bad request - …`` (unknown action, unreadable body)."""

    code = "ckan_bad_request"
    status = 400


@dataclass
class Context:
    db: Session
    actor: Actor | None
    base: str


Params = dict[str, Any]
Action = Callable[[Context, Params], Any]


# ------------------------------------------------------------------ envelopes


def help_url(base: str, action: str) -> str:
    return f"{base}/api/3/action/help_show?name={action}"


def error_body(exc: PlatformError) -> tuple[int, dict[str, Any]]:
    """CKAN's error type and status for a platform error (ckanapi raises by ``__type``)."""
    # CKAN writes "<kind>: <detail>"; ckanapi keeps the part after ": ".
    if isinstance(exc, NotFound):
        return 404, {"__type": "Not Found Error", "message": f"未找到: {exc.message}"}
    if isinstance(exc, PermissionDenied | AuthenticationRequired):
        return 403, {"__type": "Authorization Error", "message": f"无权访问: {exc.message}"}
    if isinstance(exc, BadRequest):
        return 400, {"__type": f"Bad request - {exc.message}", "message": exc.message}
    field = exc.details.get("field") if isinstance(exc.details, dict) else None
    return 409, {
        "__type": "Validation Error",
        "message": exc.message,
        **({field: [exc.message]} if field else {}),
    }


def _refusal_record(request: Request, exc: PlatformError) -> BackgroundTask | None:
    """Refusals reach the audit log as they do through the app's own error handler.

    The entry is written after the response, once the request's session has ended: on SQLite
    that session still holds the write lock while the error is being rendered.
    """
    platform = request.app.state.platform
    if isinstance(exc, AccessDenied):
        return BackgroundTask(
            platform.record_refusal, exc, exc.actor, exc.action, exc.target_type, exc.target_id
        )
    if isinstance(exc, InvalidToken):
        anonymous = Actor.anonymous(kind="token", request_id=request_id(request))
        return BackgroundTask(platform.record_refusal, exc, anonymous, "auth.token", "path", request.url.path)
    return None


class CkanRoute(APIRoute):
    """Renders every failure, a bad token included, in CKAN's error envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ckan_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except PlatformError as exc:
                status, error = error_body(exc)
                action = request.path_params.get("action", "")
                body = {"help": help_url(base_url(request), action), "success": False, "error": error}
                return JSONResponse(body, status_code=status, background=_refusal_record(request, exc))

        return ckan_handler


router = APIRouter(route_class=CkanRoute, include_in_schema=False)


async def _params(request: Request) -> Params:
    """The action's parameters: the query string, overlaid by a JSON or form body (POST)."""
    params: Params = dict(request.query_params)
    if request.method != "POST":
        return params
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return {**params, **{k: v for k, v in form.items() if isinstance(v, str)}}
    raw = await request.body()
    if not raw.strip():
        return params
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"JSON Error: 请求体不是合法的 JSON（{exc}）") from exc
    if not isinstance(body, dict):
        raise BadRequest("JSON Error: 请求体应为 JSON 对象")
    return {**params, **body}


@router.api_route("/api/3/action/{action}", methods=["GET", "POST"])
@router.api_route("/api/action/{action}", methods=["GET", "POST"])
def call_action(
    action: str,
    request: Request,
    db: DbSession,
    actor: OptionalActor,
    params: Annotated[Params, Depends(_params)],
) -> JSONResponse:
    """Run one CKAN action and wrap its result in CKAN's envelope."""
    function = ACTIONS.get(action)
    if function is None:
        raise BadRequest(f"Action name not known: {action}")
    base = base_url(request)
    result = function(Context(db=db, actor=actor, base=base), params)
    return JSONResponse({"help": help_url(base, action), "success": True, "result": result})


# ------------------------------------------------------------------ parameters


def _int(params: Params, name: str, default: int | None, *, maximum: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} 必须是整数", details={"field": name}) from None
    if value < 0:
        raise InvalidInput(f"{name} 不能为负数", details={"field": name})
    # CKAN caps rows and list limits at its configured maximum rather than refusing.
    return min(value, maximum) if maximum is not None else value


def _bool(params: Params, name: str) -> bool:
    raw = params.get(name, False)
    return raw is True or str(raw).strip().lower() in ("true", "1", "yes", "on")


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"缺少参数 {name}", details={"field": name})
    return value.strip()


def _list(params: Params, name: str) -> list[str]:
    """A list parameter: a JSON list (as CKAN's own front-end sends it) or a list in a JSON body."""
    raw = params.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise InvalidInput(f"{name} 应为字符串列表（JSON）", details={"field": name})
    return raw


FQ_TERM = re.compile(r'\s*(?P<sign>[+-]?)(?P<key>[\w.]+):(?P<value>"(?:[^"\\]|\\.)*"|\([^)]*\)|[^\s()"]+)\s*')
FQ_JOIN = re.compile(r"\s*(AND\s+)?", re.IGNORECASE)


def parse_fq(fq: str) -> tuple[dict[str, list[str]], bool]:
    """``fq`` terms as catalog filters, and whether a constant term rules everything out.

    Values of one field are alternatives (as the catalog's facets combine them); quoted
    values and ``field:(a OR b)`` are understood.
    """
    filters: dict[str, list[str]] = {}
    impossible = False
    position = 0
    fq = fq.strip()
    while position < len(fq):
        match = FQ_TERM.match(fq, position)
        if match is None:
            raise InvalidInput(f"无法解析 fq：{fq[position:][:50]}（应为 字段:值）", details={"field": "fq"})
        position = FQ_JOIN.match(fq, match.end()).end()  # type: ignore[union-attr]
        key, values = match["key"], _fq_values(match["value"])
        if match["sign"] == "-":
            raise InvalidInput(f"fq 暂不支持排除条件：-{key}", details={"field": "fq"})
        if key in CONSTANT_TERMS:
            impossible = impossible or any(v != CONSTANT_TERMS[key] for v in values)
            continue
        if key not in FIELDS:
            supported = "、".join(sorted(FIELDS) + sorted(CONSTANT_TERMS))
            raise InvalidInput(f"fq 不支持的字段 {key}；可用字段：{supported}", details={"field": "fq"})
        if key == "res_format":
            values = [v.lower() for v in values]
        filters.setdefault(FIELDS[key], []).extend(values)
    return filters, impossible


def _fq_values(raw: str) -> list[str]:
    if raw.startswith("("):
        return [_unquote(v) for v in re.split(r"\s+OR\s+", raw[1:-1].strip()) if v]
    return [_unquote(raw)]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_sort(sort: str) -> str:
    """CKAN's ``field direction[, …]`` as a catalog sort; the first clause decides."""
    clause = sort.split(",")[0].split()
    key = (clause[0], clause[1].lower() if len(clause) > 1 else "asc") if clause else ("score", "desc")
    if key not in SORTS:
        supported = "、".join(f"{f} {d}" for f, d in SORTS)
        raise InvalidInput(f"不支持的排序 {sort}；可用：{supported}", details={"field": "sort"})
    return SORTS[key]


# ------------------------------------------------------------------ shapes


def organization(org: Org, package_count: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": org.code,
        "name": org.code,
        "title": org.name,
        "display_name": org.name,
        "description": "",
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "image_display_url": "",
        "created": iso(org.created_at),
    }
    if package_count is not None:
        data["package_count"] = package_count
    return data


def group(theme: str, package_count: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": theme,
        "name": theme,
        "title": theme,
        "display_name": theme,
        "description": "",
        "type": "group",
        "is_organization": False,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "image_display_url": "",
    }
    if package_count is not None:
        data["package_count"] = package_count
    return data


def tag(keyword: str) -> dict[str, Any]:
    return {"id": keyword, "name": keyword, "display_name": keyword, "state": "active", "vocabulary_id": None}


def package(resource: Resource, org: Org, base: str) -> dict[str, Any]:
    """A resource as a CKAN dataset dict."""
    themes, keywords = json.loads(resource.themes), json.loads(resource.keywords)
    modified, created = iso(modified_at(resource)), iso(resource.created_at)
    resources = [
        {
            "id": f"{resource.code}-{d.kind}",
            "package_id": resource.code,
            "name": d.title,
            "description": f"{resource.name}（{d.title}）",
            "format": d.ckan_format,
            "mimetype": d.media_type,
            "url": d.url,
            "url_type": None,
            "resource_type": d.kind,
            "state": "active",
            "position": position,
            "created": created,
            "metadata_modified": modified,
            "last_modified": iso(resource.last_load_at),
        }
        for position, d in enumerate(distributions(resource, base))
    ]
    return {
        "id": resource.code,
        "name": resource.code,
        "title": resource.name,
        "notes": resource.summary,
        "type": "dataset",
        "state": "active",
        "private": False,
        "version": str(resource.version),
        "url": "",
        "author": org.name,
        "maintainer": org.name,
        "license_id": None,
        "owner_org": org.code,
        "organization": organization(org),
        "metadata_created": created,
        "metadata_modified": modified,
        "groups": [group(t) for t in themes],
        "tags": [tag(k) for k in keywords],
        "num_tags": len(keywords),
        "resources": resources,
        "num_resources": len(resources),
        "extras": extras(resource),
    }


def extras(resource: Resource) -> list[dict[str, str]]:
    """The catalog attributes CKAN has no field for, as ``[{"key", "value"}]`` (codes as in ``fq``)."""
    values: dict[str, Any] = {name: getattr(resource, name, None) for name in EXTRAS}
    values["region"] = resource.region_code
    values["released"] = resource.released.isoformat() if resource.released else ""
    values["related"] = ",".join(json.loads(resource.related))
    return [{"key": k, "value": str(v or "")} for k, v in values.items()]


# ------------------------------------------------------------------ counting


def counts(ctx: Context, facet: str, values: Sequence[str]) -> dict[str, int]:
    """Visible published resources per value of ``facet``, for lists longer than a facet holds."""
    result: dict[str, int] = {}
    for start in range(0, len(values), FACET_CAP):
        chunk = list(values[start : start + FACET_CAP])
        page = search_published(ctx.db, ctx.actor, filters={facet: chunk}, limit=0, facet_fields=(facet,))
        result.update(page.facets[facet])
    return result


def _departments(ctx: Context) -> list[Org]:
    # Departments and their names are public (CKAN lists every organization to everyone), so
    # the public's list is read with the console's reach: no data behind it is shown.
    return identity.list_orgs(ctx.db, ctx.actor or Actor.system(), kind="department")


def _department(ctx: Context, code: str) -> Org:
    org = identity.org_by_code(ctx.db, code)
    if org is None or org.kind != "department":
        raise NotFound(f"部门 {code} 不存在")
    return org


def _order(items: list[dict[str, Any]], params: Params, default: str) -> list[dict[str, Any]]:
    """CKAN's ``sort`` for organization and group lists: name, title or package_count, asc/desc."""
    clause = str(params.get("sort") or default).split()
    field, direction = clause[0], clause[1].lower() if len(clause) > 1 else "asc"
    if field not in ("name", "title", "package_count") or direction not in ("asc", "desc"):
        raise InvalidInput(
            f"不支持的排序 {params.get('sort')}；可用 name、title、package_count", details={"field": "sort"}
        )
    return sorted(items, key=lambda item: (item.get(field) or 0, item["name"]), reverse=direction == "desc")


def _window(items: list[Any], params: Params) -> list[Any]:
    offset = _int(params, "offset", 0) or 0
    limit = _int(params, "limit", LIST_MAX, maximum=LIST_MAX)
    return items[offset : offset + (limit if limit is not None else LIST_MAX)]


def _matches(params: Params, *texts: str) -> bool:
    q = str(params.get("q") or params.get("query") or "").strip()
    return not q or any(q in t for t in texts)


# ------------------------------------------------------------------ actions


def package_search(ctx: Context, params: Params) -> dict[str, Any]:
    """Search published datasets: q, fq (organization:, groups:, tags:, res_format: …), rows, start,
    sort (score desc, metadata_modified desc, name asc …), facet.field (JSON list)."""
    q = str(params.get("q") or "").strip()
    if q in ("*:*", "*"):
        q = ""  # CKAN clients' "everything"
    filters, impossible = parse_fq(str(params.get("fq") or ""))
    sort_text = str(params.get("sort") or "score desc, metadata_modified desc")
    rows = _int(params, "rows", ROWS_DEFAULT, maximum=ROWS_MAX) or 0
    start = _int(params, "start", 0) or 0
    wanted = _list(params, "facet.field")
    facet_limit = (
        _int(params, "facet.limit", FACET_CAP) if params.get("facet.limit") not in (-1, "-1") else None
    )
    facet_fields = tuple(dict.fromkeys(FIELDS[f] for f in wanted if f in FIELDS))
    if impossible:
        return _search_result([], 0, {f: [] for f in wanted}, ctx, sort_text)
    page = search_published(
        ctx.db,
        ctx.actor,
        q=q,
        filters=filters,
        sort=parse_sort(sort_text),
        limit=rows,
        offset=start,
        facet_fields=facet_fields,
    )
    resources = [r for r, _ in page.items]
    facets = {f: page.facets[FIELDS[f]][:facet_limit] for f in wanted if f in FIELDS}
    facets.update({f: [] for f in wanted if f not in FIELDS})  # as Solr: a field without values
    return _search_result(resources, page.total, facets, ctx, sort_text)


def _search_result(
    resources: list[Resource],
    total: int,
    facets: Mapping[str, list[tuple[str, int]]],
    ctx: Context,
    sort: str,
) -> dict[str, Any]:
    orgs = service.provider_codes(ctx.db, resources)
    names = _facet_names(ctx, facets)
    return {
        "count": total,
        "sort": sort,
        "results": [package(r, orgs[r.provider_id], ctx.base) for r in resources],
        "facets": {f: {_facet_value(f, v): n for v, n in items} for f, items in facets.items()},
        "search_facets": {
            f: {
                "title": f,
                "items": [
                    {"name": _facet_value(f, v), "display_name": names.get((f, v), v), "count": n}
                    for v, n in items
                ],
            }
            for f, items in facets.items()
        },
    }


def _facet_value(field: str, value: str) -> str:
    return value.upper() if FIELDS.get(field) == "format" else value


def _facet_names(ctx: Context, facets: Mapping[str, list[tuple[str, int]]]) -> dict[tuple[str, str], str]:
    """Display names: department names for organization values (one query for all of them)."""
    providers = {(f, v) for f, items in facets.items() if FIELDS.get(f) == "provider" for v, _ in items}
    orgs = identity.orgs_by_codes(ctx.db, {v for _, v in providers})
    return {(f, v): orgs[v].name for f, v in providers if v in orgs}


def package_show(ctx: Context, params: Params) -> dict[str, Any]:
    """One published dataset by id (the resource code)."""
    resource = published_resource(ctx.db, ctx.actor, _required(params, "id"))
    org = service.provider_codes(ctx.db, [resource])[resource.provider_id]
    return package(resource, org, ctx.base)


def package_list(ctx: Context, params: Params) -> list[str]:
    """Names (codes) of the published datasets, by name; limit and offset page the list."""
    offset = _int(params, "offset", 0) or 0
    limit = _int(params, "limit", None)
    total = search_published(ctx.db, ctx.actor, limit=0).total
    page = search_published(
        ctx.db, ctx.actor, sort="name", limit=limit if limit is not None else total, offset=offset
    )
    return [r.code for r, _ in page.items]


def organization_list(ctx: Context, params: Params) -> list[Any]:
    """Provider departments: names (org codes), or full dicts with package_count (all_fields)."""
    orgs = [o for o in _departments(ctx) if _matches(params, o.code, o.name)]
    sort = str(params.get("sort") or "title asc")
    need_counts = _bool(params, "all_fields") or sort.startswith("package_count")
    numbers = counts(ctx, "provider", [o.code for o in orgs]) if need_counts else {}
    items = [organization(o, numbers.get(o.code, 0) if need_counts else None) for o in orgs]
    ordered = _window(_order(items, params, "title asc"), params)
    return ordered if _bool(params, "all_fields") else [item["name"] for item in ordered]


def organization_show(ctx: Context, params: Params) -> dict[str, Any]:
    """One provider department with its package_count (and its datasets with include_datasets)."""
    org = _department(ctx, _required(params, "id"))
    if not _bool(params, "include_datasets"):
        return organization(org, counts(ctx, "provider", [org.code]).get(org.code, 0))
    page = search_published(ctx.db, ctx.actor, filters={"provider": [org.code]}, sort="name", limit=ROWS_MAX)
    data = organization(org, page.total)
    data["packages"] = [package(r, org, ctx.base) for r, _ in page.items]
    return data


def group_list(ctx: Context, params: Params) -> list[Any]:
    """Themes of the visible published datasets (groups), with package_count under all_fields."""
    themes = search_published(ctx.db, ctx.actor, limit=0, facet_fields=("theme",)).facets["theme"]
    items = [group(t, n) for t, n in themes if _matches(params, t)]
    ordered = _window(_order(items, params, "title asc"), params)
    return ordered if _bool(params, "all_fields") else [item["name"] for item in ordered]


def tag_list(ctx: Context, params: Params) -> list[Any]:
    """Keywords of the visible published datasets (the most used first); ``query`` filters them."""
    keywords = search_published(ctx.db, ctx.actor, limit=0, facet_fields=("keyword",)).facets["keyword"]
    names = [k for k, _ in keywords if _matches(params, k)]
    return [tag(k) for k in names] if _bool(params, "all_fields") else names


def status_show(ctx: Context, params: Params) -> dict[str, Any]:
    """What this site is and which CKAN API it speaks."""
    return {
        "site_title": "一网共享 政务数据资源目录",
        "site_description": "省级政务数据资源目录（CKAN 兼容接口，只读）",
        "site_url": ctx.base,
        "ckan_version": CKAN_VERSION,
        "yiwang_version": __version__,
        "locale_default": "zh_Hans_CN",
        "extensions": [],
    }


def help_show(ctx: Context, params: Params) -> str:
    """The documentation of an action."""
    name = _required(params, "name")
    function = ACTIONS.get(name)
    if function is None:
        raise NotFound(f"操作 {name} 不存在")
    return function.__doc__ or ""


ACTIONS: dict[str, Action] = {
    "package_search": package_search,
    "package_show": package_show,
    "package_list": package_list,
    "organization_list": organization_list,
    "organization_show": organization_show,
    "group_list": group_list,
    "tag_list": tag_list,
    "status_show": status_show,
    "help_show": help_show,
}
