"""Data of table resources: validated, all-or-nothing loads into the datastore, and masked previews."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from yiwang.catalog import service
from yiwang.catalog.errors import WrongState
from yiwang.catalog.models import Field, Load
from yiwang.catalog.service import data_table_name, field_specs
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit import datastore
from yiwang.kit.db import utcnow
from yiwang.kit.errors import InvalidInput, PermissionDenied
from yiwang.kit.masking import mask_record


def load_data(
    session: Session,
    actor: Actor,
    code: str,
    stream: Any,
    filename: str,
    mode: str = "replace",
    *,
    suite: str = "standard",
    progress: Any = None,
) -> Load:
    """Validate every row and load them, all-or-nothing; record the load (count, hash, who, when)."""
    resource = service.load(session, code)
    service.authorize_on(session, actor, "catalog.load", resource)
    if resource.format != "table":
        raise WrongState(f"资源 {code} 不是表格类资源，不能装载数据")
    if resource.status != "published":
        raise WrongState(f"资源 {code} 尚未发布，发布后才能装载数据")
    if mode not in ("replace", "append", "upsert"):
        raise InvalidInput(f"装载方式 {mode} 无效，可选 replace、append、upsert", details={"field": "mode"})
    specs = field_specs(resource)
    if mode == "upsert" and not any(s.key for s in specs):
        raise InvalidInput("资源没有主键信息项，不能按主键更新（upsert）", details={"field": "mode"})
    table = data_table_name(resource)
    datastore.ensure_table(session, table, specs)
    file_format = _file_format(filename)
    rows = datastore.read_rows(stream, file_format, specs)
    result = datastore.load(session, table, specs, rows, mode=mode, suite=suite, progress=progress)
    now = utcnow()
    record = Load(
        resource_id=resource.id,
        actor=actor.username,
        mode=mode,
        source=filename[:200],
        row_count=result.count,
        inserted=result.inserted,
        updated=result.updated,
        content_hash=result.content_hash,
        hash_suite=suite,
        at=now,
    )
    session.add(record)
    resource.data_table = table
    resource.row_count = datastore.count_rows(session, table)
    resource.last_load_at = now
    service.note(
        session,
        actor,
        resource,
        "load",
        mode=mode,
        rows=result.count,
        hash=result.content_hash,
        source=filename[:200],
    )
    session.flush()
    return record


def _file_format(filename: str) -> str:
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    formats = {"csv": "csv", "txt": "csv", "xlsx": "xlsx", "json": "json", "jsonl": "json", "ndjson": "json"}
    if suffix not in formats:
        raise InvalidInput(f"不支持的文件类型 .{suffix}：请上传 CSV、XLSX 或 JSON", details={"field": "file"})
    return formats[suffix]


def preview(
    session: Session, actor: Actor, code: str, limit: int = 10
) -> tuple[list[Field], list[dict[str, Any]]]:
    """The first rows with personal information masked. Others than the provider see it only for
    unconditionally shared resources."""

    resource = service.get_resource(session, actor, code)
    org = identity.orgs_by_ids(session, {resource.provider_id})[resource.provider_id]
    if not (
        service.may_edit(actor, org)
        or service.may_review(actor, org)
        or resource.share_type == "unconditional"
    ):
        raise PermissionDenied("此资源为有条件共享或不予共享，需申请授权后经数据网关获取")
    if not resource.data_table:
        return list(resource.fields), []
    specs = field_specs(resource)
    rows = datastore.read_page(session, resource.data_table, specs, limit=max(1, min(limit, 50)))
    pi = {f.name: f.pi for f in resource.fields}
    return list(resource.fields), [mask_record(row, pi)[0] for row in rows]
