"""Request-scoped dependencies shared by every network's API and pages.

- :func:`session` opens the request's transaction and commits it before the
  response leaves (``scope="function"``), so a client never sees success for a
  change that did not commit.
- :func:`actor` resolves the caller from a bearer token (systems) or the page
  session cookie (people); :func:`optional_actor` lets anonymous callers through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit.errors import AuthenticationRequired, PermissionDenied
from yiwang.runtime import Platform

SESSION_COOKIE = "yiwang_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
T = TypeVar("T")


def platform(request: Request) -> Platform:
    return request.app.state.platform


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "")


async def read_on_loop_or_thread(request: Request, read: Callable[..., T], *args: Any) -> T:
    """Run a short read of a hot async route (the gateways'): right on the event loop when the
    database is embedded SQLite (an indexed read takes tens of microseconds, less than a hop to
    a worker thread costs), in the thread pool when it is a server a round trip away."""
    if platform(request).db.is_sqlite:
        return read(*args)
    return await run_in_threadpool(read, *args)


def _session(request: Request) -> Iterator[Session]:
    with platform(request).session_scope() as db:
        request.state.db = db
        yield db


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <t>``, or CKAN's bare ``Authorization: <t>``."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header if " " not in header else None


def _resolve_actor(request: Request, db: Session) -> Actor | None:
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    rid = request_id(request)
    token = bearer_token(request)
    actor: Actor | None = None
    if token:
        actor = identity.authenticate_token(db, token, request_id=rid)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        resolved = identity.resolve_web_session(db, cookie, request_id=rid) if cookie else None
        if resolved is not None:
            actor, web_session = resolved
            request.state.csrf_token = web_session.csrf_token
            if request.method not in SAFE_METHODS and request.url.path.startswith(("/api/", "/gateway/")):
                # Cookie-authenticated API writes must prove they come from our own pages.
                if request.headers.get(CSRF_HEADER) != web_session.csrf_token:
                    raise PermissionDenied("缺少或错误的 CSRF 令牌", code="csrf_failed")
    request.state.actor = actor
    return actor


def _optional_actor(
    request: Request, db: Annotated[Session, Depends(_session, scope="function")]
) -> Actor | None:
    return _resolve_actor(request, db)


def _actor(request: Request, db: Annotated[Session, Depends(_session, scope="function")]) -> Actor:
    actor = _resolve_actor(request, db)
    if actor is None:
        raise AuthenticationRequired("请先登录或提供有效的访问令牌（Authorization: Bearer …）")
    return actor


# Row ids in paths and cursors: bounded so an absurd number is a 422, not a database overflow.
MAX_ID = 2_147_483_647
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]

DbSession = Annotated[Session, Depends(_session, scope="function")]
CurrentActor = Annotated[Actor, Depends(_actor)]
OptionalActor = Annotated[Actor | None, Depends(_optional_actor)]
