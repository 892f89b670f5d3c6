"""The data gateway: serve exactly what a grant allows, masked, metered, and logged.

One call: the system token's department and name pick the grant for the resource;
asked fields must be granted (403 naming the first that is not), filters are on key
fields only, the grant's row scope is added to every query, the daily quota and
the per-second rate are counted in the database (exact with any number of workers:
a conditional ``UPDATE … WHERE calls < quota``), personal fields are masked unless
the grant names them clear, and the call is written to the access log in the same
transaction, before the response leaves. Refusals are logged too (by the route, in
a transaction of their own).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog
from yiwang.identity.authz import AccessDenied, Actor, authorize
from yiwang.kit import caches, datastore, workdays
from yiwang.kit.audit import canonical_json
from yiwang.kit.crypto import get_suite
from yiwang.kit.db import insert_ignoring_conflict
from yiwang.kit.errors import NotFound
from yiwang.kit.masking import mask_value, record_masker
from yiwang.sharing.errors import BadQuery, GatewayDenied, QuotaExceeded
from yiwang.sharing.models import Grant, GrantRate, GrantUsage

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
RESERVED = ("fields", "limit", "cursor", "grant")


@dataclass
class Call:
    """What the access log needs about one call, filled in as the call proceeds."""

    call_id: str
    resource: str
    query: dict[str, str]
    started: float = field(default_factory=time.perf_counter)
    caller: str = ""
    system: str = ""
    consumer: str = ""
    provider: str = ""
    grant_id: int = 0
    purpose: str = ""
    logged_query: dict[str, str] = field(default_factory=dict)
    records: int = 0
    masked: list[str] = field(default_factory=list)
    clear: list[str] = field(default_factory=list)
    daily_quota: int | None = None
    rate_limit: int | None = None
    grant_from_cache: bool = False
    consumer_id: int | None = None

    def __post_init__(self) -> None:
        # Until the resource's fields are known, any filter value may be personal: log none of them.
        self.logged_query = {k: v if k in RESERVED else "***" for k, v in self.query.items()}

    def log_fields(self, *, status: int, reason: str, body_hash: str, suite: str) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "system": self.system,
            "consumer": self.consumer,
            "provider": self.provider,
            "resource": self.resource,
            "grant_id": self.grant_id,
            "purpose": self.purpose,
            "query": self.logged_query,
            "query_hash": get_suite(suite).hash_hex(canonical_json(self.query).encode()),
            "status": status,
            "reason": reason,
            "records": self.records,
            "masked": self.masked,
            "clear": self.clear,
            "body_hash": body_hash,
            "latency_us": int((time.perf_counter() - self.started) * 1_000_000),
        }


def serve(session: Session, actor: Actor, call: Call, *, today: date | None = None) -> dict[str, Any]:
    """Prepare the answer to one gateway call (the response body as a dict), reading only;
    raises a PlatformError to refuse. :func:`settle` must then count and confirm it in a
    write transaction: on SQLite the write lock is then held for a few statements, not for
    the whole call, which is what keeps several workers from queueing behind each other."""
    today = today or workdays.beijing_today()
    call.caller, call.system, call.consumer = actor.username, actor.token_name or "", actor.org_code
    call.consumer_id = actor.org_id
    if actor.kind != "token" or not actor.token_name:
        raise GatewayDenied("token_required", "数据网关只接受系统访问令牌（Authorization: Bearer …）")
    try:
        authorize(actor, "gateway.call", target_type="resource", target_id=call.resource)
    except AccessDenied:
        raise GatewayDenied("role_denied", "令牌所属账号的角色不能调用数据网关") from None
    try:
        view = catalog.data_view(session, call.resource)
    except NotFound:
        raise NotFound(f"资源 {call.resource} 不存在", code="resource_not_found") from None
    call.provider = view.provider_code
    call.logged_query = _masked_query(view, call.query)
    grant, call.grant_from_cache = _live_grant(session, actor, view, call.query.get("grant"), today)
    call.grant_id, call.purpose = grant.id, grant.purpose
    call.daily_quota, call.rate_limit = grant.daily_quota, grant.rate_limit
    granted = list(grant.fields)
    columns = _asked_fields(view, call.query.get("fields"), granted)
    filters = _filters(view, call.query, granted)
    scoped = _apply_scope(filters, dict(grant.row_scope))
    limit = _limit(call.query.get("limit"))
    after = _cursor(call.query.get("cursor"))
    if view.table is None:
        raise NotFound(f"资源 {view.code} 尚未装载数据", code="no_data")
    rows = [] if scoped is None else _read(session, view, scoped, columns, limit + 1, after)
    page, more = rows[:limit], len(rows) > limit
    clear = list(grant.clear_fields)
    mask = record_masker({f.name: f.pi_kind for f in view.fields if f.name in columns}, clear)
    records = [mask({k: v for k, v in row.items() if k != datastore.ROW_COLUMN})[0] for row in page]
    masked = [
        f.name for f in view.fields if f.name in columns and f.pi_kind != "none" and f.name not in clear
    ]
    call.records, call.masked = len(records), masked
    call.clear = [c for c in clear if c in columns]
    return {
        "resource": view.code,
        "records": records,
        "next": str(page[-1][datastore.ROW_COLUMN]) if more else None,
        "masked": masked,
        "call": call.call_id,
    }


# The live grant a system last used, per resource (a few seconds): grants never change their
# fields, scope or quota, and :func:`settle` re-reads the status in the write transaction, so a
# revocation or expiry still stops the very next call. Refusals are never cached.
@dataclass(frozen=True)
class Terms:
    """What a grant allows, copied out of its row (safe to keep across transactions)."""

    id: int
    purpose: str
    fields: tuple[str, ...]
    clear_fields: tuple[str, ...]
    row_scope: tuple[tuple[str, str], ...]
    daily_quota: int | None
    rate_limit: int | None

    @classmethod
    def of(cls, grant: Grant) -> Terms:
        return cls(
            id=grant.id,
            purpose=grant.purpose,
            fields=tuple(json.loads(grant.fields)),
            clear_fields=tuple(json.loads(grant.clear_fields or "[]")),
            row_scope=tuple(sorted(json.loads(grant.row_scope or "{}").items())),
            daily_quota=grant.daily_quota,
            rate_limit=grant.rate_limit,
        )


_GRANTS: dict[tuple[int, int | None, str | None, str | None], tuple[float, Terms]] = {}
GRANT_TTL_SECONDS = 5.0
_GRANTS_MAX = 10_000
caches.register(_GRANTS.clear)


def _live_grant(
    session: Session, actor: Actor, view: catalog.DataView, wanted: str | None, today: date
) -> tuple[Terms, bool]:
    """The terms of the grant to serve under, and whether they came from the cache."""
    key = (view.id, actor.org_id, actor.token_name, wanted)
    now = time.monotonic()
    cached = _GRANTS.get(key)
    if cached is not None and cached[0] > now:
        return cached[1], True
    grant = Terms.of(_pick_grant(session, actor, view, wanted, today))
    if len(_GRANTS) >= _GRANTS_MAX:
        _GRANTS.clear()
    _GRANTS[key] = (now + GRANT_TTL_SECONDS, grant)
    return grant, False


def forget_grants() -> None:
    """Drop the cached grants (a cached grant found dead in :func:`settle`: pick afresh)."""
    _GRANTS.clear()


def _pick_grant(
    session: Session, actor: Actor, view: catalog.DataView, wanted: str | None, today: date
) -> Grant:
    """The caller's live grant for this resource and system; a refusal with its reason otherwise."""
    query = select(Grant).where(Grant.resource_id == view.id).order_by(Grant.id.desc())
    if wanted is not None:
        if not wanted.isdigit() or len(wanted) > 10:
            raise BadQuery("grant：授权编号应为正整数", details={"field": "grant"})
        query = query.where(Grant.id == int(wanted))
    else:
        query = query.where(Grant.consumer_id == actor.org_id)
    grants = list(session.execute(query).scalars())
    if not grants:
        raise GatewayDenied("no_grant", f"本部门没有资源 {view.code} 的授权，请先提出共享申请")
    mine = [g for g in grants if g.consumer_id == actor.org_id]
    if not mine:
        raise GatewayDenied("other_department", f"授权 #{grants[0].id} 属于其他部门，本令牌不能使用")
    for_system = [g for g in mine if g.system == actor.token_name]
    if not for_system:
        systems = "、".join(sorted({g.system for g in mine}))
        raise GatewayDenied(
            "wrong_system", f"资源 {view.code} 的授权属于系统 {systems}，不是本令牌的系统 {actor.token_name}"
        )
    live = [g for g in for_system if g.status == "active" and g.valid_until >= today]
    if live:
        return live[0]
    latest = for_system[0]
    if latest.status == "revoked":
        raise GatewayDenied(
            "grant_revoked", f"授权 #{latest.id} 已被撤销：{latest.revoke_reason}", grant=latest.id
        )
    raise GatewayDenied(
        "grant_expired",
        f"授权 #{latest.id} 已于 {latest.valid_until.isoformat()} 到期，请申请续期",
        grant=latest.id,
    )


def _asked_fields(view: catalog.DataView, asked: str | None, granted: list[str]) -> list[str]:
    if asked is None or not asked.strip():
        return [n for n in view.field_names if n in granted]
    names = [n.strip() for n in asked.split(",") if n.strip()]
    unknown = [n for n in names if n not in view.field_names]
    if unknown:
        raise BadQuery(
            f"fields：资源 {view.code} 没有信息项 {'、'.join(unknown)}", details={"field": unknown[0]}
        )
    refused = [n for n in names if n not in granted]
    if refused:
        raise GatewayDenied("field_not_granted", f"信息项 {'、'.join(refused)} 未获授权", field=refused[0])
    return list(dict.fromkeys(names))


def _filters(view: catalog.DataView, query: Mapping[str, str], granted: list[str]) -> dict[str, str]:
    filters = {k: v for k, v in query.items() if k not in RESERVED}
    by_name = {f.name: f for f in view.fields}
    for name in filters:
        spec = by_name.get(name)
        if spec is None:
            raise BadQuery(f"{name}：资源 {view.code} 没有这个信息项，不能按它筛选", details={"field": name})
        if not spec.key:
            keys = "、".join(view.key_fields) or "（该资源没有关键信息项）"
            raise BadQuery(f"{name}：只能按关键信息项筛选：{keys}", details={"field": name})
        if name not in granted:
            raise GatewayDenied("field_not_granted", f"信息项 {name} 未获授权，不能按它筛选", field=name)
    return filters


def _masked_query(view: catalog.DataView, query: Mapping[str, str]) -> dict[str, str]:
    """The query as the log keeps it: values of personal fields masked like any exit."""
    kinds = {f.name: f.pi_kind for f in view.fields}
    return {
        k: str(mask_value(kinds[k], v)) if kinds.get(k, "none") != "none" else v for k, v in query.items()
    }


def _apply_scope(filters: dict[str, str], scope: Mapping[str, str]) -> dict[str, str] | None:
    """The filters narrowed by the grant's row scope; ``None`` when they cannot overlap."""
    merged = dict(filters)
    for name, bound in scope.items():
        asked = merged.get(name)
        if asked is None:
            merged[name] = bound
            continue
        narrower = _narrower(asked, bound)
        if narrower is None:
            return None
        merged[name] = narrower
    return merged


def _narrower(asked: str, bound: str) -> str | None:
    asked_prefix, bound_prefix = asked.endswith("*"), bound.endswith("*")
    a, b = asked[:-1] if asked_prefix else asked, bound[:-1] if bound_prefix else bound
    if not bound_prefix:
        if asked_prefix:
            return bound if bound.startswith(a) else None
        return asked if asked == bound else None
    if asked_prefix:
        if a.startswith(b):
            return asked
        return bound if b.startswith(a) else None
    return asked if asked.startswith(b) else None


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQuery(f"limit：应为 1 到 {MAX_LIMIT} 的整数", details={"field": "limit"})
    return int(text)


def _cursor(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 18:
        raise BadQuery("cursor：无效的翻页游标（请使用上一页返回的 next）", details={"field": "cursor"})
    return int(text)


def _read(
    session: Session,
    view: catalog.DataView,
    filters: dict[str, str],
    columns: list[str],
    limit: int,
    after: int | None,
) -> list[dict[str, Any]]:
    assert view.table is not None
    # The catalog records the table when data is loaded: no need to look it up on every call.
    return datastore.read_page(
        session,
        view.table,
        view.fields,
        filters=filters,
        columns=columns,
        limit=limit,
        after_row=after,
        known=True,
    )


# ------------------------------------------------------------------ quota and rate


class StaleGrant(Exception):
    """A cached grant turned out revoked or expired in :func:`settle`: serve again, afresh."""


def settle(session: Session, call: Call, *, today: date | None = None) -> None:
    """In the write transaction: confirm the grant is still live (a revocation committed since
    :func:`serve` read it stops this call too) and count the call against its quota and rate."""
    today = today or workdays.beijing_today()
    row = session.execute(
        select(Grant.status, Grant.valid_until, Grant.revoke_reason, Grant.consumer_id, Grant.system).where(
            Grant.id == call.grant_id
        )
    ).first()
    if call.grant_from_cache and (
        row is None
        or (row.consumer_id, row.system) != (call.consumer_id, call.system)
        or row.status == "revoked"
        or row.valid_until < today
    ):
        raise StaleGrant()
    if row is None or row.status == "revoked":
        reason = row.revoke_reason if row is not None else ""
        raise GatewayDenied("grant_revoked", f"授权 #{call.grant_id} 已被撤销：{reason}", grant=call.grant_id)
    if row.valid_until < today:
        raise GatewayDenied("grant_expired", f"授权 #{call.grant_id} 已到期，请申请续期", grant=call.grant_id)
    _consume(session, call, today)


def _consume(session: Session, call: Call, today: date) -> None:
    """Count the call against the grant's daily quota and rate; 429 when either is used up."""
    if call.daily_quota is not None:
        session.execute(
            insert_ignoring_conflict(
                session, GrantUsage.__table__, {"grant_id": call.grant_id, "day": today, "calls": 0}
            )
        )
        counted = session.execute(
            update(GrantUsage)
            .where(
                GrantUsage.grant_id == call.grant_id,
                GrantUsage.day == today,
                GrantUsage.calls < call.daily_quota,
            )
            .values(calls=GrantUsage.calls + 1)
            .execution_options(synchronize_session=False)
        )
        if counted.rowcount == 0:  # type: ignore[attr-defined]
            raise QuotaExceeded(
                f"授权 #{call.grant_id} 今日调用次数已达上限 {call.daily_quota} 次",
                retry_after=workdays.seconds_to_beijing_midnight(),
            )
    if call.rate_limit is not None:
        second = int(time.time())
        session.execute(
            insert_ignoring_conflict(
                session, GrantRate.__table__, {"grant_id": call.grant_id, "window": second, "calls": 0}
            )
        )
        counted = session.execute(
            update(GrantRate)
            .where(
                GrantRate.grant_id == call.grant_id,
                (GrantRate.window != second) | (GrantRate.calls < call.rate_limit),
            )
            .values(calls=case((GrantRate.window == second, GrantRate.calls + 1), else_=1), window=second)
            .execution_options(synchronize_session=False)
        )
        if counted.rowcount == 0:  # type: ignore[attr-defined]
            raise QuotaExceeded(f"授权 #{call.grant_id} 调用频率超过每秒 {call.rate_limit} 次", retry_after=1)


def usage_today(session: Session, grant_ids: list[int], today: date | None = None) -> dict[int, int]:
    """Calls counted today per grant (for the console and the grant pages)."""
    if not grant_ids:
        return {}
    day = today or workdays.beijing_today()
    rows = session.execute(
        select(GrantUsage.grant_id, GrantUsage.calls).where(
            GrantUsage.grant_id.in_(grant_ids), GrantUsage.day == day
        )
    )
    return {gid: calls for gid, calls in rows}
