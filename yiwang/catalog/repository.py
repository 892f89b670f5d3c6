"""Every query of the catalog."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session, selectinload

from yiwang.catalog.models import Activity, CategorySequence, Load, Resource, Tag, Version


def resource_by_code(session: Session, code: str, *, with_fields: bool = True) -> Resource | None:
    query = select(Resource).where(Resource.code == code)
    if with_fields:
        query = query.options(selectinload(Resource.fields))
    return session.execute(query).scalar_one_or_none()


def resources_by_codes(session: Session, codes: list[str]) -> list[Resource]:
    if not codes:
        return []
    query = select(Resource).where(Resource.code.in_(codes)).options(selectinload(Resource.fields))
    by_code = {r.code: r for r in session.execute(query).scalars()}
    return [by_code[c] for c in codes if c in by_code]


def existing_codes(session: Session, codes: list[str]) -> set[str]:
    if not codes:
        return set()
    return set(session.execute(select(Resource.code).where(Resource.code.in_(codes))).scalars())


def resources_query(
    *, provider_ids: list[int] | None = None, statuses: list[str] | None = None
) -> Select[Any]:
    query = select(Resource).options(selectinload(Resource.fields)).order_by(Resource.code)
    if provider_ids is not None:
        query = query.where(Resource.provider_id.in_(provider_ids))
    if statuses is not None:
        query = query.where(Resource.status.in_(statuses))
    return query


def next_sequence(session: Session, prefix: str) -> int:
    """The next number for ``prefix``; the row lock (PostgreSQL) or write lock (SQLite) serialises callers."""
    row = session.execute(
        select(CategorySequence).where(CategorySequence.prefix == prefix).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = CategorySequence(prefix=prefix, last=0)
        session.add(row)
    row.last += 1
    session.flush()
    return row.last


def activity(session: Session, resource_id: int, limit: int = 100) -> list[Activity]:
    return list(
        session.execute(
            select(Activity)
            .where(Activity.resource_id == resource_id)
            .order_by(Activity.id.desc())
            .limit(limit)
        ).scalars()
    )


def versions(session: Session, resource_id: int) -> list[Version]:
    return list(
        session.execute(
            select(Version).where(Version.resource_id == resource_id).order_by(Version.version.desc())
        ).scalars()
    )


def loads(session: Session, resource_id: int, limit: int = 50) -> list[Load]:
    return list(
        session.execute(
            select(Load).where(Load.resource_id == resource_id).order_by(Load.id.desc()).limit(limit)
        ).scalars()
    )


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Resource.status, func.count()).group_by(Resource.status)).all()
    return {status: n for status, n in rows}


def replace_tags(session: Session, resource_id: int, *, themes: list[str], keywords: list[str]) -> None:
    session.execute(delete(Tag).where(Tag.resource_id == resource_id))
    rows = [{"resource_id": resource_id, "kind": "theme", "value": v} for v in dict.fromkeys(themes)]
    rows += [{"resource_id": resource_id, "kind": "keyword", "value": v} for v in dict.fromkeys(keywords)]
    if rows:
        session.execute(insert(Tag), rows)
