"""The data gateway: serve exactly what a grant allows, masked, metered, and logged.

One call: the system token's department and name pick the grant for the resource;
asked fields must be granted (403 naming the first that is not), filters are on key
fields only, the grant's row scope is added to every query, the daily quota and
the per-second rate are counted in the database (exact with any number of workers:
a conditional ``UPDATE … WHERE calls < quota``), personal fields are masked unless
the grant names them clear, and the call is written to the access log in the same
transaction, before the response leaves. Refusals are logged too.

A call is served in two steps: :func:`serve` reads (no write lock), then :func:`settle_calls`
confirms, counts and logs it in a write transaction shared with the calls that finish at the
same time (the route hands it to the process's writer, :class:`yiwang.kit.db.WriteBatcher`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, authorize
from yiwang.kit import caches, datastore, workdays
from yiwang.kit.accesslog import error_body, record_call, refusal_reason
from yiwang.kit.audit import canonical_json
from yiwang.kit.crypto import get_suite
from yiwang.kit.datastore import query as records_query
from yiwang.kit.datastore.query import BadQuery
from yiwang.kit.db import insert_ignoring_conflict, orm_session
from yiwang.kit.errors import NotFound, PlatformError
from yiwang.kit.masking import RecordMasker, mask_value, record_masker
from yiwang.kit.validators import whole_number
from yiwang.sharing.errors import GatewayDenied, QuotaExceeded
from yiwang.sharing.models import Grant, GrantRate, GrantUsage

RESERVED = (*records_query.RESERVED, "grant")


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


def serve(db: Session | Connection, actor: Actor, call: Call, *, today: date | None = None) -> dict[str, Any]:
    """Prepare the answer to one gateway call (the response body as a dict), reading only;
    raises a PlatformError to refuse. :func:`settle_calls` must then confirm, count and log it
    in a write transaction: on SQLite the write lock is then held for a few statements, not for
    the whole call, which is what keeps several workers from queueing behind each other.

    ``db`` may be a bare Core connection: with the resource's view and the grant cached, a key
    lookup is then two indexed queries and no ORM at all."""
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
        view = catalog.data_view(db, call.resource)
    except NotFound:
        raise NotFound(f"资源 {call.resource} 不存在", code="resource_not_found") from None
    call.provider = view.provider_code
    call.logged_query = _masked_query(view, call.query)
    grant, call.grant_from_cache = _live_grant(db, actor, view, call.query.get("grant"), today)
    call.grant_id, call.purpose = grant.id, grant.purpose
    call.daily_quota, call.rate_limit = grant.daily_quota, grant.rate_limit
    granted = list(grant.fields)
    columns = _asked_fields(view, call.query.get("fields"), granted)
    filters = _filters(view, call.query, granted)
    scoped = _apply_scope(filters, dict(grant.row_scope))
    limit = records_query.page_limit(call.query.get("limit"))
    after = records_query.page_cursor(call.query.get("cursor"))
    if view.table is None:
        raise NotFound(f"资源 {view.code} 尚未装载数据", code="no_data")
    rows = [] if scoped is None else _read(db, view, scoped, columns, limit + 1, after)
    page, more = rows[:limit], len(rows) > limit
    clear = list(grant.clear_fields)
    mask, masked = _masking(view.fields, tuple(columns), grant.clear_fields)
    records = [mask({k: v for k, v in row.items() if k != datastore.ROW_COLUMN})[0] for row in page]
    call.records, call.masked = len(records), list(masked)
    call.clear = [c for c in clear if c in columns]
    return {
        "resource": view.code,
        "records": records,
        "next": str(page[-1][datastore.ROW_COLUMN]) if more else None,
        "masked": masked,
        "call": call.call_id,
    }


@lru_cache(maxsize=4096)
def _masking(
    fields: tuple[datastore.FieldSpec, ...], columns: tuple[str, ...], clear: tuple[str, ...]
) -> tuple[RecordMasker, tuple[str, ...]]:
    """The masker of the asked columns under a grant, and the fields it masks (the same for every
    call with this view, columns and grant: made once)."""
    kinds = {f.name: f.pi_kind for f in fields if f.name in columns}
    masked = tuple(name for name, kind in kinds.items() if kind != "none" and name not in clear)
    return record_masker(kinds, clear), masked


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
    db: Session | Connection, actor: Actor, view: catalog.DataView, wanted: str | None, today: date
) -> tuple[Terms, bool]:
    """The terms of the grant to serve under, and whether they came from the cache."""
    key = (view.id, actor.org_id, actor.token_name, wanted)
    now = time.monotonic()
    cached = _GRANTS.get(key)
    if cached is not None and cached[0] > now:
        return cached[1], True
    grant = Terms.of(_pick_grant(orm_session(db), actor, view, wanted, today))
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
        grant_id = whole_number(wanted, most_digits=10)
        if grant_id is None:
            raise BadQuery("grant：授权编号应为正整数", details={"field": "grant"})
        query = query.where(Grant.id == grant_id)
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
    names = records_query.asked_columns(f"资源 {view.code}", view.field_names, asked)
    if names is None:
        return [n for n in view.field_names if n in granted]
    refused = [n for n in names if n not in granted]
    if refused:
        raise GatewayDenied("field_not_granted", f"信息项 {'、'.join(refused)} 未获授权", field=refused[0])
    return names


def _filters(view: catalog.DataView, query: Mapping[str, str], granted: list[str]) -> dict[str, str]:
    filters = records_query.key_filters(f"资源 {view.code}", view.fields, query, RESERVED)
    for name in filters:
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


def _read(
    db: Session | Connection,
    view: catalog.DataView,
    filters: dict[str, str],
    columns: list[str],
    limit: int,
    after: int | None,
) -> list[dict[str, Any]]:
    assert view.table is not None
    # The catalog records the table when data is loaded: no need to look it up on every call.
    return datastore.read_page(
        db,
        view.table,
        view.fields,
        filters=filters,
        columns=columns,
        limit=limit,
        after_row=after,
        known=True,
    )


# ------------------------------------------------------------------ settling: confirm, count, log


class StaleGrant(Exception):
    """A cached grant turned out revoked or expired when settling: serve again, afresh."""


@dataclass
class Settlement:
    """One call to settle in the write transaction: a served call to confirm, count and log
    (``token`` set: it is confirmed too), or a call refused while serving, to log only."""

    call: Call
    suite: str
    body_hash: str = ""
    token: str = ""
    refusal: PlatformError | None = None


def settle(session: Session, call: Call, *, today: date | None = None) -> None:
    """Confirm one served call's grant and count it (raises the refusal); the caller logs it."""
    settler = _Settler(session, today or workdays.beijing_today())
    problem = settler.check(call)
    settler.write_counters()
    if problem is not None:
        raise problem


def settle_calls(
    session: Session, items: list[Settlement], *, today: date | None = None
) -> list[BaseException | None]:
    """Settle a batch of calls in one write transaction: for each served call, confirm that its
    token and grant are still good (a revocation committed since the call was served stops it
    too), count it against the grant's daily quota and rate, and log it; log each refusal.
    Returns, per call, ``None`` (served) or its refusal; :class:`StaleGrant` calls are not logged
    (they are served again). Each distinct token and grant is read once per batch, and each
    grant's counters are written once: that is what makes a batch cheaper than its calls."""
    settler = _Settler(session, today or workdays.beijing_today())
    tokens: dict[str, PlatformError | None] = {}
    outcomes: list[BaseException | None] = []
    for item in items:
        if item.refusal is not None:
            _log(session, item, item.refusal)
            outcomes.append(None)
            continue
        if item.token not in tokens:
            tokens[item.token] = _token_problem(session, item.token)
        problem: BaseException | None = tokens[item.token] or settler.check(item.call)
        if isinstance(problem, PlatformError):
            _log(session, item, problem)
        elif problem is None:
            record_call(
                session,
                **item.call.log_fields(status=200, reason="", body_hash=item.body_hash, suite=item.suite),
            )
        outcomes.append(problem)
    settler.write_counters()
    return outcomes


def _token_problem(session: Session, token: str) -> PlatformError | None:
    if not token:
        return None
    try:
        identity.confirm_token(session, token)
    except PlatformError as refusal:
        return refusal
    return None


def _log(session: Session, item: Settlement, refusal: PlatformError) -> None:
    record_call(session, **refusal_log_fields(item.call, refusal, item.suite))


def refusal_log_fields(call: Call, refusal: PlatformError, suite: str) -> dict[str, Any]:
    """The access-log entry of a refused call: its status, reason and the hash of the error body."""
    call.records, call.masked, call.clear = 0, [], []
    return call.log_fields(
        status=refusal.status,
        reason=refusal_reason(refusal),
        body_hash=get_suite(suite).hash_hex(error_body(refusal)),
        suite=suite,
    )


_GRANT_STATE = select(
    Grant.status, Grant.valid_until, Grant.revoke_reason, Grant.consumer_id, Grant.system
).where(Grant.id == bindparam("grant"))
_USAGE = (
    select(GrantUsage.calls)
    .with_for_update()
    .where(GrantUsage.grant_id == bindparam("grant"), GrantUsage.day == bindparam("day"))
)
_USAGE_SET = (
    update(GrantUsage)
    .where(GrantUsage.grant_id == bindparam("grant"), GrantUsage.day == bindparam("on_day"))
    .values(calls=bindparam("count"))
    .execution_options(synchronize_session=False)
)
_RATE = (
    select(GrantRate.window, GrantRate.calls)
    .with_for_update()
    .where(GrantRate.grant_id == bindparam("grant"))
)
_RATE_SET = (
    update(GrantRate)
    .where(GrantRate.grant_id == bindparam("grant"))
    .values(window=bindparam("second"), calls=bindparam("count"))
    .execution_options(synchronize_session=False)
)


class _Settler:
    """Grant checks and counters for one write transaction.

    Counting is exact with any number of workers: the counters are read once per transaction
    under the write lock (SQLite's ``BEGIN IMMEDIATE``; ``FOR UPDATE`` on PostgreSQL), counted
    in memory call by call, and written back before the commit."""

    def __init__(self, session: Session, today: date) -> None:
        # Core on the session's connection, with statements built once: this runs per batch.
        self.conn = session.connection()
        self.today = today
        self.second = int(time.time())
        self.grants: dict[int, Any] = {}
        self.daily: dict[int, list[int]] = {}  # grant -> [calls today, calls read]
        self.rate: dict[int, list[int]] = {}  # grant -> [window, calls in it, window read, calls read]

    def check(self, call: Call) -> BaseException | None:
        """The call's refusal (or :class:`StaleGrant`), or ``None`` once it is counted."""
        if call.grant_id not in self.grants:
            self.grants[call.grant_id] = self.conn.execute(_GRANT_STATE, {"grant": call.grant_id}).first()
        row = self.grants[call.grant_id]
        if call.grant_from_cache and (
            row is None
            or (row.consumer_id, row.system) != (call.consumer_id, call.system)
            or row.status == "revoked"
            or row.valid_until < self.today
        ):
            return StaleGrant()
        if row is None or row.status == "revoked":
            reason = row.revoke_reason if row is not None else ""
            return GatewayDenied(
                "grant_revoked", f"授权 #{call.grant_id} 已被撤销：{reason}", grant=call.grant_id
            )
        if row.valid_until < self.today:
            return GatewayDenied(
                "grant_expired", f"授权 #{call.grant_id} 已到期，请申请续期", grant=call.grant_id
            )
        return self._count(call)

    def _count(self, call: Call) -> QuotaExceeded | None:
        daily = self._daily(call.grant_id) if call.daily_quota is not None else None
        if daily is not None and call.daily_quota is not None and daily[0] >= call.daily_quota:
            return QuotaExceeded(
                f"授权 #{call.grant_id} 今日调用次数已达上限 {call.daily_quota} 次",
                retry_after=workdays.seconds_to_beijing_midnight(),
            )
        rate = self._rate(call.grant_id) if call.rate_limit is not None else None
        if rate is not None:
            if rate[0] != self.second:
                rate[0], rate[1] = self.second, 0
            if call.rate_limit is not None and rate[1] >= call.rate_limit:
                return QuotaExceeded(
                    f"授权 #{call.grant_id} 调用频率超过每秒 {call.rate_limit} 次", retry_after=1
                )
            rate[1] += 1
        if daily is not None:
            daily[0] += 1
        return None

    def _daily(self, grant: int) -> list[int]:
        if grant not in self.daily:
            values = {"grant_id": grant, "day": self.today, "calls": 0}
            self.conn.execute(insert_ignoring_conflict(self.conn, GrantUsage.__table__, values))
            calls = self.conn.execute(_USAGE, {"grant": grant, "day": self.today}).scalar_one()
            self.daily[grant] = [calls, calls]
        return self.daily[grant]

    def _rate(self, grant: int) -> list[int]:
        if grant not in self.rate:
            values = {"grant_id": grant, "window": self.second, "calls": 0}
            self.conn.execute(insert_ignoring_conflict(self.conn, GrantRate.__table__, values))
            window, calls = self.conn.execute(_RATE, {"grant": grant}).one()
            self.rate[grant] = [window, calls, window, calls]
        return self.rate[grant]

    def write_counters(self) -> None:
        for grant, (calls, read) in self.daily.items():
            if calls != read:
                self.conn.execute(_USAGE_SET, {"grant": grant, "on_day": self.today, "count": calls})
        for grant, (window, calls, window_read, calls_read) in self.rate.items():
            if (window, calls) != (window_read, calls_read):
                self.conn.execute(_RATE_SET, {"grant": grant, "second": window, "count": calls})
        self.daily.clear()
        self.rate.clear()


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
