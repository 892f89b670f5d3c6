"""REST endpoints of the exchange (/api/v1/exchange/...) and its delivery gateway
(/gateway/v1/contracts/{id}/records, /exchange/download/{token})."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request, Response, UploadFile

from yiwang.exchange import delivery, service
from yiwang.exchange.models import Contract, Listing
from yiwang.exchange.schemas import (
    DepositIn,
    DisputeDecisionIn,
    ListingIn,
    MemberIn,
    NodeIn,
    OrderIn,
    RatingIn,
    ReasonIn,
    ReviewIn,
    SandboxQueryIn,
    TermsIn,
)
from yiwang.http import (
    CurrentActor,
    DbSession,
    OptionalActor,
    RowId,
    bearer_token,
    platform,
    read_on_loop_or_thread,
)
from yiwang.kit import ledger
from yiwang.kit.accesslog import error_body, record_call, refusal_reason
from yiwang.kit.audit import canonical_json
from yiwang.kit.crypto import get_suite
from yiwang.kit.datastore import query as records_query
from yiwang.kit.db import orm_session, run_each
from yiwang.kit.errors import AuthenticationRequired, PlatformError

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])
gateway_router = APIRouter(prefix="/gateway/v1", tags=["gateway"])
download_router = APIRouter(tags=["exchange"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录"},
    403: {"description": "无权执行"},
    404: {"description": "不存在"},
    409: {"description": "状态不允许"},
    422: {"description": "输入不合规"},
}


def _listings_out(db: DbSession, items: list[Listing]) -> list[dict[str, Any]]:
    orgs, nodes = service.listing_context(db, items)
    return [service.listing_shape(x, orgs[x.seller_id], nodes[x.node_id]) for x in items]


def _contract_out(db: DbSession, c: Contract, **extra: Any) -> dict[str, Any]:
    return {**service.contract_shape(c, service.org_codes(db, [c])), **extra}


# ------------------------------------------------------------------ nodes, members, money


@router.get("/nodes")
def nodes(db: DbSession) -> list[dict[str, Any]]:
    """一所多基地多平台: the exchange, its regional bases and sector platforms (public)."""
    return [
        {
            "code": n.code,
            "name": n.name,
            "kind": n.kind,
            "region": n.region,
            "sector": n.sector,
            "fee_bp": n.fee_bp,
        }
        for n in service.list_nodes(db)
    ]


@router.post("/nodes", status_code=201, responses=ERRORS)
def create_node(body: NodeIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    node = service.create_node(db, actor, body)
    return {"code": node.code, "name": node.name, "kind": node.kind}


@router.post("/members", status_code=201, responses=ERRORS)
def admit_member(body: MemberIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    member = service.admit_member(db, actor, body)
    return {"org": body.org, "node": body.node, "roles": json.loads(member.roles)}


@router.post("/deposits", status_code=201, responses=ERRORS)
def deposit(body: DepositIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The exchange records money a member paid in from outside the platform."""
    txn = service.deposit(db, actor, body.org, body.amount, body.memo)
    _, balance = service.account_of(db, actor, body.org)
    return {"transaction": txn, "org": body.org, "balance": balance}


@router.get("/accounts/{org}", responses=ERRORS)
def account(org: str, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """A member's balance and latest movements (its own; the exchange and auditors any)."""
    found, balance = service.account_of(db, actor, org)
    try:
        moves = ledger.statement(db, service.member_account(found.id), limit=100)
    except ledger.UnknownAccount:
        moves = []
    return {
        "org": found.code,
        "balance": balance,
        "movements": [
            {
                "transaction": m.transaction_id,
                "kind": m.kind,
                "reference": m.reference,
                "amount": m.amount,
                "at": m.at,
            }
            for m in moves
        ],
    }


@router.get("/ledger/check", responses=ERRORS)
def check_ledger(actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The trial balance: every transaction balances, no account is overdrawn."""
    service.authorize_books(actor)
    books = ledger.check_books(db)
    return {
        "balanced": books.balanced,
        "accounts": books.accounts,
        "transactions": books.transactions,
        "total": books.total,
        "unbalanced": books.unbalanced,
        "drifted": books.drifted,
        "overdrawn": books.overdrawn,
    }


# ------------------------------------------------------------------ listings


@router.get("/listings")
def search_listings(
    db: DbSession,
    q: str = "",
    node: str | None = None,
    delivery_mode: Annotated[Literal["api", "file", "sandbox"] | None, Query(alias="delivery")] = None,
    price_model: Literal["one_time", "subscription", "per_call"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    """The market: published listings, Chinese search (pinyin too), facets by node, delivery, price model."""
    market = service.search_listings(
        db, q=q[:200], node=node, delivery=delivery_mode, price_model=price_model, limit=limit, offset=offset
    )
    return {"total": market.total, "listings": _listings_out(db, market.listings), "facets": market.facets}


@router.post("/listings", status_code=201, responses=ERRORS)
def create_listing(body: ListingIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _listings_out(db, [service.create_listing(db, actor, body)])[0]


@router.get("/listings/{listing_id}", responses=ERRORS)
def get_listing(listing_id: RowId, actor: OptionalActor, db: DbSession) -> dict[str, Any]:
    return _listings_out(db, [service.get_listing(db, actor, listing_id)])[0]


@router.post("/listings/{listing_id}/data", responses=ERRORS)
def load_data(
    listing_id: RowId, file: UploadFile, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    """Upload the seller's own data (CSV, XLSX or JSON): every row validated, all-or-nothing."""
    suite = platform(request).keyring.suite_name
    listing = service.load_listing_data(
        db, actor, listing_id, file.file, file.filename or "data.csv", suite=suite
    )
    return {"listing": listing.id, "rows": listing.row_count, "content_hash": listing.content_hash}


@router.post("/listings/{listing_id}/submit", responses=ERRORS)
def submit_listing(listing_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _listings_out(db, [service.submit_listing(db, actor, listing_id)])[0]


@router.post("/listings/{listing_id}/review", responses=ERRORS)
def review_listing(listing_id: RowId, body: ReviewIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The exchange's review (无合规不上架)."""
    return _listings_out(db, [service.review_listing(db, actor, listing_id, body)])[0]


@router.post("/listings/{listing_id}/delist", responses=ERRORS)
def delist(listing_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _listings_out(db, [service.delist(db, actor, listing_id, body.reason)])[0]


# ------------------------------------------------------------------ contracts


@router.get("/contracts", responses=ERRORS)
def list_contracts(
    actor: CurrentActor,
    db: DbSession,
    role: Literal["buyer", "seller"] | None = None,
    status: str | None = Query(None, max_length=20),
) -> list[dict[str, Any]]:
    """The caller's contracts: ``{"id", "listing", "delivery", "status", ...}``."""
    items = service.list_contracts(db, actor, role=role, status=status)
    orgs = service.org_codes(db, items)
    return [service.contract_shape(c, orgs) for c in items]


@router.post("/orders", status_code=201, responses=ERRORS)
def place_order(body: OrderIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Order a listing: at its listed terms the contract is finalized at once (and paid with
    ``pay``); other terms open a negotiation."""
    ordered = service.order(db, actor, body)
    return _contract_out(db, ordered.contract, key=ordered.key)


@router.get("/contracts/{contract_id}", responses=ERRORS)
def get_contract(contract_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    contract = service.get_contract(db, actor, contract_id)
    events = [
        {
            "action": e.action,
            "side": e.side,
            "actor": e.actor,
            "terms": json.loads(e.terms) if e.terms else None,
            "note": e.note,
            "at": e.created_at,
        }
        for e in service.contract_events(db, contract.id)
    ]
    return _contract_out(db, contract, events=events)


@router.post("/contracts/{contract_id}/offer", responses=ERRORS)
def counter_offer(contract_id: RowId, body: TermsIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _contract_out(db, service.counter_offer(db, actor, contract_id, body))


@router.post("/contracts/{contract_id}/agree", responses=ERRORS)
def agree(contract_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _contract_out(db, service.agree(db, actor, contract_id))


@router.post("/contracts/{contract_id}/finalize", responses=ERRORS)
def finalize(contract_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _contract_out(db, service.finalize(db, actor, contract_id))


@router.post("/contracts/{contract_id}/terminate", responses=ERRORS)
def terminate(contract_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _contract_out(db, service.terminate(db, actor, contract_id, body.reason))


@router.post("/contracts/{contract_id}/pay", responses=ERRORS)
def pay(contract_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Pay into escrow; an API contract's delivery key is in the answer, once."""
    paid = service.pay(db, actor, contract_id)
    return _contract_out(db, paid.contract, key=paid.key)


@router.post("/contracts/{contract_id}/key", responses=ERRORS)
def rotate_key(contract_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return {"contract": contract_id, "key": service.rotate_key(db, actor, contract_id)}


@router.post("/contracts/{contract_id}/accept", responses=ERRORS)
def accept(contract_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The buyer's acceptance (验收): the escrow is settled to the seller, node and exchange."""
    return _contract_out(db, service.accept_delivery(db, actor, contract_id))


@router.post("/contracts/{contract_id}/dispute", responses=ERRORS)
def dispute(contract_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _contract_out(db, service.dispute(db, actor, contract_id, body.reason))


@router.post("/contracts/{contract_id}/decision", responses=ERRORS)
def decide_dispute(
    contract_id: RowId, body: DisputeDecisionIn, actor: CurrentActor, db: DbSession
) -> dict[str, Any]:
    return _contract_out(db, service.decide_dispute(db, actor, contract_id, body))


@router.post("/contracts/{contract_id}/revoke", responses=ERRORS)
def revoke(contract_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Stop the contract at once: the next delivery call is refused."""
    return _contract_out(db, service.revoke_contract(db, actor, contract_id, body.reason))


@router.post("/contracts/{contract_id}/rating", responses=ERRORS)
def rate(contract_id: RowId, body: RatingIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _contract_out(db, service.rate(db, actor, contract_id, body))


@router.post("/contracts/{contract_id}/links", status_code=201, responses=ERRORS)
def create_link(contract_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """A time-limited download link for a file-delivery contract (the token is shown once)."""
    raw, expires = delivery.create_link(db, actor, contract_id)
    return {"url": f"/exchange/download/{raw}", "expires_at": expires}


# ------------------------------------------------------------------ sandbox


@router.get("/sandbox/schema", responses=ERRORS)
def sandbox_schema(
    contract: Annotated[int, Query(ge=1, le=2_147_483_647)],
    actor: CurrentActor,
    db: DbSession,
    request: Request,
) -> dict[str, Any]:
    """The tables and columns the contract's sandbox offers, and its k."""
    target = delivery.sandbox_target(db, actor, contract, platform(request).settings.data_dir)
    return delivery.table_schema(target)


@router.post("/sandbox/query", responses=ERRORS)
def sandbox_query(
    body: SandboxQueryIn, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    """Run SQL over the contract's data: only aggregates over at least k records leave;
    smaller groups are suppressed and counted. Every query, allowed or refused, is logged."""
    running = platform(request)
    try:
        return delivery.sandbox_run(
            db,
            actor,
            body.contract,
            body.sql,
            data_dir=running.settings.data_dir,
            suite=running.keyring.suite_name,
        )
    except PlatformError:
        db.commit()  # the refusal's record (the rest of the query was undone in its savepoint)
        raise


@router.get("/sandbox/queries", responses=ERRORS)
def sandbox_queries(
    contract: Annotated[int, Query(ge=1, le=2_147_483_647)], actor: CurrentActor, db: DbSession
) -> list[dict[str, Any]]:
    """The contract's latest sandbox queries, allowed and refused."""
    service.get_contract(db, actor, contract)
    return [
        {
            "id": q.id,
            "sql": q.sql,
            "outcome": q.outcome,
            "code": q.code,
            "reason": q.reason,
            "rows": q.rows,
            "suppressed": q.suppressed,
            "at": q.created_at,
        }
        for q in delivery.recent_queries(db, contract)
    ]


# ------------------------------------------------------------------ delivery gateway


@gateway_router.get(
    "/contracts/{contract_id}/records", responses={**ERRORS, 429: {"description": "超出调用次数"}}
)
async def contract_records(contract_id: RowId, request: Request) -> Response:
    """Records delivered under a contract, with its delivery key (``Authorization: Bearer yx_…``).

    Every call re-checks the contract: active, within its term, its purpose (``X-Purpose``,
    percent-encoded UTF-8, default the contract's) and region of use (``X-Region``), the
    public-data grants it rests on, and its call limits. Personal fields are masked. Each call
    is in the access log.
    """
    running = platform(request)
    suite = running.keyring.suite_name
    call = delivery.Call(
        call_id=secrets.token_hex(16), contract_id=contract_id, query=dict(request.query_params)
    )
    started = time.perf_counter()
    key = bearer_token(request)
    writer = running.db.batcher("jobs", run_each)
    try:
        if not key:
            raise AuthenticationRequired("请以合约交付密钥调用（Authorization: Bearer yx_…）")
        # Read and prepare without the write lock; then count and log in a short write
        # transaction shared with the calls finishing at the same time, whose conditional UPDATE
        # checks status, term and key again (a revocation that lands in between stops this call).
        purpose, region = _header(request, "x-purpose"), _header(request, "x-region")
        payload = await read_on_loop_or_thread(request, _serve_delivery, running, key, call, purpose, region)
        fields = _log_fields(call, suite, started, status=200, reason="", body=payload)

        def count_and_log(db: Any) -> None:
            delivery.settle_call(db, call)
            record_call(db, **fields)

        await writer.run(count_and_log)
    except PlatformError as refusal:
        reason = refusal_reason(refusal)
        refused = _log_fields(
            call, suite, started, status=refusal.status, reason=reason, body=error_body(refusal)
        )
        refused["records"], refused["masked"] = 0, []
        await writer.run(lambda db: record_call(db, **refused))
        raise
    return Response(payload, media_type="application/json", headers={"X-Call-ID": call.call_id})


def _serve_delivery(
    running: Any, key: str, call: delivery.Call, purpose: str | None, region: str | None
) -> bytes:
    with running.db.read_connection() as conn:
        body = delivery.serve_records(
            orm_session(conn), key, call.contract_id, call, purpose=purpose, region=region
        )
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _header(request: Request, name: str) -> str | None:
    """A header value; Chinese text travels percent-encoded (UTF-8), as HTTP headers are ASCII."""
    value = request.headers.get(name)
    return None if value is None else unquote(value)[:100]


def _log_fields(
    call: delivery.Call, suite: str, started: float, *, status: int, reason: str, body: bytes
) -> dict[str, Any]:
    hasher = get_suite(suite)
    logged = {k: v if k in records_query.RESERVED else "***" for k, v in call.query.items()}
    return {
        "call_id": call.call_id,
        "caller": f"contract:{call.contract_id}",
        "system": f"contract:{call.contract_id}",
        "consumer": call.consumer,
        "provider": call.provider,
        "resource": call.resource,
        "grant_id": 0,
        "purpose": call.purpose,
        "query": logged,
        "query_hash": hasher.hash_hex(canonical_json(call.query).encode()),
        "status": status,
        "reason": reason,
        "records": call.records,
        "masked": call.masked,
        "clear": [],
        "body_hash": hasher.hash_hex(body),
        "latency_us": int((time.perf_counter() - started) * 1_000_000),
    }


@download_router.get("/exchange/download/{token}", responses=ERRORS)
def download(token: str, request: Request) -> Response:
    """A file delivery through its time-limited link: checked and counted like an API call,
    logged with the buyer and the hash of exactly what was sent."""
    running = platform(request)
    suite = running.keyring.suite_name
    started = time.perf_counter()
    call = delivery.Call(call_id=uuid.uuid4().hex, contract_id=0, query={})
    try:
        with running.session_scope() as db:
            out = delivery.download(db, token[:200])
            parties = service.org_codes(db, [out.contract])
            call.contract_id, call.purpose, call.resource = (
                out.contract.id,
                out.contract.purpose,
                out.resource,
            )
            call.consumer, call.provider = (
                parties[out.contract.buyer_id].code,
                parties[out.contract.seller_id].code,
            )
            call.records, call.masked = out.records, out.masked
            record_call(db, **_log_fields(call, suite, started, status=200, reason="", body=out.body))
    except PlatformError as refusal:
        refused = _log_fields(
            call, suite, started, status=refusal.status, reason=refusal.code, body=error_body(refusal)
        )
        with running.session_scope() as db:
            record_call(db, **refused)
        raise
    return Response(
        out.body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"', "X-Call-ID": call.call_id},
    )
