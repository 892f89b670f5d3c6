"""The shell's pages: the dashboard, the networks' section pages, the language switch, the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from yiwang.http import CurrentActor, DbSession, platform
from yiwang.identity import auditing
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor, reach
from yiwang.kit.audit import OUTCOMES, VerifyResult, format_time
from yiwang.kit.errors import NotFound, PlatformError
from yiwang.kit.validators import whole_number
from yiwang.web import i18n
from yiwang.web.templating import BEIJING, LANG_COOKIE, check_csrf, env, render, safe_next

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Section:
    """A place in the navigation; ``group`` is the network it belongs to, when it is part of one."""

    key: str
    group: str | None = None
    link: str | None = None  # the network's own pages, once built; else its "coming" page

    @property
    def href(self) -> str:
        return self.link or f"/sections/{self.key}"

    @property
    def ready(self) -> bool:
        return self.link is not None


SECTIONS: dict[str, Section] = {
    s.key: s
    for s in [
        Section("catalog", "nav.sharing", link="/catalog"),
        Section("sharing", "nav.sharing", link="/sharing"),
        Section("gateway", "nav.sharing"),
        Section("registry", "nav.market", link="/registry"),
        Section("exchange", "nav.market", link="/exchange"),
        Section("services"),
        Section("governance"),
        Section("collab"),
    ]
}

# The header's navigation: network groups with their sections, then single-section networks.
NAV: list[tuple[str, list[Section]]] = [
    ("nav.sharing", [SECTIONS["catalog"], SECTIONS["sharing"], SECTIONS["gateway"]]),
    ("nav.market", [SECTIONS["registry"], SECTIONS["exchange"]]),
    ("section.services.title", [SECTIONS["services"]]),
    ("section.governance.title", [SECTIONS["governance"]]),
    ("section.collab.title", [SECTIONS["collab"]]),
]

# What the dashboard offers, by action of the authorization table (shown when the actor may do it).
CAPABILITIES: list[tuple[str, str | None]] = [
    ("audit.view", "/audit"),
    ("org.create", None),
    ("user.create", None),
    ("user.view", None),
    ("token.create", None),
    ("keys.rotate", None),
]


def load_viewer(request: Request, db: DbSession, actor: Actor) -> None:
    """Put the actor's organisation name where the layout's user menu finds it."""
    try:
        request.state.org_name = identity.get_org(db, actor, actor.org_code).name
    except PlatformError:
        request.state.org_name = actor.org_code


@router.get("/")
def home(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    load_viewer(request, db, actor)
    can = []
    for action, href in CAPABILITIES:
        scope = reach(actor, action)
        if scope is not None:
            can.append({"key": f"can.{action}", "scope": f"scope.{scope}", "href": href})
    return render(request, "home.html", {"can": can, "nav": NAV})


@router.get("/sections/{name}")
def section(request: Request, name: str, actor: CurrentActor, db: DbSession) -> Response:
    found = SECTIONS.get(name)
    if found is None:
        raise NotFound(f"栏目 {name[:50]} 不存在")
    load_viewer(request, db, actor)
    return render(request, "section.html", {"section": found})


@router.get("/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    if code not in i18n.LANGUAGES:
        raise NotFound(f"不支持的语言 {code[:20]}")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=True)
    return response


# ------------------------------------------------------------------ audit log


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()[:10]) if len(value.strip()) == 10 else None
    except ValueError:
        return None


def _utc_bound(day: date, *, end: bool) -> str:
    """A Beijing calendar day's first (or last) moment as the log's ISO UTC text."""
    start = datetime.combine(day, time.min, tzinfo=BEIJING)
    moment = start + timedelta(days=1) - timedelta(microseconds=1) if end else start
    return format_time(moment.astimezone(UTC))


def _audit_context(
    request: Request,
    db: DbSession,
    actor: Actor,
    *,
    who: str = "",
    org: str = "",
    action: str = "",
    outcome: str = "",
    since: str = "",
    until: str = "",
    before: str = "",
) -> tuple[dict[str, object], int]:
    form = {"actor": who, "org": org, "action": action, "outcome": outcome, "since": since, "until": until}
    errors: dict[str, str] = {}
    flt = auditing.EntryFilter(
        actor=who or None, org=org or None, action=action or None, outcome=outcome or None, limit=50
    )
    if outcome and outcome not in OUTCOMES:
        errors["outcome"] = "audit.outcome"
        flt.outcome = None
    for name, value in (("since", since), ("until", until)):
        if value:
            day = _day(value)
            if day is None:
                errors[name] = "audit.bad_date"
            else:
                setattr(flt, name, _utc_bound(day, end=name == "until"))
    if before:
        before_seq = whole_number(before)
        if before_seq is not None:
            flt.before_seq = before_seq
        else:
            errors["before"] = "audit.bad_cursor"
    entries, next_cursor = auditing.list_entries(db, actor, flt)
    counts = auditing.summary(db, actor)
    query = {k: v for k, v in form.items() if v}
    context: dict[str, object] = {
        "entries": [] if errors else entries,
        "next_cursor": None if errors else next_cursor,
        "paged": bool(before) and not errors,
        "form": form,
        "query": query,
        "errors": errors,
        "counts": counts,
        "outcomes": OUTCOMES,
    }
    return context, (422 if errors else 200)


def _text(value: str | None, limit: int = 200) -> str:
    return (value or "").strip()[:limit]


@router.get("/audit")
def audit_page(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    who: Annotated[str | None, Query(alias="actor")] = None,
    org: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: str | None = None,
) -> Response:
    context, status = _audit_context(
        request,
        db,
        actor,
        who=_text(who),
        org=_text(org),
        action=_text(action),
        outcome=_text(outcome, 20),
        since=_text(since, 30),
        until=_text(until, 30),
        before=_text(before, 30),
    )
    load_viewer(request, db, actor)
    return render(request, "audit.html", context, status=status)


@router.post("/audit/verify")
def audit_verify(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    result: VerifyResult = auditing.verify(db, actor, platform(request).keyring)
    if request.headers.get("hx-request") == "true":
        return render(request, "audit_verify_result.html", {"result": result})
    context, _status = _audit_context(request, db, actor)
    load_viewer(request, db, actor)
    return render(request, "audit.html", {**context, "result": result})


# The layout shows the navigation and, for those who may, the audit link.
env.globals["NAV"] = NAV
env.globals["reach"] = reach
