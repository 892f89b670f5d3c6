"""REST endpoints for the data of table resources (/api/v1/catalog/resources/{code}/...)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile

from yiwang.catalog import data, service
from yiwang.catalog import repository as repo
from yiwang.catalog.api import CODE, ERRORS
from yiwang.catalog.schemas import LoadOut
from yiwang.http import CurrentActor, DbSession, platform

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])


@router.post("/resources/{code}/data", response_model=LoadOut, status_code=201, responses=ERRORS)
def load_data(
    request: Request,
    code: CODE,
    actor: CurrentActor,
    db: DbSession,
    file: Annotated[UploadFile, File(description="CSV（UTF-8 或 GB18030）、XLSX 或 JSON")],
    mode: Annotated[str, Query(pattern="^(replace|append|upsert)$")] = "replace",
) -> LoadOut:
    """Load rows into a table resource. Any bad row rejects the whole file (422, each bad row listed)."""
    load = data.load_data(
        db,
        actor,
        code,
        file.file,
        file.filename or "upload.csv",
        mode,
        suite=platform(request).keyring.suite_name,
    )
    return LoadOut(
        resource=code,
        mode=load.mode,
        row_count=load.row_count,
        inserted=load.inserted,
        updated=load.updated,
        content_hash=load.content_hash,
        hash_suite=load.hash_suite,
        at=load.at,
        actor=load.actor,
    )


@router.get("/resources/{code}/loads", response_model=list[LoadOut], responses=ERRORS)
def loads(code: CODE, actor: CurrentActor, db: DbSession) -> list[LoadOut]:
    """The load history, newest first."""
    resource = service.get_resource(db, actor, code)
    return [
        LoadOut(
            resource=code,
            mode=x.mode,
            row_count=x.row_count,
            inserted=x.inserted,
            updated=x.updated,
            content_hash=x.content_hash,
            hash_suite=x.hash_suite,
            at=x.at,
            actor=x.actor,
        )
        for x in repo.loads(db, resource.id)
    ]


@router.get("/resources/{code}/preview", responses=ERRORS)
def preview(
    code: CODE, actor: CurrentActor, db: DbSession, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> dict[str, Any]:
    """The first rows, personal information masked."""
    fields, rows = data.preview(db, actor, code, limit=limit)
    return {"fields": [{"name": f.name, "title": f.title, "pi": f.pi} for f in fields], "rows": rows}
