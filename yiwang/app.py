"""The FastAPI application factory: REST API, data gateway and pages on one server."""

from __future__ import annotations

import gc
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yiwang import __version__
from yiwang.catalog import api as catalog_api
from yiwang.catalog import ckan, dcat
from yiwang.catalog import data_api as catalog_data_api
from yiwang.exchange import api as exchange_api
from yiwang.identity import api as identity_api
from yiwang.identity.authz import AccessDenied, Actor
from yiwang.identity.errors import InvalidToken
from yiwang.kit.errors import PlatformError, RateLimited
from yiwang.kit.explain import explain
from yiwang.registry import api as registry_api
from yiwang.registry import jobs as registry_jobs
from yiwang.runtime import Platform
from yiwang.sharing import api as sharing_api
from yiwang.web import mount as mount_pages
from yiwang.web.errors import is_page_request, render_error_page

log = logging.getLogger("yiwang")

HTTP_CODES = {
    400: "bad_request",
    401: "authentication_required",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}
HTTP_MESSAGES = {
    404: "请求的地址不存在",
    405: "不支持此请求方法",
    413: "请求内容过大",
    415: "不支持的内容类型",
    400: "请求有误",
}


def create_app(platform: Platform | None = None) -> FastAPI:
    """Build the app around ``platform`` (default: from the environment's settings)."""
    platform = platform or Platform.from_settings()
    app = FastAPI(
        title="一网 Yiwang",
        version=__version__,
        description="省级数字政府数据底座：一网共享、数据要素市场、一网通办、一网统管、一网协同。",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.platform = platform
    app.add_middleware(RequestIdMiddleware)
    _install_error_handlers(app)
    _install_health(app)
    # The gateways first: routes are matched in order, and theirs are the hottest.
    app.include_router(sharing_api.gateway_router)
    app.include_router(exchange_api.gateway_router)
    app.include_router(identity_api.router)
    app.include_router(catalog_api.router)
    app.include_router(catalog_data_api.router)
    app.include_router(sharing_api.router)
    app.include_router(registry_api.router)
    app.include_router(exchange_api.router)
    app.include_router(exchange_api.download_router)
    app.include_router(ckan.router)
    app.include_router(dcat.router)
    mount_pages(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background jobs while the app serves (each worker runs its own): the registry's log gets a
    signed checkpoint at least every minute while it grows."""
    checkpoints = registry_jobs.CheckpointJob(app.state.platform)
    checkpoints.start()
    app.state.registry_checkpoints = checkpoints
    # Everything loaded so far (modules, routes, templates) lives as long as the worker: keep it
    # out of the garbage collector's full scans, which otherwise walk it again and again.
    gc.freeze()
    # A request allocates thousands of short-lived objects; collecting the young generation
    # every 700 allocations (the default) costs a busy worker several per cent for nothing.
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        await run_in_threadpool(checkpoints.stop)


class RequestIdMiddleware:
    """Give every request an id (the caller's, when short and plain) for the audit log, and echo
    it in ``X-Request-ID``. Plain ASGI rather than ``@app.middleware``: that wrapper costs a
    task and a stream per request, which the gateway's hot path notices."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        # Accept a caller's id only when it is short and plain: it goes into the audit log.
        rid = (
            incoming if 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = rid
        encoded = rid.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", encoded)]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if is_page_request(request):
        return render_error_page(request, status, message, headers=headers)
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    platform: Platform = app.state.platform

    @app.exception_handler(PlatformError)
    async def platform_error(request: Request, exc: PlatformError) -> Response:
        if isinstance(exc, AccessDenied):
            platform.record_refusal(exc, exc.actor, exc.action, exc.target_type, exc.target_id)
        elif isinstance(exc, InvalidToken):
            anonymous = Actor.anonymous(kind="token", request_id=getattr(request.state, "request_id", ""))
            platform.record_refusal(exc, anonymous, "auth.token", "path", request.url.path)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if exc.status == 401 and not is_page_request(request):
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        if exc.status >= 500:
            log.error("platform error %s: %s", exc.code, exc.message)
        return _error_response(request, exc.status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = explain(exc.errors())
        summary = "；".join(f"{p['field']}：{p['reason']}" for p in problems[:5])
        return _error_response(request, 422, "invalid_input", f"输入不合规：{summary}", problems)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        # The database refused a value the schema let through (a NUL character, a number out of
        # range): the caller's input, so a 422 — and the request's transaction has rolled back.
        log.info("database refused input: %s", type(exc.orig).__name__)
        return _error_response(
            request, 422, "invalid_input", "输入包含数据库无法保存的值（如空字符 NUL 或超出范围的数字）"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = HTTP_MESSAGES.get(exc.status_code) or str(exc.detail)
        return _error_response(request, exc.status_code, code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        rid = getattr(request.state, "request_id", "")
        log.exception("unexpected error in request %s", rid)
        return _error_response(
            request, 500, "internal_error", f"服务器内部错误，请联系平台运维（请求号 {rid}）"
        )


def _install_health(app: FastAPI) -> None:
    platform: Platform = app.state.platform

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        if platform.database_ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)
