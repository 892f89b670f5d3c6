"""Identity rules: organisations, accounts, tokens, sign-in. Services flush, never commit."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from yiwang.identity import repository as repo
from yiwang.identity.authz import ASSIGNABLE_ROLES, AccessDenied, Actor, authorize, reach
from yiwang.identity.errors import (
    BadCredentials,
    InvalidToken,
    OrgExists,
    OrgNotFound,
    TokenNotFound,
    TooManyLogins,
    UserExists,
    UserNotFound,
    WeakPassword,
)
from yiwang.identity.models import ApiToken, LoginAttempt, Org, User, UserRole, WebSession
from yiwang.kit import audit
from yiwang.kit import regions as gb2260
from yiwang.kit.db import utcnow
from yiwang.kit.errors import InvalidInput
from yiwang.kit.validators import validate_region_code, validate_uscc

TOKEN_PREFIX = "yw_"
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()


# ------------------------------------------------------------------ organisations


def create_org(session: Session, actor: Actor, *, code: str, name: str, parent: str | None, kind: str) -> Org:
    """Add a region (GB/T 2260 code), a department under a region or another department, or an
    enterprise (a company, bank or service firm: its GB 32100 unified social credit code,
    optionally under the region where it is registered)."""
    authorize(actor, "org.create", target_type="org", target_id=code)
    name = name.strip()
    if not name:
        raise InvalidInput("单位名称不能为空", details={"field": "name"})
    if kind == "region":
        # Inside a province whose GB/T 2260 table we ship, a county-level code must be a real one.
        shipped = code[:2] == "44" and len(code) == 6
        validate_region_code(code, known=gb2260.GUANGDONG if shipped else None)
        if parent is None:
            parent = gb2260.parent_code(code)
    elif kind == "enterprise":
        validate_uscc(code)
    elif kind != "department":
        raise InvalidInput(
            f"单位类型 {kind} 无效，应为 region、department 或 enterprise", details={"field": "kind"}
        )
    if repo.org_by_code(session, code) is not None:
        raise OrgExists(f"单位代码 {code} 已存在", details={"field": "code"})
    parent_org = None
    if parent:
        parent_org = repo.org_by_code(session, parent)
        if parent_org is None:
            raise OrgNotFound(f"上级单位 {parent} 不存在", details={"field": "parent"})
        if kind in ("region", "enterprise") and parent_org.kind != "region":
            raise InvalidInput("区域和企业的上级必须是区域", details={"field": "parent"})
    elif kind == "department":
        raise InvalidInput("部门必须有上级单位（所属区域或上级部门）", details={"field": "parent"})
    org = Org(
        code=code,
        name=name,
        kind=kind,
        parent_id=parent_org.id if parent_org else None,
        path=(parent_org.path if parent_org else "/") + code + "/",
    )
    session.add(org)
    session.flush()
    audit.record(
        session,
        actor,
        "org.create",
        target_type="org",
        target_id=code,
        details={"name": name, "kind": kind, "parent": parent},
    )
    return org


def get_org(session: Session, actor: Actor, code: str) -> Org:
    authorize(actor, "org.view", target_type="org", target_id=code)
    org = repo.org_by_code(session, code)
    if org is None:
        raise OrgNotFound(f"单位 {code} 不存在")
    return org


def list_orgs(
    session: Session, actor: Actor, *, under: str | None = None, kind: str | None = None
) -> list[Org]:
    authorize(actor, "org.view")
    under_path = get_org(session, actor, under).path if under else None
    return repo.list_orgs(session, under_path=under_path, kind=kind)


def parent_codes(session: Session, orgs: list[Org]) -> dict[int, str]:
    """Codes of the parents of ``orgs``, in one query."""
    parents = repo.orgs_by_ids(session, {o.parent_id for o in orgs if o.parent_id})
    return {o.id: parents[o.parent_id].code for o in orgs if o.parent_id in parents}


# ------------------------------------------------------------------ accounts


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符", details={"field": "password"})
    if password.isdigit() or password.isalpha():
        raise WeakPassword("密码需同时包含字母和数字（或符号）", details={"field": "password"})


def create_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    org_code: str,
    roles: list[str],
    password: str,
    display_name: str = "",
) -> User:
    """Create an account in ``org_code`` holding ``roles``."""
    org = repo.org_by_code(session, org_code)
    if org is None:
        raise OrgNotFound(f"单位 {org_code} 不存在", details={"field": "org"})
    authorize(actor, "user.create", org_path=org.path, target_type="user", target_id=username)
    bad = [r for r in roles if r not in ASSIGNABLE_ROLES]
    if bad or not roles:
        raise InvalidInput(
            f"角色 {', '.join(bad) or '（空）'} 无效，可选：{', '.join(ASSIGNABLE_ROLES)}",
            details={"field": "roles"},
        )
    if "admin" in roles and not actor.has_role("admin"):
        raise AccessDenied(actor, "user.create", "user", username, "只有系统管理员可以授予管理员角色")
    if repo.user_by_username(session, username) is not None:
        raise UserExists(f"用户名 {username} 已被使用", details={"field": "username"})
    check_password_strength(password)
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        org_id=org.id,
        password_hash=_hasher.hash(password),
        roles=[UserRole(role=r) for r in sorted(set(roles))],
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        target_type="user",
        target_id=username,
        details={"org": org_code, "roles": sorted(set(roles))},
    )
    return user


def list_users(session: Session, actor: Actor, *, org_code: str | None = None) -> list[User]:
    scope = authorize(actor, "user.view")
    org_path = get_org(session, actor, org_code).path if org_code else None
    if scope == "subtree":
        return [
            u
            for u in repo.list_users(session, under_path=actor.org_path)
            if not org_path or u.org.path == org_path
        ]
    if scope == "own_org":
        return repo.list_users(session, org_path=actor.org_path)
    return repo.list_users(session, org_path=org_path)


def actor_for_user(
    user: User, *, kind: str = "user", token_name: str | None = None, request_id: str = ""
) -> Actor:
    """The Actor of a loaded user (roles and org loaded)."""
    return Actor(
        username=user.username,
        org_code=user.org.code,
        org_path=user.org.path,
        roles=frozenset(r.role for r in user.roles),
        kind=kind,  # type: ignore[arg-type]
        user_id=user.id,
        org_id=user.org_id,
        display_name=user.display_name,
        token_name=token_name,
        request_id=request_id or uuid.uuid4().hex,
    )


# ------------------------------------------------------------------ sign-in


@dataclass
class LoginOutcome:
    """Sign-in result. Failures are returned, not raised, so the attempt is still committed."""

    user: User | None
    error: BadCredentials | TooManyLogins | None = None


def check_login(
    session: Session,
    username: str,
    password: str,
    *,
    remote: str = "",
    max_failures: int = 5,
    window: timedelta = timedelta(minutes=15),
    request_id: str = "",
) -> LoginOutcome:
    """Check a password sign-in, throttled per username; record the attempt and audit it."""
    now = utcnow()
    since = now - window
    last_ok = repo.last_success_since(session, username, since)
    failures = repo.failed_logins_since(session, username, max(since, last_ok) if last_ok else since)
    who = Actor.anonymous(username, request_id=request_id)
    if failures >= max_failures:
        minutes = int(window.total_seconds() // 60)
        audit.record(
            session,
            who,
            "auth.login",
            target_type="user",
            target_id=username,
            outcome="denied",
            details={"reason": "throttled", "remote": remote},
        )
        return LoginOutcome(
            None,
            TooManyLogins(
                f"登录失败次数过多，请 {minutes} 分钟后再试", retry_after=int(window.total_seconds())
            ),
        )
    user = repo.user_by_username(session, username)
    ok = user is not None and user.is_active and _password_matches(user.password_hash, password)
    session.add(LoginAttempt(username=username, success=ok, remote=remote[:64], at=now))
    if ok and user is not None:
        who = actor_for_user(user, request_id=request_id)  # a successful sign-in is the user's own act
    audit.record(
        session,
        who,
        "auth.login",
        target_type="user",
        target_id=username,
        outcome="ok" if ok else "denied",
        details={"remote": remote},
    )
    if not ok or user is None:
        return LoginOutcome(None, BadCredentials("用户名或密码错误"))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.flush()
    return LoginOutcome(user)


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def start_web_session(session: Session, user: User, *, hours: int) -> tuple[str, WebSession]:
    """A new page session for ``user``; returns the cookie value (shown once) and the row."""
    raw = secrets.token_urlsafe(32)
    row = WebSession(
        session_hash=_digest(raw),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return raw, row


def resolve_web_session(
    session: Session, raw: str, *, request_id: str = ""
) -> tuple[Actor, WebSession] | None:
    """The actor behind a session cookie, or ``None`` when it is unknown, ended or expired."""
    row = repo.web_session_by_hash(session, _digest(raw))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    user = repo.user_by_id(session, row.user_id)
    if user is None or not user.is_active:
        return None
    return actor_for_user(user, request_id=request_id), row


def end_web_session(session: Session, actor: Actor, raw: str) -> None:
    row = repo.web_session_by_hash(session, _digest(raw))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        audit.record(session, actor, "auth.logout", target_type="user", target_id=actor.username)


# ------------------------------------------------------------------ tokens


def _digest(raw: str) -> str:
    # Tokens and session ids are 256-bit random values: a plain hash suffices (no dictionary to try).
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(
    session: Session, actor: Actor, *, username: str, name: str, expires_days: int | None = None
) -> tuple[ApiToken, str]:
    """Issue a bearer token named after the system that will use it; returns (row, token)."""
    user = repo.user_by_username(session, username)
    if user is None:
        raise UserNotFound(f"用户 {username} 不存在", details={"field": "username"})
    authorize(
        actor, "token.create", org_path=user.org.path, user_id=user.id, target_type="token", target_id=name
    )
    name = name.strip()
    if not name:
        raise InvalidInput("令牌名称（使用它的系统）不能为空", details={"field": "name"})
    same_name = [t for t in repo.list_tokens(session, user_id=user.id) if t.name == name]
    if any(t.revoked_at is None for t in same_name):
        raise InvalidInput(
            f"用户 {username} 已有名为 {name} 的有效令牌", details={"field": "name"}, status=409
        )
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise InvalidInput("有效期应在 1 到 3650 天之间", details={"field": "expires"})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    # A revoked token keeps its row (and name) for the record; rename it out of the way.
    for old in same_name:
        old.name = f"{name}#revoked-{old.id}"
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=_digest(raw),
        prefix=raw[:10],
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "token.create",
        target_type="token",
        target_id=token.id,
        details={"user": username, "name": name, "expires_days": expires_days},
    )
    return token, raw


def authenticate_token(session: Session, raw: str, *, request_id: str = "", touch: bool = True) -> Actor:
    """The Actor behind a bearer token; raises InvalidToken (401) when unknown, expired or revoked.

    ``touch=False`` leaves ``last_used_at`` alone (a read-only transaction; the gateway checks
    the token again and records its use with :func:`confirm_token` in its write transaction)."""
    token = repo.token_with_user(session, _digest(raw.strip()))
    if token is None:
        raise InvalidToken("令牌无效")
    now = utcnow()
    user = token.user
    _check_usable(token.revoked_at, token.expires_at, user.is_active, now)
    # Record use at most once a minute: a hot gateway should not rewrite this row on every call.
    if touch and (token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1)):
        token.last_used_at = now
    return actor_for_user(user, kind="token", token_name=token.name, request_id=request_id)


def _check_usable(
    revoked_at: datetime | None, expires_at: datetime | None, active: bool, now: datetime
) -> None:
    """The one set of rules for a found token: not revoked, not expired, its account active."""
    if revoked_at is not None:
        raise InvalidToken("令牌已被吊销", details={"reason": "revoked"})
    if expires_at is not None and expires_at <= now:
        raise InvalidToken("令牌已过期", details={"reason": "expired"})
    if not active:
        raise InvalidToken("令牌所属账号已停用")


# Built once: the gateway confirms a token in every write batch.
_TOKEN_STATE = (
    select(ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at, User.is_active)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)
_TOKEN_USED = (
    update(ApiToken)
    .where(ApiToken.token_hash == bindparam("digest"))
    .values(last_used_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def confirm_token(session: Session, raw: str) -> None:
    """Check, in the caller's write transaction, that a token authenticated earlier (or cached)
    is still good — not revoked, not expired, its account active — and record its use at most
    once a minute. One query, and an UPDATE only when the use is due to be recorded."""
    digest = _digest(raw.strip())
    conn = session.connection()  # Core, not the ORM: this runs in every gateway write batch
    row = conn.execute(_TOKEN_STATE, {"digest": digest}).first()
    if row is None:
        raise InvalidToken("令牌无效")
    now = utcnow()
    _check_usable(row.revoked_at, row.expires_at, row.is_active, now)
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        conn.execute(_TOKEN_USED, {"digest": digest, "now": now})


def list_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    scope = authorize(actor, "token.view")
    return repo.list_tokens(session, user_id=None if scope == "all" else actor.user_id)


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = repo.token_by_id(session, token_id)
    if token is None:
        raise TokenNotFound(f"令牌 {token_id} 不存在")
    user = repo.user_by_id(session, token.user_id)
    assert user is not None
    authorize(
        actor,
        "token.revoke",
        org_path=user.org.path,
        user_id=user.id,
        target_type="token",
        target_id=token_id,
    )
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "token.revoke",
            target_type="token",
            target_id=token_id,
            details={"user": user.username, "name": token.name},
        )
    return token


def visible(actor: Actor, action: str) -> bool:
    """Whether the actor may do ``action`` at all (for showing menus and buttons)."""
    return reach(actor, action) is not None


def authorize_key_rotation(actor: Actor) -> None:
    authorize(actor, "keys.rotate", target_type="key")


def orgs_by_ids(session: Session, ids: Iterable[int | None]) -> dict[int, Org]:
    """Organisations by id, in one query (for networks that show providers); ``None`` ids (an
    optional reference left empty) are skipped, and no ids cost no query."""
    wanted = {i for i in ids if i is not None}
    return repo.orgs_by_ids(session, wanted) if wanted else {}


def orgs_by_codes(session: Session, codes: set[str]) -> dict[str, Org]:
    """Organisations by code, in one query (unknown codes are simply absent)."""
    return repo.orgs_by_codes(session, codes)


def org_by_code(session: Session, code: str) -> Org | None:
    """An organisation by code, or ``None`` (no authorization: org names are not secret)."""
    return repo.org_by_code(session, code)


def orgs_in_reach(actor: Actor, action: str) -> Select[int] | None:
    """The ids of the orgs where ``actor`` may do ``action``, as a subquery; ``None`` means all.

    Lists filter with it (``column.in_(subquery)``); raises AccessDenied when the actor may
    not do ``action`` anywhere.
    """
    scope = authorize(actor, action)
    if scope == "all":
        return None
    if scope == "subtree":
        return select(Org.id).where(Org.path.startswith(actor.org_path, autoescape=True))
    return select(Org.id).where(Org.id == actor.org_id)
