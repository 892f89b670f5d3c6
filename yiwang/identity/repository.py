"""Every query of the identity package."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from yiwang.identity.models import ApiToken, LoginAttempt, Org, User, WebSession


def org_by_code(session: Session, code: str) -> Org | None:
    return session.execute(select(Org).where(Org.code == code)).scalar_one_or_none()


def orgs_by_ids(session: Session, ids: set[int]) -> dict[int, Org]:
    if not ids:
        return {}
    return {o.id: o for o in session.execute(select(Org).where(Org.id.in_(ids))).scalars()}


def orgs_by_codes(session: Session, codes: set[str]) -> dict[str, Org]:
    if not codes:
        return {}
    return {o.code: o for o in session.execute(select(Org).where(Org.code.in_(codes))).scalars()}


def list_orgs(session: Session, *, under_path: str | None = None, kind: str | None = None) -> list[Org]:
    query = select(Org).order_by(Org.path)
    if under_path:
        query = query.where(Org.path.startswith(under_path))
    if kind:
        query = query.where(Org.kind == kind)
    return list(session.execute(query).scalars())


def user_by_username(session: Session, username: str) -> User | None:
    return session.execute(
        select(User)
        .where(User.username == username)
        .options(selectinload(User.roles), selectinload(User.org))
    ).scalar_one_or_none()


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.execute(
        select(User).where(User.id == user_id).options(selectinload(User.roles), selectinload(User.org))
    ).scalar_one_or_none()


def list_users(session: Session, *, under_path: str | None = None, org_path: str | None = None) -> list[User]:
    query = (
        select(User)
        .join(Org, User.org_id == Org.id)
        .options(selectinload(User.roles), selectinload(User.org))
        .order_by(Org.path, User.username)
    )
    if under_path:
        query = query.where(Org.path.startswith(under_path))
    if org_path:
        query = query.where(Org.path == org_path)
    return list(session.execute(query).scalars())


def token_with_user(session: Session, token_hash: str) -> ApiToken | None:
    """A token with its user, the user's org (one joined query) and roles (one more): the
    gateway authenticates every call with this, so two queries, not five."""
    return session.execute(
        select(ApiToken)
        .where(ApiToken.token_hash == token_hash)
        .options(
            joinedload(ApiToken.user).joinedload(User.org),
            joinedload(ApiToken.user).selectinload(User.roles),
        )
    ).scalar_one_or_none()


def token_by_id(session: Session, token_id: int) -> ApiToken | None:
    return session.execute(
        select(ApiToken).where(ApiToken.id == token_id).options(selectinload(ApiToken.user))
    ).scalar_one_or_none()


def list_tokens(session: Session, *, user_id: int | None = None) -> list[ApiToken]:
    query = select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.execute(query).scalars())


def web_session_by_hash(session: Session, session_hash: str) -> WebSession | None:
    return session.execute(
        select(WebSession).where(WebSession.session_hash == session_hash)
    ).scalar_one_or_none()


def failed_logins_since(session: Session, username: str, since: datetime) -> int:
    return session.execute(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == username, LoginAttempt.at >= since, LoginAttempt.success.is_(False))
    ).scalar_one()


def last_success_since(session: Session, username: str, since: datetime) -> datetime | None:
    return session.execute(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.at >= since, LoginAttempt.success.is_(True)
        )
    ).scalar_one()
