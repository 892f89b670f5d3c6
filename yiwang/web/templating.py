"""The page shell: one Jinja2 environment, the language of a request, CSRF checks.

Every page goes through :func:`render`, which adds what the layout needs (the
signed-in actor, the CSRF token, the language and its ``t()``), and sets the
headers every page carries (no caching of signed-in pages, no framing, a
strict content security policy: all scripts and styles are our own files).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from yiwang.config import get_settings
from yiwang.identity.authz import ROLES, Actor
from yiwang.kit.errors import PermissionDenied
from yiwang.web import i18n

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
LANG_COOKIE = "lang"
BEIJING = timezone(timedelta(hours=8))  # China keeps one zone and no daylight saving

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_loader = FileSystemLoader([str(TEMPLATES)])
env = Environment(
    loader=_loader,
    autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def add_template_dir(path: Path) -> None:
    """Let a package's ``templates/`` folder (``identity``, each network) join the page shell."""
    entry = str(path)
    if entry not in _loader.searchpath:
        _loader.searchpath.append(entry)


def beijing_time(value: str | datetime | None) -> str:
    """An ISO UTC time ("…Z") or datetime shown as Beijing time, to the second."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


env.filters["beijing"] = beijing_time
env.globals["ROLES"] = ROLES


def language(request: Request) -> str:
    """The page language: the ``lang`` cookie when set, else the platform's default (Chinese)."""
    platform = getattr(request.app.state, "platform", None)
    settings = getattr(platform, "settings", None) or get_settings()
    default = i18n.normalise(getattr(settings, "language", None))
    return i18n.normalise(request.cookies.get(LANG_COOKIE), default)


def translator(request: Request) -> functools.partial[str]:
    """``t(key, **values)`` bound to the request's language."""
    return functools.partial(i18n.t, lang=language(request))


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def current_actor(request: Request) -> Actor | None:
    actor = getattr(request.state, "actor", None)
    return actor if isinstance(actor, Actor) else None


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse (403) a signed-in form post whose token is not this session's."""
    expected = getattr(request.state, "csrf_token", None)
    if not expected or not submitted or not secrets.compare_digest(str(expected), submitted):
        raise PermissionDenied(i18n.t("csrf.failed"), code="csrf_failed")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render ``template`` inside the layout, in the request's language."""
    lang = language(request)
    actor = current_actor(request)
    full: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "html_lang": i18n.HTML_LANG[lang],
        "t": functools.partial(i18n.t, lang=lang),
        "actor": actor,
        "org_name": getattr(request.state, "org_name", None) or (actor.org_code if actor else ""),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "current_path": request.url.path,
        "here": _here(request),
    }
    full.update(context or {})
    html = env.get_template(template).render(full)
    response = HTMLResponse(html, status_code=status)
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if actor is not None:
        response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _here(request: Request) -> str:
    """This page's path and query, to come back to after switching language or signing in."""
    query = request.url.query
    return request.url.path + ("?" + query if query else "")
