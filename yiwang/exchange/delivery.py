"""Delivery under the contract: every call re-checks the contract and its policy.

API delivery: ``GET /gateway/v1/contracts/{id}/records`` with the contract's delivery key.
File delivery: time-limited links, each download counted, hashed and logged. Sandbox: the
buyer's SQL runs over the contract's datasets in DuckDB, and only aggregates over at least k
records leave (:mod:`yiwang.exchange.sandbox`).

Each use is checked in the same write transaction that counts it: the contract must be
active (a revocation committed a moment ago stops this call), within its term, used for its
purpose and in an allowed region, with any public-data grants it rests on still live, and
under its call limits (a conditional ``UPDATE``: exact with any number of workers). EDC
checks its policy when a transfer starts; this checks it on every call.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog
from yiwang.exchange import sandbox
from yiwang.exchange import service as exchange
from yiwang.exchange.errors import CallLimitReached, DeliveryDenied, SandboxRefused, WrongState
from yiwang.exchange.models import Contract, ContractDay, DownloadLink, Listing, SandboxQuery
from yiwang.exchange.policy import Policy, violation
from yiwang.identity.authz import Actor
from yiwang.kit import caches, datastore, workdays
from yiwang.kit.accesslog import error_body, record_call
from yiwang.kit.crypto import get_suite
from yiwang.kit.datastore import query as records_query
from yiwang.kit.db import insert_ignoring_conflict, utcnow
from yiwang.kit.errors import PlatformError
from yiwang.kit.masking import record_masker
from yiwang.kit.validators import whole_number
from yiwang.sharing import service as sharing

LINK_HOURS = 24
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "boolean": "BOOLEAN",
}


@dataclass(frozen=True)
class Source:
    """Where a listing's data lives: the seller's own table, or a public catalog resource."""

    label: str  # for the access log: the catalog code, or listing-<id>
    table: str | None
    fields: tuple[datastore.FieldSpec, ...]
    stamp: str  # changes whenever the data changes


def source_of(session: Session, listing: Listing) -> Source:
    if listing.dataset:
        view = catalog.data_view(session, listing.dataset)
        return Source(view.code, view.table, view.fields, catalog.data_stamp(session, view.code))
    return Source(
        f"listing-{listing.id}",
        listing.data_table or None,
        tuple(exchange.listing_fields(listing)),
        listing.content_hash[:16],
    )


# ------------------------------------------------------------------ the checks of every use


def _key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def contract_for_key(session: Session, raw: str) -> Contract:
    """The contract a delivery key is bound to; a refusal when the key is wrong."""
    parts = raw.split("_", 2)
    contract_id = whole_number(parts[1], most_digits=12) if len(parts) == 3 and parts[0] == "yx" else None
    if contract_id is None:
        raise DeliveryDenied("invalid_key", "交付密钥无效（应为合约付款时发放的 yx_… 密钥）")
    contract = session.get(Contract, contract_id)
    if (
        contract is None
        or not contract.key_hash
        or not hmac.compare_digest(contract.key_hash, _key_digest(raw))
    ):
        raise DeliveryDenied("invalid_key", "交付密钥无效或已被更换")
    return contract


@dataclass(frozen=True)
class Terms:
    """A contract as a delivery needs it, copied out of its rows. Safe to keep for a few
    seconds: what can change (revocation, expiry, a new key, the counters) is checked again by
    the conditional UPDATE that counts the call (:func:`settle_call`)."""

    contract_id: int
    key_hash: str
    status: str
    reason: str
    delivery: str
    purpose: str
    region: str
    valid_until: date
    daily_limit: int | None
    consumer: str
    provider: str
    policy: Policy
    grants: tuple[int, ...]
    source: Source


def terms_of(session: Session, contract: Contract, listing: Listing) -> Terms:
    parties = exchange.org_codes(session, [contract])
    return Terms(
        contract_id=contract.id,
        key_hash=contract.key_hash,
        status=contract.status,
        reason=contract.reason,
        delivery=contract.delivery,
        purpose=contract.purpose,
        region=contract.region,
        valid_until=contract.valid_until,
        daily_limit=contract.daily_limit,
        consumer=parties[contract.buyer_id].code,
        provider=parties[contract.seller_id].code,
        policy=exchange.policy(listing),
        grants=tuple(json.loads(listing.public_grants or "[]")),
        source=source_of(session, listing),
    )


# Terms of recently used delivery keys (a few seconds), keyed by the key's hash: looking a
# contract up costs four queries (contract, listing, parties, data); the write transaction
# checks again whatever could have changed. Refusals are never cached.
_TERMS: dict[str, tuple[float, Terms]] = {}
TERMS_TTL_SECONDS = 5.0
_TERMS_MAX = 10_000
caches.register(_TERMS.clear)


def terms_for_key(session: Session, raw: str) -> Terms:
    digest = _key_digest(raw)
    now = time.monotonic()
    cached = _TERMS.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    contract = contract_for_key(session, raw)
    listing = session.get(Listing, contract.listing_id)
    assert listing is not None
    terms = terms_of(session, contract, listing)
    if terms.status == "active":
        if len(_TERMS) >= _TERMS_MAX:
            _TERMS.clear()
        _TERMS[digest] = (now + TERMS_TTL_SECONDS, terms)
    return terms


def forget_terms() -> None:
    _TERMS.clear()


def check_use(
    session: Session, terms: Terms, *, purpose: str | None, region: str | None, today: date | None = None
) -> None:
    """Refuse a use the contract does not allow now, naming the check that failed."""
    today = today or workdays.beijing_today()
    cid = terms.contract_id
    if terms.status == "revoked":
        raise DeliveryDenied("contract_revoked", f"合约 #{cid} 已被撤销：{terms.reason}")
    if terms.status == "terminated":
        raise DeliveryDenied("contract_terminated", f"合约 #{cid} 已终止：{terms.reason}")
    if terms.status != "active":
        raise DeliveryDenied("contract_not_active", f"合约 #{cid} 尚未生效（付款后开始交付）")
    use_purpose = purpose or terms.purpose
    use_region = region or terms.region
    if use_purpose != terms.purpose:
        raise DeliveryDenied(
            "purpose_not_allowed", f"本次用途“{use_purpose}”不是合约约定的用途“{terms.purpose}”"
        )
    broken = violation(
        terms.policy, purpose=use_purpose, region=use_region, valid_until=terms.valid_until, today=today
    )
    if broken == "contract_expired":
        raise DeliveryDenied(broken, f"合约 #{cid} 已于 {terms.valid_until.isoformat()} 到期")
    if broken == "purpose_not_allowed":
        raise DeliveryDenied(broken, f"用途“{use_purpose}”已不在挂牌许可的用途内")
    if broken == "region_not_allowed":
        regions = "、".join(terms.policy.regions)
        raise DeliveryDenied(broken, f"使用地 {use_region} 不在许可区域 {regions} 内")
    _check_grants(session, terms.grants, today)


def _check_grants(session: Session, ids: tuple[int, ...], today: date) -> None:
    """A public-data product stops the moment a grant it rests on is revoked or expires."""
    if not ids:
        return
    standings = sharing.grant_standings(session, ids, today)
    for grant_id in ids:
        g = standings.get(grant_id)
        if g is None or g.status != "active":
            raise DeliveryDenied(
                "grant_not_active",
                f"产品所依托的公共数据授权 #{grant_id} 已{'撤销' if g and g.status == 'revoked' else '失效'}"
                "，暂停交付",
            )


def count_use(
    session: Session,
    contract_id: int,
    *,
    daily_limit: int | None,
    key_hash: str | None = None,
    today: date | None = None,
) -> None:
    """Count one use against the contract's limits in one conditional UPDATE, which also
    re-checks what may have changed since the use was checked: still active (a revocation
    committed by another worker stops this call), not expired, and — for API calls — the same
    delivery key. Exact with any number of workers; 429 when the calls are used up."""
    today = today or workdays.beijing_today()
    conditions = [
        Contract.id == contract_id,
        Contract.status == "active",
        Contract.valid_until >= today,
        or_(Contract.call_limit.is_(None), Contract.calls < Contract.call_limit),
    ]
    if key_hash is not None:
        conditions.append(Contract.key_hash == key_hash)
    counted = session.execute(
        update(Contract)
        .where(*conditions)
        .values(calls=Contract.calls + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount == 0:  # type: ignore[attr-defined]
        _why_not_counted(session, contract_id, key_hash, today)
    if daily_limit is not None:
        session.execute(
            insert_ignoring_conflict(
                session, ContractDay.__table__, {"contract_id": contract_id, "day": today, "calls": 0}
            )
        )
        counted = session.execute(
            update(ContractDay)
            .where(
                ContractDay.contract_id == contract_id,
                ContractDay.day == today,
                ContractDay.calls < daily_limit,
            )
            .values(calls=ContractDay.calls + 1)
            .execution_options(synchronize_session=False)
        )
        if counted.rowcount == 0:  # type: ignore[attr-defined]
            raise CallLimitReached(
                f"合约 #{contract_id} 今日调用次数已达上限 {daily_limit} 次",
                retry_after=workdays.seconds_to_beijing_midnight(),
            )


def _why_not_counted(session: Session, contract_id: int, key_hash: str | None, today: date) -> None:
    forget_terms()
    row = session.execute(
        select(
            Contract.status, Contract.reason, Contract.valid_until, Contract.key_hash, Contract.call_limit
        ).where(Contract.id == contract_id)
    ).one()
    if row.status == "revoked":
        raise DeliveryDenied("contract_revoked", f"合约 #{contract_id} 已被撤销：{row.reason}")
    if row.status != "active":
        raise DeliveryDenied("contract_terminated", f"合约 #{contract_id} 已不在履约中：{row.reason}")
    if row.valid_until < today:
        raise DeliveryDenied(
            "contract_expired", f"合约 #{contract_id} 已于 {row.valid_until.isoformat()} 到期"
        )
    if key_hash is not None and row.key_hash != key_hash:
        raise DeliveryDenied("invalid_key", "交付密钥无效或已被更换")
    raise CallLimitReached(
        f"合约 #{contract_id} 的调用次数已用完（共 {row.call_limit} 次）", retry_after=86400
    )


# ------------------------------------------------------------------ API delivery


@dataclass
class Call:
    """What the access log needs about one delivery, filled in as it proceeds."""

    call_id: str
    contract_id: int
    query: dict[str, str]
    consumer: str = ""
    provider: str = ""
    resource: str = ""
    purpose: str = ""
    records: int = 0
    masked: list[str] = field(default_factory=list)
    terms: Terms | None = None


def serve_records(
    session: Session, raw_key: str, contract_id: int, call: Call, *, purpose: str | None, region: str | None
) -> dict[str, Any]:
    """One page of the contract's data, masked, read without the write lock; the contract and
    its policy checked first. :func:`settle_call` must then count it in a write transaction."""
    terms = terms_for_key(session, raw_key)
    call.terms = terms
    call.consumer, call.provider, call.purpose = terms.consumer, terms.provider, terms.purpose
    call.resource = terms.source.label
    if terms.contract_id != contract_id:
        raise DeliveryDenied("wrong_contract", "交付密钥不属于该合约")
    if terms.delivery != "api":
        raise WrongState(f"合约 #{contract_id} 的交付方式不是接口（{terms.delivery}）")
    check_use(session, terms, purpose=purpose, region=region)
    source = terms.source
    if source.table is None:
        raise WrongState("卖方尚未上传产品数据")
    names = [f.name for f in source.fields]
    subject = f"合约 #{contract_id} 的数据"
    columns = records_query.asked_columns(subject, names, call.query.get("fields")) or names
    filters = records_query.key_filters(subject, source.fields, call.query)
    limit = records_query.page_limit(call.query.get("limit"))
    after = records_query.page_cursor(call.query.get("cursor"))
    rows = datastore.read_page(
        session,
        source.table,
        source.fields,
        filters=filters,
        columns=columns,
        limit=limit + 1,
        after_row=after,
        known=True,
    )
    page, more = rows[:limit], len(rows) > limit
    mask = record_masker({f.name: f.pi_kind for f in source.fields if f.name in columns})
    records = [mask({k: v for k, v in row.items() if k != datastore.ROW_COLUMN})[0] for row in page]
    call.records = len(records)
    call.masked = [f.name for f in source.fields if f.name in columns and f.pi_kind != "none"]
    return {
        "contract": contract_id,
        "records": records,
        "next": str(page[-1][datastore.ROW_COLUMN]) if more else None,
        "masked": call.masked,
        "call": call.call_id,
    }


def settle_call(session: Session, call: Call) -> None:
    """In the write transaction: count the call, re-checking status, term and key."""
    assert call.terms is not None
    count_use(
        session, call.terms.contract_id, daily_limit=call.terms.daily_limit, key_hash=call.terms.key_hash
    )


# ------------------------------------------------------------------ file delivery


def create_link(
    session: Session, actor: Actor, contract_id: int, hours: int = LINK_HOURS
) -> tuple[str, datetime]:
    """A download link for a file-delivery contract, valid for ``hours``; the raw token is
    returned once and only its hash kept."""
    contract = exchange.get_contract(session, actor, contract_id)
    if actor.org_id != contract.buyer_id:
        raise WrongState("只有买方可以生成下载链接")
    if contract.delivery != "file":
        raise WrongState(f"合约 #{contract.id} 的交付方式不是文件（{contract.delivery}）")
    listing = session.get(Listing, contract.listing_id)
    assert listing is not None
    check_use(session, terms_of(session, contract, listing), purpose=None, region=None)
    raw = secrets.token_urlsafe(24)
    expires = utcnow() + timedelta(hours=hours)
    session.add(
        DownloadLink(
            contract_id=contract.id,
            token_hash=hashlib.sha256(raw.encode()).hexdigest(),
            expires_at=expires,
            created_by=actor.username,
        )
    )
    session.flush()
    return raw, expires


@dataclass
class FileOut:
    contract: Contract
    filename: str
    body: bytes
    records: int
    masked: list[str]
    resource: str


def download(session: Session, raw: str) -> FileOut:
    """The contract's data as CSV (personal fields masked), checked and counted like a call."""
    link = session.execute(
        select(DownloadLink).where(DownloadLink.token_hash == hashlib.sha256(raw.encode()).hexdigest())
    ).scalar_one_or_none()
    if link is None:
        raise DeliveryDenied("invalid_link", "下载链接无效")
    if link.expires_at < utcnow():
        raise DeliveryDenied("link_expired", "下载链接已过期，请重新生成")
    contract = session.get(Contract, link.contract_id)
    listing = session.get(Listing, contract.listing_id) if contract else None
    assert contract is not None
    assert listing is not None
    terms = terms_of(session, contract, listing)
    check_use(session, terms, purpose=None, region=None)
    count_use(session, contract.id, daily_limit=contract.daily_limit)
    source = terms.source
    if source.table is None:
        raise WrongState("卖方尚未上传产品数据")
    body, records, masked = _csv(session, source)
    link.downloads += 1
    return FileOut(contract, f"contract-{contract.id}.csv", body, records, masked, source.label)


def _csv(session: Session, source: Source) -> tuple[bytes, int, list[str]]:
    assert source.table is not None
    mask = record_masker({f.name: f.pi_kind for f in source.fields})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f.title for f in source.fields])
    count = 0
    for row in _all_rows(session, source):
        masked = mask(row)[0]
        writer.writerow(["" if masked[f.name] is None else masked[f.name] for f in source.fields])
        count += 1
    masked_fields = [f.name for f in source.fields if f.pi_kind != "none"]
    return ("\ufeff" + out.getvalue()).encode("utf-8"), count, masked_fields


def _all_rows(session: Session, source: Source, page: int = 5000) -> Any:
    assert source.table is not None
    after: int | None = None
    while True:
        rows = datastore.read_page(session, source.table, source.fields, limit=page, after_row=after)
        for row in rows:
            yield {k: v for k, v in row.items() if k != datastore.ROW_COLUMN}
        if len(rows) < page:
            return
        after = int(rows[-1][datastore.ROW_COLUMN])


# ------------------------------------------------------------------ sandbox


@dataclass(frozen=True)
class SandboxTarget:
    contract: Contract
    listing: Listing
    path: Path
    personal: dict[str, frozenset[str]]
    resource: str


def sandbox_target(session: Session, actor: Actor, contract_id: int, data_dir: Path) -> SandboxTarget:
    """The buyer's sandbox contract, checked for use now, with its DuckDB copy of the data
    (built once per data version, under the data directory: 原始数据不出域)."""
    contract = exchange.get_contract(session, actor, contract_id)
    if actor.org_id != contract.buyer_id:
        raise WrongState("只有买方可以在沙箱中计算")
    if contract.delivery != "sandbox":
        raise WrongState(f"合约 #{contract.id} 的交付方式不是沙箱（{contract.delivery}）")
    listing = session.get(Listing, contract.listing_id)
    assert listing is not None
    terms = terms_of(session, contract, listing)
    check_use(session, terms, purpose=None, region=None)
    source = terms.source
    if source.table is None:
        raise WrongState("产品数据尚未就绪")
    path = data_dir / "sandbox" / f"listing-{listing.id}-{source.stamp or 'empty'}.duckdb"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = _table_spec(listing, source)
        sandbox.build_database(path, [(spec, _tuples(session, source))])
    personal = {listing.table_name: frozenset(f.name for f in source.fields if f.pi_kind != "none")}
    return SandboxTarget(contract, listing, path, personal, source.label)


def _table_spec(listing: Listing, source: Source) -> sandbox.TableSpec:
    return sandbox.TableSpec(
        name=listing.table_name,
        columns=tuple(sandbox.Column(f.name, DUCKDB_TYPES[f.type]) for f in source.fields),
        personal=frozenset(f.name for f in source.fields if f.pi_kind != "none"),
    )


def _tuples(session: Session, source: Source) -> Any:
    names = [f.name for f in source.fields]
    converters = [_duck_value(f.type) for f in source.fields]
    for row in _all_rows(session, source):
        yield tuple(convert(row[n]) for n, convert in zip(names, converters, strict=True))


def _duck_value(field_type: str) -> Any:
    """Values as DuckDB wants them (SQLite hands dates back as text)."""
    if field_type == "date":
        return lambda v: date.fromisoformat(v) if isinstance(v, str) else v
    if field_type == "datetime":
        return lambda v: datetime.fromisoformat(v) if isinstance(v, str) else v
    if field_type == "boolean":
        return lambda v: None if v is None else bool(v)
    return lambda v: v


def table_schema(target: SandboxTarget) -> dict[str, Any]:
    tables = sandbox.schema(target.path)
    return {
        "tables": [
            {"name": t.name, "columns": [{"name": c.name, "type": c.type} for c in t.columns]} for t in tables
        ],
        "k": target.listing.k,
    }


def run_query(target: SandboxTarget, sql: str) -> sandbox.Result:
    """Run the buyer's SQL under the rules of 可用不可见; SandboxRefused names the rule."""
    try:
        return sandbox.run_query(target.path, sql, k=target.listing.k, personal=target.personal)
    except sandbox.SandboxRefused as refused:
        raise SandboxRefused(refused.code, refused.message) from None


def sandbox_run(
    session: Session, actor: Actor, contract_id: int, sql: str, *, data_dir: Path, suite: str
) -> dict[str, Any]:
    """One sandbox query end to end: check the contract, run under the rules, count it, and log
    it (sandbox log and access log) — refused or allowed.

    On a refusal the work of the query is undone (it ran in a savepoint), the refusal is recorded
    in ``session`` and the error raised again: the entrypoint commits the session before it lets
    the error out, so the record survives the refusal."""
    started = time.perf_counter()
    hasher = get_suite(suite)
    logged: dict[str, Any] | None = None
    try:
        with session.begin_nested():
            target = sandbox_target(session, actor, contract_id, data_dir)
            logged = _access_fields(session, actor, target, sql, hasher)
            result = run_query(target, sql)
            count_use(session, target.contract.id, daily_limit=target.contract.daily_limit)
    except PlatformError as refusal:
        _log_refusal(session, actor, contract_id, sql, refusal, logged, started, hasher)
        raise
    answer = {
        "columns": result.columns,
        "rows": result.rows,
        "suppressed": result.suppressed,
        "call": logged["call_id"],
    }
    payload = json.dumps(answer, ensure_ascii=False, default=str).encode()
    elapsed = time.perf_counter() - started
    log_query(
        session,
        actor,
        contract_id,
        sql,
        outcome="allowed",
        rows=len(result.rows),
        suppressed=result.suppressed,
        latency_ms=int(elapsed * 1000),
    )
    record_call(
        session,
        status=200,
        reason="",
        records=len(result.rows),
        body_hash=hasher.hash_hex(payload),
        latency_us=int(elapsed * 1_000_000),
        **logged,
    )
    return answer


def _access_fields(
    session: Session, actor: Actor, target: SandboxTarget, sql: str, hasher: Any
) -> dict[str, Any]:
    parties = exchange.org_codes(session, [target.contract])
    sql_hash = hasher.hash_hex(sql.encode())
    return {
        "call_id": uuid.uuid4().hex,
        "caller": actor.username,
        "system": f"contract:{target.contract.id}",
        "consumer": parties[target.contract.buyer_id].code,
        "provider": parties[target.contract.seller_id].code,
        "resource": target.resource,
        "grant_id": 0,
        "purpose": target.contract.purpose,
        "query": {"contract": str(target.contract.id), "sql": sql_hash},
        "query_hash": sql_hash,
        "masked": [],
        "clear": [],
    }


def _log_refusal(
    session: Session,
    actor: Actor,
    contract_id: int,
    sql: str,
    refusal: PlatformError,
    logged: dict[str, Any] | None,
    started: float,
    hasher: Any,
) -> None:
    if session.get(Contract, contract_id) is None:
        return  # nothing to file it under
    elapsed = time.perf_counter() - started
    log_query(
        session,
        actor,
        contract_id,
        sql,
        outcome="refused",
        code=refusal.code,
        reason=refusal.message,
        latency_ms=int(elapsed * 1000),
    )
    if logged is not None:  # the contract was the caller's: the refusal is a delivery attempt
        record_call(
            session,
            status=refusal.status,
            reason=refusal.code,
            records=0,
            body_hash=hasher.hash_hex(error_body(refusal)),
            latency_us=int(elapsed * 1_000_000),
            **logged,
        )


def log_query(
    session: Session,
    actor: Actor,
    contract_id: int,
    sql: str,
    *,
    outcome: str,
    code: str = "",
    reason: str = "",
    rows: int = 0,
    suppressed: int = 0,
    latency_ms: int = 0,
) -> None:
    session.add(
        SandboxQuery(
            contract_id=contract_id,
            actor=actor.username,
            sql=sql[:20000],
            outcome=outcome,
            code=code,
            reason=reason[:2000],
            rows=rows,
            suppressed=suppressed,
            latency_ms=latency_ms,
        )
    )


def recent_queries(session: Session, contract_id: int, limit: int = 50) -> list[SandboxQuery]:
    return list(
        session.execute(
            select(SandboxQuery)
            .where(SandboxQuery.contract_id == contract_id)
            .order_by(SandboxQuery.id.desc())
            .limit(limit)
        ).scalars()
    )
