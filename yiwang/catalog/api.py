"""REST endpoints of the catalog (/api/v1/catalog/...)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from yiwang.catalog import repository as repo
from yiwang.catalog import service
from yiwang.catalog.models import Resource
from yiwang.catalog.schemas import Decision, ResourceIn, ResourceOut, Revocation
from yiwang.http import CurrentActor, DbSession
from yiwang.identity.models import Org

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
CODE = Annotated[str, "resource code"]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录"},
    403: {"description": "无权执行"},
    404: {"description": "资源不存在"},
    409: {"description": "状态不允许"},
    422: {"description": "输入不合规"},
}


def to_out(resource: Resource, org: Org) -> ResourceOut:
    data = service.shape(resource, org.code)
    return ResourceOut(
        **data,
        provider_name=org.name,
        status=resource.status,
        status_reason=resource.status_reason,
        version=resource.version,
        pending_status=resource.pending_status,
        created_at=resource.created_at,
        updated_at=resource.updated_at,
        published_at=resource.published_at,
        row_count=resource.row_count,
        last_load_at=resource.last_load_at,
        overdue=service.is_overdue(resource),
        request_count=resource.request_count,
    )


def _out(db: DbSession, resource: Resource) -> ResourceOut:
    org = service.provider_codes(db, [resource])[resource.provider_id]
    return to_out(resource, org)


def _outs(db: DbSession, resources: list[Resource]) -> list[ResourceOut]:
    orgs = service.provider_codes(db, resources)
    return [to_out(r, orgs[r.provider_id]) for r in resources]


@router.post("/resources", response_model=ResourceOut, status_code=201, responses=ERRORS)
def create_resource(body: ResourceIn, actor: CurrentActor, db: DbSession) -> ResourceOut:
    """Describe a new resource (draft)."""
    resource = service.create_resource(db, actor, body)
    db.refresh(resource, attribute_names=["fields"])
    return _out(db, resource)


@router.get("/search", responses=ERRORS)
def search(
    actor: CurrentActor,
    db: DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    provider: Annotated[list[str] | None, Query(max_length=20)] = None,
    region: Annotated[list[str] | None, Query(max_length=20)] = None,
    theme: Annotated[list[str] | None, Query(max_length=20)] = None,
    keyword: Annotated[list[str] | None, Query(max_length=20)] = None,
    share_type: Annotated[list[str] | None, Query(max_length=3)] = None,
    open_type: Annotated[list[str] | None, Query(max_length=3)] = None,
    level: Annotated[list[str] | None, Query(max_length=3)] = None,
    format: Annotated[list[str] | None, Query(max_length=3)] = None,
    update_cycle: Annotated[list[str] | None, Query(max_length=7)] = None,
    sort: Annotated[str, Query(pattern="^(relevance|newest|requested|name)$")] = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    """Search published resources in Chinese (words inside words, pinyin, initials) with facets."""
    filters = {
        "provider": provider,
        "region": region,
        "theme": theme,
        "keyword": keyword,
        "share_type": share_type,
        "open_type": open_type,
        "level": level,
        "format": format,
        "update_cycle": update_cycle,
    }
    page = service.search(
        db, actor, q=q, filters={k: v for k, v in filters.items() if v}, sort=sort, limit=limit, offset=offset
    )
    outs = _outs(db, [r for r, _ in page.items])
    return {
        "total": page.total,
        "results": [
            {**o.model_dump(mode="json"), "score": score, "highlight": service.highlight(o.name, q)}
            for o, (_, score) in zip(outs, page.items, strict=True)
        ],
        "facets": {
            name: [{"value": v, "count": n} for v, n in counts] for name, counts in page.facets.items()
        },
    }


@router.get("/resources/mine", response_model=list[ResourceOut], responses=ERRORS)
def my_resources(
    actor: CurrentActor,
    db: DbSession,
    status: Annotated[str | None, Query(pattern="^(draft|submitted|published|rejected|revoked)$")] = None,
) -> list[ResourceOut]:
    """Resources of the departments the caller catalogues for."""
    return _outs(db, service.list_for_actor(db, actor, statuses=[status] if status else None))


@router.get("/review-queue", response_model=list[ResourceOut], responses=ERRORS)
def review_queue(actor: CurrentActor, db: DbSession) -> list[ResourceOut]:
    """Submitted resources and changes waiting for the caller's review."""
    return _outs(db, service.review_queue(db, actor))


@router.get("/resources/{code}", response_model=ResourceOut, responses=ERRORS)
def get_resource(code: CODE, actor: CurrentActor, db: DbSession) -> ResourceOut:
    return _out(db, service.get_resource(db, actor, code))


@router.put("/resources/{code}", response_model=ResourceOut, responses=ERRORS)
def update_resource(code: CODE, body: ResourceIn, actor: CurrentActor, db: DbSession) -> ResourceOut:
    """Edit a draft, or propose a change to a published resource (it waits for review)."""
    resource = service.update_resource(db, actor, code, body)
    db.refresh(resource, attribute_names=["fields"])
    return _out(db, resource)


@router.post("/resources/{code}/submit", response_model=ResourceOut, responses=ERRORS)
def submit_resource(code: CODE, actor: CurrentActor, db: DbSession) -> ResourceOut:
    return _out(db, service.submit_resource(db, actor, code))


@router.post("/resources/{code}/review", response_model=ResourceOut, responses=ERRORS)
def review_resource(code: CODE, body: Decision, actor: CurrentActor, db: DbSession) -> ResourceOut:
    """Publish (``approve: true``) or reject with a reason."""
    resource = service.review_resource(db, actor, code, approve=body.approve, reason=body.reason)
    db.refresh(resource, attribute_names=["fields"])
    return _out(db, resource)


@router.post("/resources/{code}/revoke", response_model=ResourceOut, responses=ERRORS)
def revoke_resource(code: CODE, body: Revocation, actor: CurrentActor, db: DbSession) -> ResourceOut:
    return _out(db, service.revoke_resource(db, actor, code, reason=body.reason))


@router.get("/resources/{code}/history", responses=ERRORS)
def history(code: CODE, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Published versions with their diffs, and the activity history."""
    resource = service.get_resource(db, actor, code)
    return {
        "versions": [
            {
                "version": v.version,
                "published_at": v.published_at.isoformat() + "Z",
                "published_by": v.published_by,
                "diff": json.loads(v.diff),
            }
            for v in repo.versions(db, resource.id)
        ],
        "activity": [
            {
                "at": a.at.isoformat() + "Z",
                "actor": a.actor,
                "action": a.action,
                "details": json.loads(a.details),
            }
            for a in repo.activity(db, resource.id)
        ],
    }


@router.post("/import", response_model=list[ResourceOut], status_code=201, responses=ERRORS)
def import_resources(
    actor: CurrentActor,
    db: DbSession,
    items: Annotated[list[dict[str, Any]], Body(max_length=10_000)],
    publish: bool = False,
) -> list[ResourceOut]:
    """All-or-nothing import of resources in the contract shape; every bad entry is reported."""
    created = service.import_resources(db, actor, items, publish=publish)
    for resource in created:
        db.refresh(resource, attribute_names=["fields"])
    return _outs(db, created)


@router.get("/export", responses=ERRORS)
def export_resources(
    actor: CurrentActor, db: DbSession, provider: Annotated[str | None, Query(max_length=64)] = None
) -> list[dict[str, Any]]:
    """Published resources in the import shape."""
    return service.export_resources(db, actor, provider=provider)
