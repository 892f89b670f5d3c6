"""The CDO's and the operator's console: pending work, grants, calls, objections and quality.

Scope follows the role: a CDO sees the departments under its region, the operator and
auditors the whole province. The quality score is shown with its formula:

    质量分 = 40 × 元数据完整率 + 40 × 时效（未逾更新周期为 1）+ 20 × (1 − 异议率)

where 异议率 = objections upheld or still open ÷ grants given on the resource (at least 1).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor, authorize
from yiwang.identity.models import Org
from yiwang.kit import workdays
from yiwang.kit.accesslog import AccessEntry
from yiwang.sharing import calls, lists
from yiwang.sharing.models import Grant, Objection, SharingRequest

QUALITY_FORMULA = (
    "质量分 = 40 × 元数据完整率 + 40 × 时效（未逾更新周期为 1）+ 20 × (1 − 异议率)；"
    "异议率 = 未结或已更正的异议数 ÷ 授权数（至少为 1）"
)


def quality_score(completeness: float, state: str, objections: int, grants: int) -> float:
    rate = min(1.0, objections / max(1, grants))
    return round(40 * completeness + 40 * (1.0 if state == "current" else 0.0) + 20 * (1 - rate), 1)


def overview(session: Session, actor: Actor, *, today: date | None = None, days: int = 30) -> dict[str, Any]:
    """Everything the console shows, for the actor's region (or the province)."""
    authorize(actor, "sharing.console")
    today = today or workdays.beijing_today()
    reach_ids = identity.orgs_in_reach(actor, "sharing.console")
    org_ids = None if reach_ids is None else list(session.execute(reach_ids).scalars())
    codes = (
        None
        if org_ids is None
        else set(session.execute(select(Org.code).where(Org.id.in_(org_ids))).scalars())
    )

    def mine(column: Any) -> Any:
        return True if org_ids is None else column.in_(org_ids)

    pending = (
        session.execute(
            select(SharingRequest.deadline).where(
                SharingRequest.status == "pending", mine(SharingRequest.provider_id)
            )
        )
        .scalars()
        .all()
    )
    grants = list(
        session.execute(select(Grant).where(mine(Grant.provider_id) | mine(Grant.consumer_id))).scalars()
    )
    live = [g for g in grants if g.status == "active" and g.valid_until >= today]
    since = calls.utc_start_of(today - timedelta(days=days))
    visible = select(AccessEntry).where(AccessEntry.at >= since)
    if codes is not None:
        visible = visible.where(AccessEntry.provider.in_(codes) | AccessEntry.consumer.in_(codes))
    sub = visible.subquery()
    # One expression object, used three times: PostgreSQL must see the same expression in the
    # select list and the GROUP BY (three separately built ones bind separate parameters).
    day = calls.beijing_day(session, sub.c.at).label("day")
    per_day = session.execute(select(day, func.count()).group_by(day).order_by(day)).all()
    denied = session.execute(select(func.count()).select_from(sub).where(sub.c.status >= 400)).scalar_one()
    top_consumers = session.execute(
        select(sub.c.consumer, func.count())
        .where(sub.c.status < 400)
        .group_by(sub.c.consumer)
        .order_by(func.count().desc())
        .limit(10)
    ).all()
    top_resources = session.execute(
        select(sub.c.resource, func.count())
        .where(sub.c.status < 400)
        .group_by(sub.c.resource)
        .order_by(func.count().desc())
        .limit(10)
    ).all()
    objections = list(session.execute(select(Objection).where(mine(Objection.provider_id))).scalars())
    standings = catalog.standings(session, org_ids)
    by_resource = lists.objection_counts(session, [s.id for s in standings])
    grants_per_resource = Counter(g.resource_id for g in grants)
    quality = []
    for s in standings:
        counted = by_resource.get(s.id, Counter())
        upheld = counted["open"] + counted["corrected"]
        quality.append(
            {
                "resource": s.code,
                "name": s.name,
                "completeness": round(s.completeness, 3),
                "state": s.state,
                "objections": upheld,
                "grants": grants_per_resource[s.id],
                "score": quality_score(s.completeness, s.state, upheld, grants_per_resource[s.id]),
            }
        )
    quality.sort(key=lambda q: (q["score"], q["resource"]))
    return {
        "scope": "province" if org_ids is None else actor.org_code,
        "requests": {
            "pending": len(pending),
            "overdue": sum(1 for d in pending if d is not None and d < today),
        },
        "grants": {
            "active": len(live),
            "expiring": sum(1 for g in live if g.valid_until <= today + timedelta(days=30)),
            "revoked": sum(1 for g in grants if g.status == "revoked"),
        },
        "calls": {
            "per_day": [{"day": d, "calls": n} for d, n in per_day],
            "denied": denied,
            "top_consumers": [{"org": c, "calls": n} for c, n in top_consumers],
            "top_resources": [{"resource": r, "calls": n} for r, n in top_resources],
        },
        "objections": {
            "open": sum(1 for o in objections if o.status == "open"),
            "overdue": sum(1 for o in objections if o.status == "open" and o.deadline < today),
        },
        "resources_overdue": [q["resource"] for q in quality if q["state"] == "overdue"],
        "quality": quality,
        "quality_formula": QUALITY_FORMULA,
    }
