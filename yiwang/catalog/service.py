"""Catalog rules: describe, review, publish, version and revoke data resources.

Verbs take ``(session, actor, ...)``, check the authorization table, record an
audit entry and flush; the entrypoint commits.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from yiwang.catalog import repository as repo
from yiwang.catalog.errors import ImportRejected, ResourceExists, ResourceNotFound, WrongState
from yiwang.catalog.models import Activity, Field, Load, Resource, Version
from yiwang.catalog.schemas import FieldIn, ResourceIn
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, Scope, authorize, reach, register_actions
from yiwang.identity.models import Org
from yiwang.kit import audit, caches, datastore
from yiwang.kit.db import FastSelect, orm_session, utcnow
from yiwang.kit.errors import InvalidInput, PermissionDenied
from yiwang.kit.explain import explain

PROVIDER_ROLES: dict[str, Scope] = {"admin": "all", "operator": "all", "cdo": "subtree", "staff": "own_org"}
REVIEW_ROLES: dict[str, Scope] = {"admin": "all", "operator": "all", "cdo": "subtree"}
EVERYONE: dict[str, Scope] = {r: "all" for r in ("admin", "operator", "cdo", "staff", "auditor")}

register_actions(
    {
        # read published metadata (drafts: only those who may edit them)
        "catalog.view": EVERYONE,
        # create, edit and submit a resource of a provider department
        "catalog.edit": PROVIDER_ROLES,
        # approve or reject a submitted resource or change
        "catalog.review": REVIEW_ROLES,
        # withdraw a published resource from the catalog
        "catalog.revoke": REVIEW_ROLES,
        # import many resources at once (each entry also needs catalog.edit on its provider)
        "catalog.import": {"admin": "all", "operator": "all", "cdo": "subtree"},
        # load data into a resource's table
        "catalog.load": PROVIDER_ROLES,
    }
)

CATEGORY_CODES = {"基础信息资源": "JC", "主题信息资源": "ZT", "部门信息资源": "BM"}
EDITABLE = ("draft", "rejected")
# How stale a resource may get before it is flagged overdue, by update cycle.
CYCLE_DAYS = {"realtime": 1, "daily": 2, "weekly": 8, "monthly": 32, "quarterly": 93, "yearly": 367}
META_COLUMNS = (
    "name",
    "summary",
    "category",
    "format",
    "share_type",
    "share_condition",
    "share_basis",
    "share_method",
    "open_type",
    "update_cycle",
    "level",
    "released",
)
JSON_COLUMNS = ("themes", "keywords", "related")


# ------------------------------------------------------------------ shapes


def shape(resource: Resource, provider_code: str) -> dict[str, Any]:
    """The CONTRACT JSON shape of a resource (as import takes and export gives)."""
    data: dict[str, Any] = {"code": resource.code, "provider": provider_code}
    for column in META_COLUMNS:
        data[column] = getattr(resource, column)
    if data["released"] is not None:
        data["released"] = data["released"].isoformat()
    for column in JSON_COLUMNS:
        data[column] = json.loads(getattr(resource, column))
    data["fields"] = [
        {
            "name": f.name,
            "title": f.title,
            "type": f.type,
            "format": f.format,
            "pi": f.pi,
            "key": f.key,
            "required": f.required,
        }
        for f in resource.fields
    ]
    ordered = ResourceIn.model_fields.keys()
    return {k: data[k] for k in ordered if k in data}


def provider_codes(session: Session, resources: Iterable[Resource]) -> dict[int, Org]:
    return identity.orgs_by_ids(session, {r.provider_id for r in resources})


def is_overdue(resource: Resource) -> bool:
    """A published resource whose last load (or publication) is older than its update cycle."""
    days = CYCLE_DAYS.get(resource.update_cycle)
    if resource.status != "published" or days is None or resource.format != "table":
        return False
    reference = resource.last_load_at or resource.published_at
    return reference is not None and utcnow() - reference > timedelta(days=days)


# ------------------------------------------------------------------ data views for other networks


def field_specs(resource: Resource) -> list[datastore.FieldSpec]:
    """The datastore's field specs of a resource's fields (validated by FieldSpec itself)."""
    specs = []
    for f in resource.fields:
        spec: dict[str, Any] = {
            "name": f.name,
            "title": f.title,
            "type": f.type,
            "format": f.format,
            "pi": f.pi,
            "key": f.key,
            "required": f.required,
        }
        specs.append(datastore.FieldSpec(**spec))
    return specs


def data_table_name(resource: Resource) -> str:
    """One table per resource and published version: a change of fields starts a new, empty table."""
    return f"r{resource.id}_v{resource.version}"


@dataclass(frozen=True)
class DataView:
    """What another network (sharing's gateway, the exchange) needs to serve a resource's data.

    Built from the published resource, never handed out as the ORM row: other networks
    read the catalog through this, not through its tables.
    """

    id: int
    code: str
    name: str
    status: str
    format: str
    share_type: str
    share_basis: str
    provider_id: int
    provider_code: str
    provider_path: str
    table: str | None  # the datastore table, None until data is loaded
    fields: tuple[datastore.FieldSpec, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.key)


# Views by code, with the stamp they were built from: the gateway asks for one on every call,
# and rebuilding it (resource, fields, provider) costs three queries; checking the stamp, one.
_VIEWS: dict[str, tuple[tuple[Any, ...], DataView]] = {}
_VIEWS_MAX = 4096
caches.register(_VIEWS.clear)


# What tells a cached view is still current; built once (building a statement costs more than
# running it, and the gateway asks this on every call).
_STAMP = FastSelect(
    select(
        Resource.id,
        Resource.version,
        Resource.status,
        Resource.data_table,
        Resource.updated_at,
        Resource.share_type,
        Resource.share_basis,
        Resource.provider_id,
    ).where(Resource.code == bindparam("code"))
)


def data_view(db: Session | Connection, code: str) -> DataView:
    """The view of resource ``code`` for serving its data; ResourceNotFound when unknown.

    ``db`` may be a bare Core connection (the gateway's hot path): one query when the view is
    cached and current, the ORM only to build it afresh."""
    found = _STAMP.tuples(db, {"code": code})
    if not found:
        raise ResourceNotFound(f"资源 {code} 不存在")
    stamp = found[0]
    cached = _VIEWS.get(code)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    view = _build_view(orm_session(db), code)
    if len(_VIEWS) >= _VIEWS_MAX:
        _VIEWS.clear()
    _VIEWS[code] = (stamp, view)
    return view


def _build_view(session: Session, code: str) -> DataView:
    resource = load(session, code)
    org = identity.orgs_by_ids(session, {resource.provider_id})[resource.provider_id]
    return DataView(
        id=resource.id,
        code=resource.code,
        name=resource.name,
        status=resource.status,
        format=resource.format,
        share_type=resource.share_type,
        share_basis=resource.share_basis,
        provider_id=resource.provider_id,
        provider_code=org.code,
        provider_path=org.path,
        table=resource.data_table,
        fields=tuple(field_specs(resource)),
    )


def freshness(session: Session, codes: Sequence[str]) -> dict[str, str]:
    """Each resource's state for duty lists and consoles: current | overdue | unpublished."""
    resources = repo.resources_by_codes(session, list(codes))
    return {
        r.code: "unpublished" if r.status != "published" else "overdue" if is_overdue(r) else "current"
        for r in resources
    }


def data_stamp(session: Session, code: str) -> str:
    """A value that changes whenever the resource's data changes (its latest load's id and
    content hash): lets another network keep a derived copy (the exchange's sandbox) fresh."""
    row = session.execute(
        select(Load.id, Load.content_hash)
        .join(Resource, Resource.id == Load.resource_id)
        .where(Resource.code == code)
        .order_by(Load.id.desc())
        .limit(1)
    ).first()
    return "" if row is None else f"{row.id}-{row.content_hash[:16]}"


@dataclass(frozen=True)
class Standing:
    """A published resource's standing for a console: how complete its description, how fresh."""

    id: int
    code: str
    name: str
    provider_id: int
    completeness: float  # share of the recommended metadata present, 0..1
    state: str  # current | overdue
    request_count: int


def standings(session: Session, provider_ids: Sequence[int] | None) -> list[Standing]:
    """Published resources of the given providers (all when None) with completeness and freshness."""
    query = repo.resources_query(
        provider_ids=list(provider_ids) if provider_ids is not None else None, statuses=["published"]
    )
    resources = list(session.execute(query).scalars())
    return [
        Standing(
            id=r.id,
            code=r.code,
            name=r.name,
            provider_id=r.provider_id,
            completeness=_completeness(r),
            state="overdue" if is_overdue(r) else "current",
            request_count=r.request_count,
        )
        for r in resources
    ]


def _completeness(resource: Resource) -> float:
    checks = [
        bool(resource.summary.strip()),
        resource.keywords not in ("", "[]"),
        resource.themes not in ("", "[]"),
        resource.released is not None,
        bool(resource.fields) and all(f.title and f.title != f.name for f in resource.fields),
        resource.share_type != "conditional" or bool(resource.share_condition.strip()),
    ]
    return sum(checks) / len(checks)


def count_request(session: Session, resource_id: int) -> None:
    """One more sharing request for a resource: feeds the catalog's "most requested" sort."""
    session.execute(
        update(Resource).where(Resource.id == resource_id).values(request_count=Resource.request_count + 1)
    )


# ------------------------------------------------------------------ authorization helpers


def _provider_org(session: Session, code: str, *, field: str = "provider") -> Org:
    org = identity.org_by_code(session, code)
    if org is None:
        raise InvalidInput(f"提供部门 {code} 不存在", details={"field": field})
    if org.kind != "department":
        raise InvalidInput(f"{code}（{org.name}）是区域，提供方应为部门", details={"field": field})
    return org


def region_of(org: Org) -> str:
    """The region a department belongs to: the nearest all-digit (GB/T 2260) code on its path."""
    return next((part for part in reversed(org.path.strip("/").split("/")) if part.isdigit()), "")


def authorize_on(session: Session, actor: Actor, action: str, resource: Resource) -> Org:
    org = identity.orgs_by_ids(session, {resource.provider_id})[resource.provider_id]
    authorize(actor, action, org_path=org.path, target_type="resource", target_id=resource.code)
    return org


def may_edit(actor: Actor, org: Org) -> bool:
    try:
        authorize(actor, "catalog.edit", org_path=org.path)
    except AccessDenied:
        return False
    return True


def load(session: Session, code: str) -> Resource:
    resource = repo.resource_by_code(session, code)
    if resource is None:
        raise ResourceNotFound(f"资源 {code} 不存在")
    return resource


def note(session: Session, actor: Actor, resource: Resource, action: str, **details: Any) -> None:
    """Record an act twice: in the resource's history for people, in the audit log as proof."""
    session.add(
        Activity(
            resource_id=resource.id,
            actor=actor.username,
            action=action,
            details=audit.canonical_json(details),
        )
    )
    audit.record(
        session, actor, f"catalog.{action}", target_type="resource", target_id=resource.code, details=details
    )


# ------------------------------------------------------------------ verbs


def create_resource(session: Session, actor: Actor, data: ResourceIn) -> Resource:
    """Describe a new resource (a draft of the provider department)."""
    org = _provider_org(session, data.provider)
    authorize(
        actor, "catalog.edit", org_path=org.path, target_type="resource", target_id=data.code or data.name
    )
    if data.code and repo.resource_by_code(session, data.code, with_fields=False) is not None:
        raise ResourceExists(f"资源代码 {data.code} 已存在", details={"field": "code"})
    return _create(session, actor, data, org)


def _create(session: Session, actor: Actor, data: ResourceIn, org: Org) -> Resource:
    """Insert a draft whose provider, permission and code the caller has checked."""
    code = data.code or _generate_code(session, data.category, org.code)
    resource = Resource(code=code, provider_id=org.id, region_code=region_of(org), status="draft", version=0)
    _apply(session, resource, data)
    session.add(resource)
    session.flush()
    note(session, actor, resource, "create", name=data.name)
    return resource


def _generate_code(session: Session, category: str, provider: str) -> str:
    prefix = f"{CATEGORY_CODES.get(category.split('/')[0], 'QT')}-{provider}"
    return f"{prefix}-{repo.next_sequence(session, prefix):05d}"


def _apply(session: Session, resource: Resource, data: ResourceIn) -> None:
    if resource.id is not None:
        # Delete the old fields first: the unit of work would insert the new ones before deleting
        # the old, and (resource, name) is unique.
        resource.fields = []
        session.flush()
    for column in META_COLUMNS:
        setattr(resource, column, getattr(data, column))
    for column in JSON_COLUMNS:
        setattr(resource, column, json.dumps(getattr(data, column), ensure_ascii=False))
    resource.fields = [_field_row(i, f) for i, f in enumerate(data.fields)]
    resource.updated_at = utcnow()


def _field_row(position: int, f: FieldIn) -> Field:
    return Field(
        position=position,
        name=f.name,
        title=f.title,
        type=f.type,
        format=f.format,
        pi=f.pi,
        key=f.key,
        required=f.required,
    )


def update_resource(session: Session, actor: Actor, code: str, data: ResourceIn) -> Resource:
    """Edit a draft; for a published resource, propose a change that waits for review."""
    resource = load(session, code)
    authorize_on(session, actor, "catalog.edit", resource)
    if data.code and data.code != code:
        raise InvalidInput("资源代码不能修改", details={"field": "code"})
    org = _provider_org(session, data.provider)
    if org.id != resource.provider_id:
        raise InvalidInput("提供部门不能修改；请由新部门重新编目", details={"field": "provider"})
    if resource.status in EDITABLE:
        _apply(session, resource, data)
        resource.status, resource.status_reason = "draft", ""
        note(session, actor, resource, "update")
    elif resource.status == "published":
        resource.pending = data.model_dump_json(exclude={"code"})
        resource.pending_status, resource.pending_reason = "draft", ""
        note(session, actor, resource, "propose_change")
    else:
        raise WrongState(f"资源 {code} 当前状态为 {resource.status}，不能编辑")
    session.flush()
    return resource


def submit_resource(session: Session, actor: Actor, code: str) -> Resource:
    """Send a draft (or a proposed change) to the provider's CDO for review."""
    resource = load(session, code)
    authorize_on(session, actor, "catalog.edit", resource)
    if resource.status == "draft":
        resource.status = "submitted"
    elif resource.status == "published" and resource.pending_status in ("draft", "rejected"):
        resource.pending_status = "submitted"
    else:
        raise WrongState(f"资源 {code} 当前没有可提交的草稿")
    note(session, actor, resource, "submit")
    session.flush()
    return resource


def review_resource(
    session: Session, actor: Actor, code: str, *, approve: bool, reason: str = ""
) -> Resource:
    """The CDO's (or operator's) decision: publish, or reject with a reason."""
    resource = load(session, code)
    authorize_on(session, actor, "catalog.review", resource)
    if not approve and not reason.strip():
        raise InvalidInput("驳回必须说明理由", details={"field": "reason"})
    if resource.status == "submitted":
        if approve:
            _publish(session, actor, resource, previous=None)
        else:
            resource.status, resource.status_reason = "rejected", reason.strip()
            note(session, actor, resource, "reject", reason=reason.strip())
    elif resource.status == "published" and resource.pending_status == "submitted":
        if approve:
            previous = _snapshot(resource)
            _apply(session, resource, ResourceIn.model_validate_json(resource.pending or "{}"))
            resource.pending, resource.pending_status = None, None
            _publish(session, actor, resource, previous=previous)
        else:
            resource.pending_status, resource.pending_reason = "rejected", reason.strip()
            note(session, actor, resource, "reject_change", reason=reason.strip())
    else:
        raise WrongState(f"资源 {code} 没有待审核的内容")
    session.flush()
    return resource


def _snapshot(resource: Resource) -> dict[str, Any]:
    return shape(resource, provider_code="")


def _publish(session: Session, actor: Actor, resource: Resource, previous: dict[str, Any] | None) -> None:
    session.flush()
    session.refresh(resource, attribute_names=["fields"])
    now = utcnow()
    resource.status, resource.status_reason = "published", ""
    resource.version += 1
    resource.published_at = now
    snapshot = _snapshot(resource)
    diff = {
        k: [previous.get(k), v] for k, v in snapshot.items() if previous is not None and previous.get(k) != v
    }
    session.add(
        Version(
            resource_id=resource.id,
            version=resource.version,
            snapshot=audit.canonical_json(snapshot),
            diff=audit.canonical_json(diff),
            published_by=actor.username,
        )
    )
    note(session, actor, resource, "publish", version=resource.version, changed=sorted(diff))
    _after_publish(session, resource)


def revoke_resource(session: Session, actor: Actor, code: str, *, reason: str) -> Resource:
    """Withdraw a published resource; it leaves search and can no longer be requested."""
    resource = load(session, code)
    authorize_on(session, actor, "catalog.revoke", resource)
    if resource.status != "published":
        raise WrongState(f"只能撤销已发布的资源（{code} 当前为 {resource.status}）")
    if not reason.strip():
        raise InvalidInput("撤销必须说明理由", details={"field": "reason"})
    resource.status, resource.status_reason = "revoked", reason.strip()
    note(session, actor, resource, "revoke", reason=reason.strip())
    _after_revoke(session, resource)
    session.flush()
    return resource


def get_resource(session: Session, actor: Actor | None, code: str) -> Resource:
    """A resource as the actor may see it: published ones to everyone signed in (the open subset to
    the public); drafts and history only to those who may edit or review them."""
    resource = repo.resource_by_code(session, code)
    if resource is None:
        raise ResourceNotFound(f"资源 {code} 不存在")
    if actor is None:
        if resource.status == "published" and resource.open_type == "unconditional":
            return resource
        raise ResourceNotFound(f"资源 {code} 不存在")
    authorize(actor, "catalog.view", target_type="resource", target_id=code)
    if resource.status != "published":
        org = identity.orgs_by_ids(session, {resource.provider_id})[resource.provider_id]
        if not (may_edit(actor, org) or may_review(actor, org)):
            raise ResourceNotFound(f"资源 {code} 不存在")
    return resource


def may_review(actor: Actor, org: Org) -> bool:
    try:
        authorize(actor, "catalog.review", org_path=org.path)
    except AccessDenied:
        return False
    return True


def list_for_actor(
    session: Session, actor: Actor, *, statuses: list[str] | None = None, provider: str | None = None
) -> list[Resource]:
    """Resources the actor works on: its departments' (staff), its region's (CDO), all (operator)."""
    scope = reach(actor, "catalog.edit")
    if scope is None:
        raise PermissionDenied("当前角色不能管理目录")
    orgs = identity.list_orgs(session, actor, under=None if scope == "all" else actor.org_code)
    if scope == "own_org":
        orgs = [o for o in orgs if o.code == actor.org_code]
    if provider:
        orgs = [o for o in orgs if o.code == provider]
    query = repo.resources_query(provider_ids=[o.id for o in orgs], statuses=statuses)
    return list(session.execute(query).scalars())


def review_queue(session: Session, actor: Actor) -> list[Resource]:
    """Submitted resources and changes waiting for this reviewer."""
    if reach(actor, "catalog.review") is None:
        raise PermissionDenied("只有首席数据官或平台运营可以审核目录")
    items = list_for_actor(session, actor, statuses=["submitted", "published"])
    return [r for r in items if r.status == "submitted" or r.pending_status == "submitted"]


# ------------------------------------------------------------------ search


def search(
    session: Session,
    actor: Actor | None,
    *,
    q: str = "",
    filters: Mapping[str, Sequence[str]] | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
) -> Any:
    """Published resources for the actor: everything signed-in callers may see, the open subset to
    the public (``actor=None``)."""
    from yiwang.catalog import search as catalog_search

    if actor is not None:
        authorize(actor, "catalog.view", target_type="catalog", target_id="search")
    return catalog_search.search_resources(
        session, q=q, filters=filters, open_only=actor is None, sort=sort, limit=limit, offset=offset
    )


def highlight(text: str, q: str) -> str:
    """``text`` HTML-escaped with the query's hits in <mark>."""
    from yiwang.kit import search as index

    return index.highlight(text, q) if q.strip() else html.escape(text)


# ------------------------------------------------------------------ import and export


def import_resources(
    session: Session, actor: Actor, items: Sequence[Mapping[str, Any]], *, publish: bool = False
) -> list[Resource]:
    """All-or-nothing import. Every bad entry is reported (index, field, reason); none is created."""
    authorize(actor, "catalog.import", target_type="catalog", target_id=f"{len(items)} entries")
    if publish:
        authorize(actor, "catalog.review", target_type="catalog", target_id="import --publish")
    problems: list[dict[str, Any]] = []
    parsed: list[tuple[int, ResourceIn]] = []
    for index, item in enumerate(items):
        try:
            parsed.append((index, ResourceIn.model_validate(item)))
        except ValidationError as exc:
            problems += [{"index": index, **p} for p in explain(exc.errors())]
    codes = [d.code for _, d in parsed if d.code]
    taken = repo.existing_codes(session, codes)
    orgs = identity.orgs_by_codes(session, {d.provider for _, d in parsed})
    seen: set[str] = set()
    for index, data in parsed:
        if data.code and (data.code in taken or data.code in seen):
            problems.append(
                {"index": index, "field": "code", "reason": f"资源代码 {data.code} 已存在或在文件中重复"}
            )
        seen.add(data.code or "")
        org = orgs.get(data.provider)
        if org is None or org.kind != "department":
            problems.append(
                {"index": index, "field": "provider", "reason": f"提供部门 {data.provider} 不存在"}
            )
        elif not may_edit(actor, org):
            problems.append({"index": index, "field": "provider", "reason": f"无权为 {data.provider} 编目"})
    if problems:
        entries = sorted({p["index"] for p in problems})
        raise ImportRejected(
            f"导入未执行：{len(entries)} 个条目有误（第 {', '.join(str(i) for i in entries[:10])} 条"
            f"{' 等' if len(entries) > 10 else ''}），请改正后重新导入",
            details=problems,
        )
    created = []
    for _, data in parsed:
        resource = _create(session, actor, data, orgs[data.provider])
        if publish:
            resource.status = "submitted"
            _publish(session, actor, resource, previous=None)
        created.append(resource)
    audit.record(
        session,
        actor,
        "catalog.import",
        target_type="catalog",
        target_id=str(len(created)),
        details={"count": len(created), "published": publish},
    )
    session.flush()
    return created


def export_resources(session: Session, actor: Actor, *, provider: str | None = None) -> list[dict[str, Any]]:
    """Published resources (optionally of one provider) in the import shape."""
    authorize(actor, "catalog.view", target_type="catalog", target_id=provider or "all")
    provider_ids = None
    if provider:
        org = identity.org_by_code(session, provider)
        if org is None:
            raise InvalidInput(f"提供部门 {provider} 不存在", details={"field": "provider"})
        provider_ids = [org.id]
    resources = list(
        session.execute(repo.resources_query(provider_ids=provider_ids, statuses=["published"])).scalars()
    )
    orgs = provider_codes(session, resources)
    return [shape(r, orgs[r.provider_id].code) for r in resources]


# ------------------------------------------------------------------ hooks filled by search and data


def _after_publish(session: Session, resource: Resource) -> None:
    """Keep the facets' tags and the search index in step with what is published."""
    from yiwang.catalog import search

    repo.replace_tags(
        session, resource.id, themes=json.loads(resource.themes), keywords=json.loads(resource.keywords)
    )
    search.index_resource(session, resource)


def _after_revoke(session: Session, resource: Resource) -> None:
    from yiwang.catalog import search

    repo.replace_tags(session, resource.id, themes=[], keywords=[])
    search.unindex_resource(session, resource)
