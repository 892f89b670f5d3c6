"""Sign-in and sign-out pages.

The login form is protected against login CSRF with a signed double-submit
cookie (there is no session yet to hold a token); sign-out is a POST carrying
the session's own CSRF token. Identity stands on the kit only, so it does not
import the page shell: ``yiwang.web.mount`` hands it the renderer through
``app.state.render_page``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from yiwang.http import SESSION_COOKIE, DbSession, OptionalActor, platform, request_id
from yiwang.identity import service as identity
from yiwang.identity.errors import TooManyLogins
from yiwang.kit.errors import PermissionDenied

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "yiwang_login_csrf"
MAX_USERNAME = 64
MAX_PASSWORD = 1024

Renderer = Callable[..., Response]


def _render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    renderer: Renderer = request.app.state.render_page
    return renderer(request, template, context, status=status, headers=headers)


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith(("/login", "/logout")):
        return default
    return target


# ------------------------------------------------------------------ login CSRF (signed double submit)


def _sign(request: Request, nonce: str) -> str:
    key = platform(request).settings.resolved_secret_key().encode()
    return hmac.new(key, b"login-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _new_login_token(request: Request) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_sign(request, nonce)}"


def _login_token_ok(request: Request, submitted: str) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not submitted or not secrets.compare_digest(cookie, submitted):
        return False
    nonce, _, signature = cookie.partition(".")
    return bool(nonce) and secrets.compare_digest(signature, _sign(request, nonce))


def _login_form(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    error_values: Mapping[str, Any] | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    nonce, _, signature = token.partition(".")
    if not (nonce and signature and secrets.compare_digest(signature, _sign(request, nonce))):
        token = _new_login_token(request)
    context = {
        "next": next_path,
        "username": username,
        "error": error,
        "error_values": dict(error_values or {}),
        "login_token": token,
    }
    response = _render(request, "identity/login.html", context, status=status, headers=headers)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=2 * 3600,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=platform(request).settings.secure_cookies,
    )
    return response


# ------------------------------------------------------------------ routes


@router.get("/login")
def login_page(request: Request, actor: OptionalActor, next: str | None = None) -> Response:
    target = safe_next(next)
    if actor is not None and actor.kind == "user":
        return RedirectResponse(target, status_code=303)
    return _login_form(request, next_path=target)


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    actor: OptionalActor,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    target = safe_next(next)
    username = username.strip()
    shown = username[:MAX_USERNAME]
    if not _login_token_ok(request, csrf_token):
        return _login_form(request, next_path=target, username=shown, error="csrf.failed", status=403)
    if not username or not password:
        return _login_form(request, next_path=target, username=shown, error="login.missing", status=422)
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        # No such account can exist; do not store an over-long name in the attempts table.
        return _login_form(request, next_path=target, username=shown, error="login.bad", status=401)
    settings = platform(request).settings
    window = timedelta(minutes=settings.login_window_minutes)
    outcome = identity.check_login(
        db,
        username,
        password,
        remote=request.client.host if request.client else "",
        max_failures=settings.login_max_failures,
        window=window,
        request_id=request_id(request),
    )
    if outcome.user is None:
        # The failed attempt is committed when this handler returns (no exception raised).
        if isinstance(outcome.error, TooManyLogins):
            return _login_form(
                request,
                next_path=target,
                username=shown,
                error="login.throttled",
                error_values={"minutes": settings.login_window_minutes},
                status=429,
                headers={"Retry-After": str(outcome.error.retry_after)},
            )
        return _login_form(request, next_path=target, username=shown, error="login.bad", status=401)
    old = request.cookies.get(SESSION_COOKIE)
    if actor is not None and old:
        identity.end_web_session(db, actor, old)
    raw, _row = identity.start_web_session(db, outcome.user, hours=settings.session_hours)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=settings.session_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request,
    db: DbSession,
    actor: OptionalActor,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if actor is not None and raw:
        expected = getattr(request.state, "csrf_token", "")
        if not expected or not csrf_token or not secrets.compare_digest(expected, csrf_token):
            raise PermissionDenied(
                "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试", code="csrf_failed"
            )
        identity.end_web_session(db, actor, raw)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=platform(request).settings.secure_cookies,
    )
    return response
