"""Catalog search: keeps the kit search index in step with published resources."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, union_all
from sqlalchemy.orm import Session, selectinload

from yiwang.catalog.models import Resource, Tag
from yiwang.identity import service as identity
from yiwang.identity.models import Org
from yiwang.kit import search as index

KIND = "resource"


def index_resource(session: Session, resource: Resource) -> None:
    """(Re)index a published resource: name; keywords, themes; summary, field titles, provider, category."""
    org = identity.orgs_by_ids(session, {resource.provider_id})[resource.provider_id]
    keywords = " ".join(json.loads(resource.keywords) + json.loads(resource.themes))
    body = " ".join(
        [resource.summary, resource.category, org.name, *(f"{f.title} {f.name}" for f in resource.fields)]
    )
    index.index_document(session, KIND, resource.code, title=resource.name, keywords=keywords, body=body)


def unindex_resource(session: Session, resource: Resource) -> None:
    index.remove_document(session, KIND, resource.code)


FACETS = (
    "provider",
    "region",
    "theme",
    "keyword",
    "share_type",
    "open_type",
    "level",
    "format",
    "update_cycle",
)
SORTS = ("relevance", "newest", "requested", "name")


@dataclass
class SearchPage:
    total: int
    items: list[tuple[Resource, float]]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def search_resources(
    session: Session,
    *,
    q: str = "",
    filters: Mapping[str, Sequence[str]] | None = None,
    open_only: bool = False,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
    facet_fields: Sequence[str] = FACETS,
) -> SearchPage:
    """Published resources matching ``q`` (Chinese, pinyin, code) and the facet ``filters``.

    ``open_only`` restricts to the open-data subset (anonymous callers). An exact resource code
    as ``q`` finds that resource first. Facet counts are over the whole filtered result.
    """
    filters = {k: list(v) for k, v in (filters or {}).items() if v}
    q = q.strip()
    if q:
        # Evaluate the full-text match once; count, page and every facet then reuse the id set
        # (as a subquery the match would run again for each of them).
        scores = _matched_scores(session, q)
        if len(scores) <= MATERIALISE_LIMIT:
            return _search_within(session, scores, filters, open_only, sort, limit, offset, facet_fields)
    base = select(Resource.id.label("rid"), literal(0.0).label("score")).where(Resource.status == "published")
    if q:
        matches = index.match_subquery(session, KIND, q).subquery()
        scored = (
            select(Resource.id.label("rid"), matches.c.score.label("score"))
            .join(matches, matches.c.key == Resource.code)
            .where(Resource.status == "published")
        )
        exact = select(Resource.id.label("rid"), literal(1e9).label("score")).where(
            Resource.status == "published", Resource.code == q
        )
        base = union_all(scored, exact)  # type: ignore[assignment]
    hits = base.subquery()
    ranked = select(hits.c.rid, func.max(hits.c.score).label("score")).group_by(hits.c.rid).subquery()
    conditions = _filter_conditions(filters, open_only)
    rows_query = select(Resource, ranked.c.score).join(ranked, ranked.c.rid == Resource.id).where(*conditions)
    total = session.execute(
        select(func.count())
        .select_from(ranked)
        .join(Resource, Resource.id == ranked.c.rid)
        .where(*conditions)
    ).scalar_one()
    order: list[Any] = {
        "relevance": [ranked.c.score.desc(), Resource.published_at.desc()],
        "newest": [Resource.published_at.desc()],
        "requested": [Resource.request_count.desc(), ranked.c.score.desc()],
        "name": [Resource.name],
    }.get(sort, [ranked.c.score.desc()])  # type: ignore[assignment]
    rows = session.execute(
        rows_query.options(selectinload(Resource.fields))
        .order_by(*order, Resource.id)
        .limit(limit)
        .offset(offset)
    ).all()
    page = SearchPage(total=total, items=[(r, float(s or 0)) for r, s in rows])
    ids_in_result = select(ranked.c.rid).join(Resource, Resource.id == ranked.c.rid).where(*conditions)
    for name in facet_fields:
        page.facets[name] = _facet_counts(session, name, ids_in_result)
    return page


MATERIALISE_LIMIT = 20_000  # ids bound as one IN list; SQLite allows 32,766 parameters


def _matched_scores(session: Session, q: str) -> dict[int, float]:
    """Published resource ids matching ``q`` with their best score (an exact code scores highest)."""
    matches = index.match_subquery(session, KIND, q).subquery()
    scored = (
        select(Resource.id, matches.c.score)
        .join(matches, matches.c.key == Resource.code)
        .where(Resource.status == "published")
    )
    scores: dict[int, float] = {}
    for rid, score in session.execute(scored):
        scores[rid] = max(scores.get(rid, float("-inf")), float(score or 0))
    exact = session.execute(
        select(Resource.id).where(Resource.status == "published", Resource.code == q)
    ).scalar_one_or_none()
    if exact is not None:
        scores[exact] = 1e9
    return scores


def _search_within(
    session: Session,
    scores: Mapping[int, float],
    filters: Mapping[str, Sequence[str]],
    open_only: bool,
    sort: str,
    limit: int,
    offset: int,
    facet_fields: Sequence[str],
) -> SearchPage:
    """Filter, sort, page and facet a known set of matching ids."""
    if not scores:
        return SearchPage(total=0, items=[], facets={name: [] for name in facet_fields})
    conditions = _filter_conditions(filters, open_only)
    rows = session.execute(
        select(Resource.id, Resource.published_at, Resource.request_count, Resource.name).where(
            Resource.id.in_(list(scores)), *conditions
        )
    ).all()
    never = datetime.min
    keys: dict[str, Callable[[Any], Any]] = {
        "newest": lambda r: (r.published_at or never, r.id),
        "requested": lambda r: (r.request_count, scores[r.id], r.id),
    }
    if sort == "name":
        ordered = sorted(rows, key=lambda r: (r.name, r.id))
    else:
        ordered = sorted(
            rows, key=keys.get(sort, lambda r: (scores[r.id], r.published_at or never, -r.id)), reverse=True
        )
    page_ids = [r.id for r in ordered[offset : offset + limit]]
    loaded = {
        r.id: r
        for r in session.execute(
            select(Resource).where(Resource.id.in_(page_ids)).options(selectinload(Resource.fields))
        ).scalars()
    }
    page = SearchPage(total=len(rows), items=[(loaded[i], scores[i]) for i in page_ids])
    result_ids = [r.id for r in rows]
    for name in facet_fields:
        page.facets[name] = _facet_counts(session, name, result_ids) if result_ids else []
    return page


def _filter_conditions(filters: Mapping[str, Sequence[str]], open_only: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if open_only:
        conditions.append(Resource.open_type == "unconditional")
    for name, values in filters.items():
        if name in ("theme", "keyword"):
            tagged = select(Tag.resource_id).where(Tag.kind == name, Tag.value.in_(values))
            conditions.append(Resource.id.in_(tagged))
        elif name == "provider":
            conditions.append(Resource.provider_id.in_(select(Org.id).where(Org.code.in_(values))))
        elif name == "region":
            conditions.append(Resource.region_code.in_(values))
        elif name in ("share_type", "open_type", "level", "format", "update_cycle"):
            conditions.append(getattr(Resource, name).in_(values))
    return conditions


def _facet_counts(session: Session, name: str, ids: Select[Any] | list[int]) -> list[tuple[str, int]]:
    count = func.count().label("n")
    if name in ("theme", "keyword"):
        query = select(Tag.value, count).where(Tag.kind == name, Tag.resource_id.in_(ids)).group_by(Tag.value)
    elif name == "provider":
        query = (
            select(Org.code, count)
            .join(Resource, Resource.provider_id == Org.id)
            .where(Resource.id.in_(ids))
            .group_by(Org.code)
        )
    else:
        column = Resource.region_code if name == "region" else getattr(Resource, name)
        query = select(column, count).where(Resource.id.in_(ids)).group_by(column)
    rows = session.execute(query.order_by(count.desc()).limit(50)).all()
    return [(str(value), int(n)) for value, n in rows]
