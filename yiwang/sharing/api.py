"""REST endpoints of sharing (/api/v1/sharing/...) and the data gateway (/gateway/v1/...)."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from yiwang.http import (
    CurrentActor,
    DbSession,
    RowId,
    bearer_token,
    platform,
    read_on_loop_or_thread,
    request_id,
)
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.identity.errors import InvalidToken
from yiwang.kit import caches
from yiwang.kit.crypto import get_suite
from yiwang.kit.db import orm_session
from yiwang.kit.errors import AuthenticationRequired, PlatformError
from yiwang.sharing import calls, console, gateway, lists, notices, service
from yiwang.sharing.schemas import (
    DecisionIn,
    DemandAnswerIn,
    DemandIn,
    DutyIn,
    GrantOut,
    ObjectionAnswerIn,
    ObjectionIn,
    ReasonIn,
    RequestIn,
    RequestOut,
)

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])
gateway_router = APIRouter(prefix="/gateway/v1", tags=["gateway"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录"},
    403: {"description": "无权执行"},
    404: {"description": "不存在"},
    409: {"description": "状态不允许"},
    422: {"description": "输入不合规"},
}
Side = Literal["provider", "consumer"]


def _requests_out(db: DbSession, items: list[Any]) -> list[RequestOut]:
    codes = service.org_codes(db, items)
    return [RequestOut(**service.request_shape(r, codes)) for r in items]


def _grants_out(db: DbSession, items: list[Any]) -> list[GrantOut]:
    codes = service.org_codes(db, items)
    return [GrantOut(**service.grant_shape(g, codes)) for g in items]


@router.post("/requests", response_model=RequestOut, status_code=201, responses=ERRORS)
def submit_request(body: RequestIn, actor: CurrentActor, db: DbSession) -> RequestOut:
    """Ask for a published resource for one purpose and one system (see the share type rules)."""
    return _requests_out(db, [service.submit_request(db, actor, body)])[0]


@router.get("/requests", response_model=list[RequestOut], responses=ERRORS)
def list_requests(
    actor: CurrentActor,
    db: DbSession,
    role: Side | None = None,
    status: Literal["pending", "granted", "refused", "withdrawn"] | None = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RequestOut]:
    """Requests to answer (``role=provider``) or asked (``role=consumer``), newest first."""
    items = service.list_requests(db, actor, role=role, status=status, overdue=overdue, limit=limit)
    return _requests_out(db, items)


@router.get("/requests/{request_id}", response_model=RequestOut, responses=ERRORS)
def get_request(request_id: RowId, actor: CurrentActor, db: DbSession) -> RequestOut:
    return _requests_out(db, [service.get_request(db, actor, request_id)])[0]


@router.post("/requests/{request_id}/decision", response_model=RequestOut, responses=ERRORS)
def decide_request(request_id: RowId, body: DecisionIn, actor: CurrentActor, db: DbSession) -> RequestOut:
    """Approve (optionally narrowed) or refuse with a reason."""
    return _requests_out(db, [service.decide_request(db, actor, request_id, body)])[0]


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut, responses=ERRORS)
def withdraw_request(request_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession) -> RequestOut:
    return _requests_out(db, [service.withdraw_request(db, actor, request_id, body.reason)])[0]


@router.post("/requests/{request_id}/escalate", response_model=RequestOut, responses=ERRORS)
def escalate_request(request_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession) -> RequestOut:
    """Ask the platform operator to coordinate (协调) a disputed or overdue request."""
    return _requests_out(db, [service.escalate_request(db, actor, request_id, body.reason)])[0]


@router.get("/grants", response_model=list[GrantOut], responses=ERRORS)
def list_grants(
    actor: CurrentActor,
    db: DbSession,
    role: Side | None = None,
    status: Literal["active", "expired", "revoked"] | None = None,
    resource: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[GrantOut]:
    """Grants held (``role=consumer``) or given (``role=provider``), newest first."""
    items = service.list_grants(db, actor, role=role, status=status, resource=resource, limit=limit)
    return _grants_out(db, items)


@router.get("/grants/{grant_id}", response_model=GrantOut, responses=ERRORS)
def get_grant(grant_id: RowId, actor: CurrentActor, db: DbSession) -> GrantOut:
    return _grants_out(db, [service.get_grant(db, actor, grant_id)])[0]


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut, responses=ERRORS)
def revoke_grant(grant_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession) -> GrantOut:
    """Revoke at once: the next gateway call under this grant gets a 403."""
    return _grants_out(db, [service.revoke_grant(db, actor, grant_id, body.reason)])[0]


def _call_out(entry: Any) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "call": entry.call_id,
        "caller": entry.caller,
        "system": entry.system,
        "consumer": entry.consumer,
        "provider": entry.provider,
        "resource": entry.resource,
        "grant": entry.grant_id or None,
        "purpose": entry.purpose,
        "query": json.loads(entry.query),
        "status": entry.status,
        "reason": entry.reason,
        "records": entry.records,
        "masked": [m for m in entry.masked.split(",") if m],
        "clear": [c for c in entry.clear.split(",") if c],
        "body_hash": entry.body_hash,
        "latency_ms": round(entry.latency_us / 1000, 3),
        "hash": entry.hash,
    }


@router.get("/access-log", responses=ERRORS)
def access_log(
    actor: CurrentActor,
    db: DbSession,
    resource: Annotated[str | None, Query(max_length=80)] = None,
    grant: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    side: Side | None = None,
    denied: bool = False,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Gateway calls, newest first: the provider's, the consumer's, or (auditors) all."""
    flt = calls.CallFilter(
        resource=resource,
        grant=grant,
        side=side,
        denied=denied,
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
        before_seq=cursor,
        limit=limit,
    )
    rows, next_cursor = calls.list_calls(db, actor, flt)
    return {"calls": [_call_out(r) for r in rows], "next": next_cursor}


@router.get(
    "/access-log/export",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"description": "JSON lines", "content": {"application/x-ndjson": {}}}},
)
def export_access_log(
    request: Request, actor: CurrentActor, db: DbSession, since: Annotated[date | None, Query()] = None
) -> StreamingResponse:
    """The access log as JSON lines, verifiable offline with ``yiwang audit verify --file``."""
    lines = list(
        calls.export(db, actor, platform(request).keyring, since=since.isoformat() if since else None)
    )
    return StreamingResponse(
        iter(line + "\n" for line in lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="access-log.jsonl"'},
    )


@router.post("/objections", status_code=201, responses=ERRORS)
def raise_objection(body: ObjectionIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Flag records (by key) of a resource the department holds a grant for."""
    objection = lists.raise_objection(db, actor, body)
    return lists.objection_shape(objection, service.org_codes(db, [objection]))


@router.get("/objections", responses=ERRORS)
def list_objections(
    actor: CurrentActor,
    db: DbSession,
    role: Side | None = None,
    status: Literal["open", "corrected", "rejected"] | None = None,
    resource: Annotated[str | None, Query(max_length=80)] = None,
) -> list[dict[str, Any]]:
    items = lists.list_objections(db, actor, role=role, status=status, resource=resource)
    codes = service.org_codes(db, items)
    return [lists.objection_shape(o, codes) for o in items]


@router.post("/objections/{objection_id}/answer", responses=ERRORS)
def answer_objection(
    objection_id: RowId, body: ObjectionAnswerIn, actor: CurrentActor, db: DbSession
) -> dict[str, Any]:
    """The provider's answer: corrected (with the load that fixed it) or rejected with reasons."""
    objection = lists.answer_objection(db, actor, objection_id, body)
    return lists.objection_shape(objection, service.org_codes(db, [objection]))


def _demands_out(db: DbSession, items: list[Any]) -> list[dict[str, Any]]:
    ids = {d.org_id for d in items} | {d.provider_id for d in items if d.provider_id}
    codes = {i: o.code for i, o in identity.orgs_by_ids(db, ids).items()}
    return [lists.demand_shape(d, codes) for d in items]


@router.post("/demands", status_code=201, responses=ERRORS)
def post_demand(body: DemandIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Post a data need (需求清单) of one's department."""
    return _demands_out(db, [lists.post_demand(db, actor, body)])[0]


@router.get("/demands", responses=ERRORS)
def list_demands(
    actor: CurrentActor, db: DbSession, status: Literal["open", "answered", "declined"] | None = None
) -> list[dict[str, Any]]:
    return _demands_out(db, lists.list_demands(db, actor, status=status))


@router.post("/demands/{demand_id}/answer", responses=ERRORS)
def answer_demand(
    demand_id: RowId, body: DemandAnswerIn, actor: CurrentActor, db: DbSession
) -> dict[str, Any]:
    """Answer a demand with a published resource, or decline it with a reason."""
    return _demands_out(db, [lists.answer_demand(db, actor, demand_id, body)])[0]


@router.post("/duties", status_code=201, responses=ERRORS)
def assign_duty(body: DutyIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Put a resource on its provider's duty list (责任清单)."""
    duty = lists.assign_duty(db, actor, body)
    return {"id": duty.id, "org": body.org, "resource": duty.resource_code, "note": duty.note}


@router.get("/duties", responses=ERRORS)
def duty_list(
    actor: CurrentActor, db: DbSession, org: Annotated[str, Query(min_length=1, max_length=100)]
) -> list[dict[str, Any]]:
    """A department's duty list with each resource's status (current, overdue, unpublished)."""
    return lists.duty_list(db, actor, org)


@router.get("/console", responses=ERRORS)
def console_overview(actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The CDO's (region) or operator's (province) console: work, grants, calls, objections, quality."""
    return console.overview(db, actor)


@router.get("/notifications", responses=ERRORS)
def my_notifications(actor: CurrentActor, db: DbSession) -> list[dict[str, Any]]:
    """The newest notices for the caller's department and roles."""
    return [
        {"id": n.id, "kind": n.kind, "message": n.message, "link": n.link, "at": n.created_at}
        for n in notices.for_actor(db, actor)
    ]


# ------------------------------------------------------------------ the gateway


@gateway_router.get("/resources/{code}/records", responses={**ERRORS, 429: {"description": "超出配额或频率"}})
async def records(code: str, request: Request) -> Response:
    """Records of a resource under the caller system's grant: granted fields only, personal
    data masked, rows in the grant's scope; every call logged before the answer leaves.

    Query: ``fields=a,b``, ``<key field>=<value or prefix*>``, ``limit`` (≤ 1000), ``cursor``.
    """
    running = platform(request)
    call = gateway.Call(call_id=secrets.token_hex(16), resource=code[:80], query=dict(request.query_params))
    suite = running.keyring.suite_name
    token = bearer_token(request) or ""
    rid = request_id(request)
    try:
        try:
            payload = await _serve_and_settle(request, running, call, token, rid, suite)
        except gateway.StaleGrant:
            # The cached grant was revoked or expired meanwhile: answer from a fresh look-up.
            gateway.forget_grants()
            call = gateway.Call(call_id=call.call_id, resource=call.resource, query=call.query)
            payload = await _serve_and_settle(request, running, call, token, rid, suite)
    except (_Refused, PlatformError) as failure:
        refusal = failure.error if isinstance(failure, _Refused) else failure
        if isinstance(refusal, InvalidToken):
            _ACTORS.pop(token, None)  # revoked or expired since it was cached: look it up again
        if not isinstance(failure, _Refused):  # one refused while settling is logged already
            await _settle(running, gateway.Settlement(call, suite, refusal=refusal))
        raise refusal from None
    return Response(payload, media_type="application/json", headers={"X-Call-ID": call.call_id})


class _Refused(Exception):
    def __init__(self, error: PlatformError) -> None:
        self.error = error


async def _serve_and_settle(
    request: Request, running: Any, call: gateway.Call, token: str, rid: str, suite: str
) -> bytes:
    """Read and prepare the answer without the write lock; then confirm, count and log it with
    the calls finishing at the same time (the token and the grant are checked again there, so a
    revocation that lands in between still stops this call)."""
    if not token:
        raise AuthenticationRequired("数据网关需要系统访问令牌（Authorization: Bearer …）")
    payload = await read_on_loop_or_thread(request, _serve, running, call, token, rid)
    try:
        await _settle(running, gateway.Settlement(call, suite, body_hash=_hash(suite, payload), token=token))
    except PlatformError as refusal:
        raise _Refused(refusal) from None
    return payload


def _serve(running: Any, call: gateway.Call, token: str, rid: str) -> bytes:
    with running.db.read_connection() as conn:
        actor = _gateway_actor(conn, token, rid)
        body = gateway.serve(conn, actor, call)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


async def _settle(running: Any, item: gateway.Settlement) -> None:
    await running.db.batcher("sharing.gateway", gateway.settle_calls).run(item)


# Actors of recently seen tokens (a few seconds): authenticating costs two queries, and the write
# transaction confirms the token anyway. Keyed by the raw token, which never leaves this process.
_ACTORS: dict[str, tuple[float, Actor]] = {}
ACTOR_TTL_SECONDS = 5.0
_ACTORS_MAX = 10_000
caches.register(_ACTORS.clear)


def _gateway_actor(db: Any, token: str, rid: str) -> Actor:
    now = time.monotonic()
    cached = _ACTORS.get(token)
    if cached is not None and cached[0] > now:
        return dataclasses.replace(cached[1], request_id=rid)
    actor = identity.authenticate_token(orm_session(db), token, request_id=rid, touch=False)
    if len(_ACTORS) >= _ACTORS_MAX:
        _ACTORS.clear()
    _ACTORS[token] = (now + ACTOR_TTL_SECONDS, actor)
    return actor


def _hash(suite: str, data: bytes) -> str:
    return get_suite(suite).hash_hex(data)
