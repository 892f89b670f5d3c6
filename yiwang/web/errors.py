"""Error pages for people; the API gets JSON (see yiwang.app).

A page that needs a signed-in user sends the browser to ``/login?next=…``
instead of showing a bare 401; every other error is a page in the layout with
the (Chinese) message, a way home, and the request id to quote to operations.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from yiwang.web import i18n
from yiwang.web.templating import language, render

API_PREFIXES = ("/api/", "/gateway/", "/catalog.jsonld", "/healthz", "/readyz")
log = logging.getLogger("yiwang.web")


def is_page_request(request: Request) -> bool:
    """A browser page (HTML) rather than an API call.

    API paths always get JSON. Elsewhere a caller asking for JSON and not HTML
    gets JSON; browsers, and callers that take anything (``*/*``), get pages.
    """
    path = request.url.path
    if path.startswith(API_PREFIXES) or path.endswith(".jsonld") or path in ("/api", "/gateway"):
        return False
    accept = request.headers.get("accept", "").lower()
    if "text/html" in accept:
        return True
    return "json" not in accept


def login_redirect(request: Request) -> Response:
    """Send the browser to sign in, coming back here afterwards (for a GET)."""
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    if request.method != "GET" or target.startswith("/login"):
        target = "/"
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def render_error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The error as a page; 401 on a page becomes a redirect to the sign-in page."""
    if status == 401:
        return login_redirect(request)
    lang = language(request)
    title_key = f"error.{status}" if f"error.{status}" in i18n.CATALOG["zh"] else "error.title"
    if status >= 500:
        title_key = "error.500"
    context = {
        "status": status,
        "title": i18n.t(title_key, lang),
        "message": message,
        "request_id": getattr(request.state, "request_id", ""),
    }
    try:
        return render(request, "error.html", context, status=status, headers=headers)
    except Exception:  # an error page must never fail: fall back to plain HTML
        log.exception("error page failed to render")
        body = f"<!doctype html><meta charset=utf-8><h1>{status}</h1><p>{html.escape(message)}</p>"
        return HTMLResponse(body, status_code=status, headers=headers)
