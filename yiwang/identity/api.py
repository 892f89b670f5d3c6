"""REST endpoints of the backbone: the caller, organisations, accounts, tokens, the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from yiwang.http import MAX_ID, CurrentActor, DbSession, RowId, platform
from yiwang.identity import auditing, service
from yiwang.identity import repository as repo
from yiwang.identity import schemas as s
from yiwang.identity.models import ApiToken, Org, User
from yiwang.kit.audit import ENTRY_FIELDS

router = APIRouter(prefix="/api/v1", tags=["backbone"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "请求有误"},
    401: {"description": "未登录或令牌无效"},
    403: {"description": "无权执行"},
    404: {"description": "不存在"},
    409: {"description": "与现有数据冲突"},
    422: {"description": "输入不合规"},
}


def _org_out(org: Org, parent: str | None) -> s.Org:
    return s.Org(code=org.code, name=org.name, kind=org.kind, parent=parent, path=org.path)


def _user_out(user: User) -> s.User:
    return s.User(
        username=user.username,
        display_name=user.display_name,
        org=user.org.code,
        org_name=user.org.name,
        roles=sorted(r.role for r in user.roles),
        is_active=user.is_active,
    )


def _token_out(token: ApiToken) -> s.Token:
    return s.Token(
        id=token.id,
        name=token.name,
        username=token.user.username,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


@router.get("/me", response_model=s.Me, responses=ERRORS)
def me(actor: CurrentActor, db: DbSession) -> s.Me:
    """The caller: username, org and roles."""
    org = repo.org_by_code(db, actor.org_code)
    return s.Me(
        username=actor.username,
        display_name=actor.display_name,
        kind=actor.kind,
        org=actor.org_code,
        org_name=org.name if org else "",
        roles=sorted(actor.roles),
        token_name=actor.token_name,
    )


@router.get("/orgs", response_model=list[s.Org], responses=ERRORS)
def list_orgs(
    actor: CurrentActor,
    db: DbSession,
    under: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(pattern="^(region|department)$")] = None,
) -> list[s.Org]:
    """Organisations, optionally under one org (``under``) or of one kind."""
    orgs = service.list_orgs(db, actor, under=under, kind=kind)
    parents = service.parent_codes(db, orgs)
    return [_org_out(o, parents.get(o.id)) for o in orgs]


@router.post("/orgs", response_model=s.Org, status_code=201, responses=ERRORS)
def create_org(body: s.OrgCreate, actor: CurrentActor, db: DbSession) -> s.Org:
    org = service.create_org(db, actor, code=body.code, name=body.name, parent=body.parent, kind=body.kind)
    return _org_out(org, body.parent or service.parent_codes(db, [org]).get(org.id))


@router.get("/orgs/{code}", response_model=s.Org, responses=ERRORS)
def get_org(code: str, actor: CurrentActor, db: DbSession) -> s.Org:
    org = service.get_org(db, actor, code)
    return _org_out(org, service.parent_codes(db, [org]).get(org.id))


@router.get("/users", response_model=list[s.User], responses=ERRORS)
def list_users(
    actor: CurrentActor, db: DbSession, org: Annotated[str | None, Query(max_length=64)] = None
) -> list[s.User]:
    """Accounts the caller may see (a CDO: its org and below; staff: its own org)."""
    return [_user_out(u) for u in service.list_users(db, actor, org_code=org)]


@router.post("/users", response_model=s.User, status_code=201, responses=ERRORS)
def create_user(body: s.UserCreate, actor: CurrentActor, db: DbSession) -> s.User:
    user = service.create_user(
        db,
        actor,
        username=body.username,
        org_code=body.org,
        roles=list(body.roles),
        password=body.password,
        display_name=body.display_name,
    )
    loaded = repo.user_by_username(db, user.username)
    assert loaded is not None
    return _user_out(loaded)


@router.get("/tokens", response_model=list[s.Token], responses=ERRORS)
def list_tokens(actor: CurrentActor, db: DbSession) -> list[s.Token]:
    """The caller's tokens (an admin: all tokens). Token values are never shown again."""
    return [_token_out(t) for t in service.list_tokens(db, actor)]


@router.post("/tokens", response_model=s.TokenCreated, status_code=201, responses=ERRORS)
def create_token(body: s.TokenCreate, actor: CurrentActor, db: DbSession) -> s.TokenCreated:
    """Issue a token for one of the caller's systems; the value is shown only in this response."""
    token, raw = service.create_token(
        db, actor, username=actor.username, name=body.name, expires_days=body.expires_days
    )
    loaded = repo.token_by_id(db, token.id)
    assert loaded is not None
    return s.TokenCreated(**_token_out(loaded).model_dump(), token=raw)


@router.post("/tokens/{token_id}/revoke", response_model=s.Token, responses=ERRORS)
def revoke_token(token_id: RowId, actor: CurrentActor, db: DbSession) -> s.Token:
    return _token_out(service.revoke_token(db, actor, token_id))


@router.get("/audit/entries", responses=ERRORS)
def audit_entries(
    actor: CurrentActor,
    db: DbSession,
    user: Annotated[str | None, Query(max_length=200, alias="actor")] = None,
    org: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Annotated[str | None, Query(pattern="^(ok|denied|failed)$")] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}")] = None,
    until: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=auditing.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Audit entries, newest first, with filters; ``next`` is the cursor of the following page."""
    flt = auditing.EntryFilter(
        actor=user,
        org=org,
        action=action,
        outcome=outcome,
        target=target,
        since=since,
        until=until,
        before_seq=cursor,
        limit=limit,
    )
    rows, next_cursor = auditing.list_entries(db, actor, flt)
    fields = (*ENTRY_FIELDS, "hash")
    return {"entries": [{f: getattr(r, f) for f in fields} for r in rows], "next": next_cursor}


@router.get("/audit/verify", responses=ERRORS)
def audit_verify(request: Request, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Verify the whole chain and every checkpoint signature now."""
    result = auditing.verify(db, actor, platform(request).keyring)
    return {
        "ok": result.ok,
        "entries": result.entries,
        "checkpoints": result.checkpoints,
        "first_bad": result.first_bad,
        "problem": result.problem,
    }
