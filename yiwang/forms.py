"""What every network's pages do with a posted form: check its CSRF token, and put a service's
refusal or a validation error under the input at fault (or at the top of the form).

Networks' pages may import this module and :mod:`yiwang.http`, never the page shell
(:mod:`yiwang.web`), which renders through ``request.app.state.render_page``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yiwang.kit.errors import PermissionDenied, PlatformError
from yiwang.kit.explain import explain

T = TypeVar("T")
FORM = "_form"  # the key of errors shown at the top of a form rather than under an input


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse (403) a form post whose token is not this session's."""
    expected = getattr(request.state, "csrf_token", None)
    if not expected or not submitted or not secrets.compare_digest(str(expected), submitted):
        raise PermissionDenied("页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试", code="csrf_failed")


def shown_on_form(exc: PlatformError) -> bool:
    """A failure the form shows itself (bad input, wrong state, a limit); refusals (403) and
    unknown targets (404) go to the error page instead."""
    return exc.status < 500 and exc.status not in (401, 403, 404)


def attempt(
    db: Session, verb: Callable[[], T], shown: Callable[[PlatformError], bool] = shown_on_form
) -> T | PlatformError:
    """What a service verb returns, or the failure it raised when the form shows it (``shown``),
    with the verb's changes rolled back; other failures go on to the app's handler."""
    try:
        return verb()
    except PlatformError as exc:
        if not shown(exc):
            raise
        db.rollback()
        return exc


def field_message(exc: PlatformError, known: Sequence[str]) -> tuple[str, str]:
    """(form input, message) of a service error: under its field when the form has it."""
    field = exc.details.get("field") if isinstance(exc.details, dict) else None
    if isinstance(field, str) and field in known:
        return field, exc.message.removeprefix(f"{field}：")
    return FORM, exc.message


def validation_errors(exc: ValidationError, known: Sequence[str]) -> dict[str, str]:
    """Pydantic's errors in Chinese, each under its input when the form has it (first one wins)."""
    errors: dict[str, str] = {}
    for problem, err in zip(explain(exc.errors()), exc.errors(), strict=True):
        loc = [p for p in err.get("loc", ()) if p != "body"]
        key = str(loc[0]) if loc and str(loc[0]) in known else FORM
        errors.setdefault(
            key, problem["reason"] if key != FORM else f"{problem['field']}：{problem['reason']}"
        )
    return errors
