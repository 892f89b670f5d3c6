"""The exchange's pages: the market and its search, listing pages with the usage policy and the
order form, my contracts and one contract's negotiation with the actions open to the viewer, the
seller's dashboard (listings, orders to answer, revenue), the exchange's review queue, a node
operator's view, the sandbox console, and the member's ledger account.

Every change goes through the exchange's service functions with the signed-in actor, which check
the authorization table and the market's rules. The exchange may not import the page shell
(import-linter): it renders through ``request.app.state.render_page``. Expected failures (bad
input, wrong state, a sold-out offer) are shown on the form in Chinese, naming the field at fault,
with what was typed kept; refusals (403) and unknown targets (404) go to the app's handler, which
records refusals and shows the error page.

Money is typed in 元 and kept in 分 (integers): :func:`_fen` converts, exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from yiwang import forms
from yiwang.catalog import service as catalog
from yiwang.exchange import delivery, service
from yiwang.exchange.models import Contract, Listing, Member, Node
from yiwang.exchange.schemas import (
    DisputeDecisionIn,
    ListingIn,
    OrderIn,
    RatingIn,
    ReviewIn,
    TermsIn,
)
from yiwang.http import CurrentActor, DbSession, OptionalActor, RowId, platform
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, reach
from yiwang.identity.models import Org
from yiwang.kit import ledger, regions, workdays
from yiwang.kit.errors import InvalidInput, NotFound, PlatformError
from yiwang.kit.explain import explain
from yiwang.kit.validators import whole_number
from yiwang.registry import service as registry

router = APIRouter(include_in_schema=False)

Renderer = Callable[..., Response]
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]
Tiny = Annotated[str, Form(max_length=40)]

PER_PAGE = 20
MAX_PAGES = 50
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
DELIVERIES = ("api", "file", "sandbox")
PRICE_MODELS = ("one_time", "subscription", "per_call")
LISTING_STATUSES = tuple(service.LISTING_STATUS_ZH)
CONTRACT_STATUSES = tuple(service.CONTRACT_STATUS_ZH)
REGION = re.compile(r"^\d{6}$|^\d{9}$")
SPLIT = re.compile(r"[\n,，、;；]+")
DONE = (
    "ordered",
    "paid",
    "offer",
    "agree",
    "finalize",
    "terminate",
    "accept",
    "dispute",
    "decide",
    "revoke",
    "rate",
    "created",
    "loaded",
    "submitted",
    "approved",
    "rejected",
    "delisted",
)
ORDER_INPUTS = ("quantity", "purpose", "region", "unit_price", "valid_until", "pay")
LISTING_INPUTS = (
    "certificate",
    "node",
    "name",
    "description",
    "scenario",
    "sample",
    "price_model",
    "price",
    "units",
    "delivery",
    "source",
    "fields",
    "table_name",
    "dataset",
    "public_grants",
    "k",
    "purposes",
    "regions",
    "validity_days",
    "call_limit",
    "daily_limit",
    "no_resale",
)
EXAMPLE_FIELDS = (
    "[\n"
    + ",\n".join(
        json.dumps(f, ensure_ascii=False)
        for f in (
            {"name": "uscc", "title": "统一社会信用代码", "format": "uscc", "key": True},
            {"name": "industry", "title": "行业"},
            {"name": "kwh", "title": "月用电量", "type": "number"},
        )
    )
    + "\n]"
)


# ------------------------------------------------------------------ helpers


def _render(request: Request, template: str, context: Mapping[str, Any], status: int = 200) -> Response:
    renderer: Renderer = request.app.state.render_page
    full = dict(context)
    full.setdefault("yuan", ledger.yuan)
    full.setdefault("region_name", _region_name)
    return renderer(request, template, full, status=status)


def _region_name(code: str) -> str:
    try:
        return regions.region_name(code) or code
    except ValueError:
        return code


def _viewer(request: Request, db: Session, actor: Actor | None) -> None:
    """Put the actor's organisation name where the layout's user menu finds it."""
    if actor is None:
        return
    org = identity.org_by_code(db, actor.org_code)
    request.state.org_name = org.name if org is not None else actor.org_code


def _done(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in DONE else None


def _can(actor: Actor | None, action: str) -> bool:
    return actor is not None and reach(actor, action) is not None


def _is_exchange(actor: Actor | None) -> bool:
    return _can(actor, "exchange.manage")


def _roles(db: Session, actor: Actor | None) -> frozenset[str]:
    """The member roles of the actor's organisation (none when it is not an active member)."""
    if actor is None or actor.org_id is None:
        return frozenset()
    return _roles_of(db, actor.org_id)


def _fen(text: str, label: str, errors: dict[str, str], key: str, *, required: bool = False) -> int | None:
    """An amount typed in 元 ("1,000", "99.5") as 分; ``None`` when left empty."""
    text = text.strip().replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥").strip()
    if not text:
        if required:
            errors[key] = f"请填写{label}"
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors[key] = f"{label}应为金额（元），如 1000 或 99.50"
        return None
    if not value.is_finite() or value < 0 or value > Decimal(10**11):
        errors[key] = f"{label}应为 0 至 1000 亿元之间的金额"
        return None
    if value != value.quantize(Decimal("0.01")):
        errors[key] = f"{label}最多两位小数（精确到分）"
        return None
    return int(value * 100)


def _count(
    text: str, label: str, errors: dict[str, str], key: str, *, required: bool = False, top: int = 10**9
) -> int | None:
    """A positive whole number typed in a form; ``None`` when left empty."""
    text = text.strip().replace(",", "").replace("，", "")
    if not text:
        if required:
            errors[key] = f"请填写{label}"
        return None
    number = whole_number(text, most_digits=12)
    if number is None or not 1 <= number <= top:
        errors[key] = f"{label}应为 1 至 {top} 的整数"
        return None
    return number


def _day(text: str, label: str, errors: dict[str, str], key: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        pass
    errors[key] = f"{label}应为日期 YYYY-MM-DD"
    return None


def _items(text: str) -> list[str]:
    return [p.strip() for p in SPLIT.split(text) if p.strip()]


def _explained(exc: ValidationError) -> str:
    return "；".join(f"{p['field']}：{p['reason']}" for p in explain(exc.errors())[:3])


def _listing_rows(db: Session, listings: Sequence[Listing]) -> list[dict[str, Any]]:
    orgs, nodes = service.listing_context(db, listings)
    return [service.listing_shape(x, orgs[x.seller_id], nodes[x.node_id]) for x in listings]


def _listings_by_id(db: Session, ids: Iterable[int]) -> dict[int, Listing]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {x.id: x for x in db.execute(select(Listing).where(Listing.id.in_(wanted))).scalars()}


def _contract_rows(db: Session, contracts: Sequence[Contract]) -> list[dict[str, Any]]:
    """Contracts as the lists show them: with the listing's name and both parties' names."""
    orgs = service.org_codes(db, contracts)
    listings = _listings_by_id(db, {c.listing_id for c in contracts})
    rows = []
    for c in contracts:
        shape = service.contract_shape(c, orgs)
        listing = listings.get(c.listing_id)
        shape["listing_name"] = listing.name if listing else f"#{c.listing_id}"
        shape["buyer_name"] = orgs[c.buyer_id].name
        shape["seller_name"] = orgs[c.seller_id].name
        shape["created_at"] = c.created_at
        shape["updated_at"] = c.updated_at
        rows.append(shape)
    return rows


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------ the market


@router.get("/exchange")
def market(request: Request, actor: OptionalActor, db: DbSession) -> Response:
    params = request.query_params
    q = (params.get("q") or "").strip()[:200]
    node = (params.get("node") or "").strip()[:40]
    mode = params.get("delivery") or ""
    mode = mode if mode in DELIVERIES else ""
    model = params.get("price_model") or ""
    model = model if model in PRICE_MODELS else ""
    page_text = params.get("page") or "1"
    page_no = min(whole_number(page_text, most_digits=6) or 1, MAX_PAGES)
    found = service.search_listings(
        db,
        q=q,
        node=node or None,
        delivery=mode or None,
        price_model=model or None,
        limit=page_no * PER_PAGE,
    )
    shown = found.listings[(page_no - 1) * PER_PAGE :]
    nodes = service.list_nodes(db)
    chosen = {"q": q, "node": node, "delivery": mode, "price_model": model}

    def url(**change: str | int) -> str:
        query = {k: v for k, v in {**chosen, **change}.items() if v}
        return "/exchange" + ("?" + urlencode(query) if query else "")

    pages = max(1, -(-found.total // PER_PAGE))
    facets = {
        name: [
            {"value": value, "count": n, "href": url(**{name: "" if chosen[name] == value else value})}
            for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        for name, counts in found.facets.items()
    }
    _viewer(request, db, actor)
    context = {
        "q": q,
        "chosen": chosen,
        "listings": _listing_rows(db, shown),
        "total": found.total,
        "facets": facets,
        "facet_order": ("node", "delivery", "price_model"),
        "node_names": {n.code: n.name for n in nodes},
        "nodes": nodes,
        "clear_url": url(node="", delivery="", price_model=""),
        "page_no": page_no,
        "pages": pages,
        "prev_url": url(page=page_no - 1) if page_no > 1 else None,
        "next_url": url(page=page_no + 1) if page_no < min(pages, MAX_PAGES) else None,
        "exchange_fee_bp": service.EXCHANGE_FEE_BP,
        "is_exchange": _is_exchange(actor),
        "own_nodes": {n.code for n in nodes if actor is not None and n.operator_id == actor.org_id},
    }
    return _render(request, "exchange/market.html", context)


# ------------------------------------------------------------------ a listing


def _policy_terms(listing: Listing) -> dict[str, Any]:
    terms = service.policy(listing)
    return {
        "purposes": list(terms.purposes),
        "regions": list(terms.regions),
        "validity_days": terms.validity_days,
        "call_limit": terms.call_limit,
        "daily_limit": terms.daily_limit,
        "no_resale": terms.no_resale,
    }


def _public_resource(db: Session, code: str) -> dict[str, str] | None:
    if not code:
        return None
    try:
        view = catalog.data_view(db, code)
    except NotFound:
        return {"code": code, "name": code, "provider": ""}
    return {"code": view.code, "name": view.name, "provider": view.provider_code}


def _listing_page(
    request: Request,
    db: Session,
    actor: Actor | None,
    listing_id: int,
    *,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    listing = service.get_listing(db, actor, listing_id)
    shape = _listing_rows(db, [listing])[0]
    terms = _policy_terms(listing)
    seller = actor is not None and actor.org_id == listing.seller_id
    roles = _roles(db, actor)
    buyer_member = bool(roles & {"buyer", "merchant"})
    node = db.get(Node, listing.node_id)
    form = dict(kept or {})
    form.setdefault("quantity", "1")
    form.setdefault("purpose", terms["purposes"][0] if len(terms["purposes"]) == 1 else "")
    form.setdefault("region", "")
    form.setdefault("unit_price", "")
    form.setdefault("valid_until", "")
    form.setdefault("pay", False)
    _viewer(request, db, actor)
    context = {
        "x": shape,
        "terms": terms,
        "node": node,
        "policy_json": json.dumps(shape["policy"], ensure_ascii=False, indent=2, sort_keys=True),
        "resource": _public_resource(db, listing.dataset),
        "can_order": (
            actor is not None
            and listing.status == "published"
            and not seller
            and buyer_member
            and _can(actor, "exchange.buy")
        ),
        "not_member": actor is not None and not seller and not buyer_member and not _is_exchange(actor),
        "can_delist": listing.status in ("submitted", "published") and (seller or _is_exchange(actor)),
        "seller": seller,
        "form": form,
        "errors": dict(errors or {}),
        "today": workdays.beijing_today(),
    }
    return _render(request, "exchange/listing.html", context, status=status)


@router.get("/exchange/listings/{listing_id}")
def listing_page(request: Request, listing_id: RowId, actor: OptionalActor, db: DbSession) -> Response:
    return _listing_page(request, db, actor, listing_id)


@router.post("/exchange/listings/{listing_id}/order")
def place_order(
    request: Request,
    listing_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    quantity: Tiny = "",
    purpose: Short = "",
    region: Tiny = "",
    unit_price: Tiny = "",
    valid_until: Tiny = "",
    pay: Tiny = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Order a listing. At the listed terms the contract is finalized at once and, when asked,
    paid in the same transaction; a counter price opens a negotiation the seller answers."""
    forms.check_csrf(request, csrf_token)
    wants_pay = pay in ("1", "on", "true", "yes")
    kept = {
        "quantity": quantity,
        "purpose": purpose,
        "region": region,
        "unit_price": unit_price,
        "valid_until": valid_until,
        "pay": wants_pay,
    }

    def again(shown: Mapping[str, str], status: int = 422) -> Response:
        return _listing_page(request, db, actor, listing_id, errors=shown, kept=kept, status=status)

    errors: dict[str, str] = {}
    count = _count(quantity, "数量", errors, "quantity", top=10**6) or 1
    if not purpose.strip():
        errors["purpose"] = "请选择使用用途"
    if not region.strip():
        errors["region"] = "请填写使用地的行政区划代码，如 440106"
    elif not REGION.fullmatch(region.strip()):
        errors["region"] = "使用地应为 6 位或 9 位行政区划代码，如 440106"
    price = _fen(unit_price, "还价单价", errors, "unit_price")
    until = _day(valid_until, "有效期至", errors, "valid_until")
    if errors:
        return again(errors)
    try:
        data = OrderIn(
            listing=listing_id,
            quantity=count,
            purpose=purpose.strip(),
            region=region.strip(),
            unit_price=price,
            valid_until=until,
        )
    except ValidationError as exc:
        return again({"_form": _explained(exc)})
    ordered = forms.attempt(db, lambda: service.order(db, actor, data.model_copy(update={"pay": wants_pay})))
    if isinstance(ordered, PlatformError):
        key, message = forms.field_message(ordered, ORDER_INPUTS)
        return again({key: message}, ordered.status)
    contract = ordered.contract
    paid = ordered if contract.status == "active" else None
    if paid is not None and paid.key:
        # The API delivery key exists in clear only now: show it once, on this response.
        return _contract_page(request, db, actor, contract.id, key=paid.key, done="paid")
    return _redirect(f"/exchange/contracts/{contract.id}?done={'paid' if paid else 'ordered'}")


@router.post("/exchange/listings/{listing_id}/delist")
def delist(
    request: Request,
    listing_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"delist_reason": reason}

    def again(message: str, status: int = 422) -> Response:
        return _listing_page(
            request, db, actor, listing_id, errors={"delist": message}, kept=kept, status=status
        )

    if not reason.strip():
        return again("请说明下架理由")
    delisted = forms.attempt(db, lambda: service.delist(db, actor, listing_id, reason.strip()))
    if isinstance(delisted, PlatformError):
        return again(delisted.message, delisted.status)
    return _redirect(f"/exchange/listings/{listing_id}?done=delisted")


# ------------------------------------------------------------------ contracts


@router.get("/exchange/contracts")
def contracts_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    role = request.query_params.get("role") or ""
    role = role if role in ("buyer", "seller") else ""
    status = request.query_params.get("status") or ""
    status = status if status in CONTRACT_STATUSES else ""
    items = service.list_contracts(db, actor, role=role or None, status=status or None)
    _viewer(request, db, actor)
    context = {
        "rows": _contract_rows(db, items),
        "role": role,
        "status": status,
        "statuses": CONTRACT_STATUSES,
        "org_id": actor.org_id,
        "sees_all": reach(actor, "exchange.view") == "all",
    }
    return _render(request, "exchange/contracts.html", context)


def _term_view(terms: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in terms.items() if v is not None}


def _legs(db: Session, contract: Contract, orgs: Mapping[int, Org]) -> list[dict[str, Any]]:
    """The money of this contract as the ledger holds it: each transaction and its legs."""
    by_account = {service.member_account(i): o.name for i, o in orgs.items()}
    node_names = {service.node_account(n.id): n.name for n in service.list_nodes(db)}
    out = []
    for txn, legs in ledger.movements_by_reference(db, f"contract:{contract.id}"):
        shown = []
        for code, amount in legs:
            if code in by_account:
                shown.append({"name": by_account[code], "key": None, "amount": amount})
            elif code in node_names:
                shown.append(
                    {"name": node_names[code], "key": "exchange.account.node_fees", "amount": amount}
                )
            else:
                shown.append({"name": None, "key": f"exchange.account.{code}", "amount": amount})
        out.append({"kind": txn.kind, "memo": txn.memo, "at": txn.created_at, "legs": shown})
    return out


def _contract_page(
    request: Request,
    db: Session,
    actor: Actor,
    contract_id: int,
    *,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Mapping[str, Any]] | None = None,
    status: int = 200,
    key: str | None = None,
    link: Mapping[str, Any] | None = None,
    done: str | None = None,
) -> Response:
    c = service.get_contract(db, actor, contract_id)
    row = _contract_rows(db, [c])[0]
    orgs = service.org_codes(db, [c])
    listing = db.get(Listing, c.listing_id)
    node = db.get(Node, c.node_id)
    side = "buyer" if actor.org_id == c.buyer_id else "seller" if actor.org_id == c.seller_id else None
    exchange = _is_exchange(actor)
    state = row["status"]
    my_turn = side is not None and c.status in ("requested", "offered") and c.last_offer_by != side
    can = {
        "offer": my_turn,
        "agree": my_turn,
        "finalize": side == "seller" and c.status == "agreed",
        "terminate": side is not None and c.status in service.NEGOTIATING,
        "pay": side == "buyer" and c.status == "finalized",
        "accept": side == "buyer" and c.settlement == "escrow",
        "dispute": side is not None and c.settlement == "escrow",
        "rate": side == "buyer" and c.settlement == "settled" and c.rating is None,
        "link": side == "buyer" and c.delivery == "file" and state == "active",
        "sandbox": side == "buyer" and c.delivery == "sandbox" and state == "active",
        "key": side == "buyer" and c.delivery == "api" and state == "active",
        "revoke": (side == "seller" or exchange) and c.status == "active" and c.settlement != "disputed",
        "decide": exchange and c.settlement == "disputed",
    }
    events = []
    for e in service.contract_events(db, c.id):
        terms = json.loads(e.terms) if e.terms else None
        events.append(
            {
                "action": e.action,
                "side": e.side,
                "actor": e.actor,
                "terms": _term_view(terms) if isinstance(terms, dict) else None,
                "note": e.note,
                "at": e.created_at,
            }
        )
    offer = {
        "quantity": str(c.quantity),
        "unit_price": ledger.yuan(c.unit_price).replace(",", ""),
        "valid_until": c.valid_until.isoformat(),
        "call_limit": "" if c.call_limit is None else str(c.call_limit),
        "note": "",
    }
    gateway = str(request.base_url).rstrip("/") + f"/gateway/v1/contracts/{c.id}/records"
    _viewer(request, db, actor)
    context = {
        "c": row,
        "listing": listing,
        "node": node,
        "side": side,
        "exchange": exchange,
        "can": can,
        "events": events,
        "money": _legs(db, c, orgs),
        "offer": {**offer, **dict((kept or {}).get("offer", {}))},
        "kept": dict(kept or {}),
        "errors": dict(errors or {}),
        "key": key,
        "link": dict(link) if link else None,
        "gateway": gateway,
        "done": done or _done(request),
        "review": c.review,
    }
    return _render(request, "exchange/contract.html", context, status=status)


@router.get("/exchange/contracts/{contract_id}")
def contract_page(request: Request, contract_id: RowId, actor: CurrentActor, db: DbSession) -> Response:
    return _contract_page(request, db, actor, contract_id)


FIELD_LABELS = {
    "quantity": "数量",
    "unit_price": "单价（元）",
    "valid_until": "有效期至",
    "call_limit": "调用次数上限",
    "reason": "理由",
    "rating": "评分",
}


def _labelled(exc: PlatformError) -> str:
    """A service's failure as a contract form shows it: the contract page puts a form's error above
    the whole form, so the field at fault is named by its label rather than shown under its input."""
    field = exc.details.get("field") if isinstance(exc.details, dict) else None
    message = exc.message.removeprefix(f"{field}：") if isinstance(field, str) else exc.message
    label = FIELD_LABELS.get(field or "", "")
    return f"{label}：{message}" if label else message


@dataclass(frozen=True)
class _ContractForm:
    """One of the forms on a contract's page, as posted: its error and what was typed go under its
    key, so the page shows them at that form only; when done, ``?done=<key>`` says so."""

    request: Request
    db: Session
    actor: Actor
    contract_id: int
    key: str
    kept: Mapping[str, Any] | None = None

    def again(self, message: str, status: int = 422) -> Response:
        """The contract page again with ``message`` on this form."""
        kept = None if self.kept is None else {self.key: self.kept}
        errors = {self.key: message}
        return _contract_page(
            self.request, self.db, self.actor, self.contract_id, errors=errors, kept=kept, status=status
        )

    def run(self, act: Callable[[], object]) -> Response:
        """Do what the form asked and go back to the contract; or show why it could not be done."""
        outcome = forms.attempt(self.db, act)
        if isinstance(outcome, PlatformError):
            return self.again(_labelled(outcome), outcome.status)
        return _redirect(f"/exchange/contracts/{self.contract_id}?done={self.key}")


def _contract_url(action: str) -> str:
    return f"/exchange/contracts/{{contract_id}}/{action}"


ContractStep = Callable[[Request, Session, Actor, int], Response]


def _contract_post(action: str, name: str | None = None) -> Callable[[ContractStep], ContractStep]:
    """Route the post of a contract form that sends nothing but its CSRF token to the decorated
    step. FastAPI reads a route's inputs from its signature, so the signature is written once here."""

    def register(step: ContractStep) -> ContractStep:
        def endpoint(
            request: Request,
            contract_id: RowId,
            actor: CurrentActor,
            db: DbSession,
            csrf_token: Annotated[str, Form()] = "",
        ) -> Response:
            forms.check_csrf(request, csrf_token)
            return step(request, db, actor, contract_id)

        router.add_api_route(_contract_url(action), endpoint, methods=["POST"], name=name or step.__name__)
        return step

    return register


def _confirm_route(action: str, verb: Callable[[Session, Actor, int], object]) -> None:
    """Route a contract's button that asks for ``verb`` and nothing more."""

    def confirm(request: Request, db: Session, actor: Actor, contract_id: int) -> Response:
        form = _ContractForm(request, db, actor, contract_id, action, {})
        return form.run(lambda: verb(db, actor, contract_id))

    _contract_post(action, name=action)(confirm)


def _reasoned_route(action: str, what: str, verb: Callable[[Session, Actor, int, str], object]) -> None:
    """Route a contract's form that asks for ``verb`` with a reason (``what`` names the act in the
    message asking for it). The reason is required, so an empty one never reaches the service."""

    def endpoint(
        request: Request,
        contract_id: RowId,
        actor: CurrentActor,
        db: DbSession,
        reason: Text = "",
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        forms.check_csrf(request, csrf_token)
        form = _ContractForm(request, db, actor, contract_id, action, {"reason": reason})
        if not reason.strip():
            return form.again(f"理由：请说明{what}的理由")
        return form.run(lambda: verb(db, actor, contract_id, reason.strip()))

    router.add_api_route(_contract_url(action), endpoint, methods=["POST"], name=action)


@router.post("/exchange/contracts/{contract_id}/offer")
def counter_offer(
    request: Request,
    contract_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    quantity: Tiny = "",
    unit_price: Tiny = "",
    valid_until: Tiny = "",
    call_limit: Tiny = "",
    note: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {
        "quantity": quantity,
        "unit_price": unit_price,
        "valid_until": valid_until,
        "call_limit": call_limit,
        "note": note,
    }
    form = _ContractForm(request, db, actor, contract_id, "offer", kept)
    errors: dict[str, str] = {}
    count = _count(quantity, "数量", errors, "quantity", required=True, top=10**6)
    price = _fen(unit_price, "单价（元）", errors, "unit_price", required=True)
    until = _day(valid_until, "有效期至", errors, "valid_until")
    if not valid_until.strip():
        errors["valid_until"] = "请填写有效期至"
    limit = _count(call_limit, "调用次数上限", errors, "call_limit")
    if errors:
        return form.again("；".join(errors.values()))
    if count is None or price is None or until is None:  # every one was required above
        raise InvalidInput("还价条件不完整")
    data = TermsIn(quantity=count, unit_price=price, valid_until=until, call_limit=limit, note=note.strip())
    return form.run(lambda: service.counter_offer(db, actor, contract_id, data))


_confirm_route("agree", service.agree)
_confirm_route("finalize", service.finalize)
_reasoned_route("terminate", "终止", service.terminate)


@_contract_post("pay")
def pay(request: Request, db: Session, actor: Actor, contract_id: int) -> Response:
    """Pay into escrow. An API contract's delivery key is shown on this response only."""
    paid = forms.attempt(db, lambda: service.pay(db, actor, contract_id))
    if isinstance(paid, PlatformError):
        return _ContractForm(request, db, actor, contract_id, "pay").again(paid.message, paid.status)
    if paid.key:
        return _contract_page(request, db, actor, contract_id, key=paid.key, done="paid")
    return _redirect(f"/exchange/contracts/{contract_id}?done=paid")


@_contract_post("key")
def rotate_key(request: Request, db: Session, actor: Actor, contract_id: int) -> Response:
    """A new delivery key (the old one stops at once), shown on this response only."""
    key = forms.attempt(db, lambda: service.rotate_key(db, actor, contract_id))
    if isinstance(key, PlatformError):
        return _ContractForm(request, db, actor, contract_id, "key").again(key.message, key.status)
    return _contract_page(request, db, actor, contract_id, key=key)


@_contract_post("link")
def create_link(request: Request, db: Session, actor: Actor, contract_id: int) -> Response:
    """A time-limited download link for a file contract, shown on this response only."""
    created = forms.attempt(db, lambda: delivery.create_link(db, actor, contract_id))
    if isinstance(created, PlatformError):
        return _ContractForm(request, db, actor, contract_id, "link").again(created.message, created.status)
    raw, expires = created
    link = {"url": f"/exchange/download/{raw}", "expires_at": expires, "hours": delivery.LINK_HOURS}
    return _contract_page(request, db, actor, contract_id, link=link)


_confirm_route("accept", service.accept_delivery)
_reasoned_route("dispute", "争议", service.dispute)


@router.post("/exchange/contracts/{contract_id}/decision")
def decide_dispute(
    request: Request,
    contract_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    decision: Tiny = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = _ContractForm(request, db, actor, contract_id, "decide", {"decision": decision, "reason": reason})
    problems = []
    if decision not in ("refund", "settle"):
        problems.append("裁决结果：请选择退款给买方或结算给卖方")
    if not reason.strip():
        problems.append("理由：请说明裁决理由")
    if problems:
        return form.again("；".join(problems))
    data = DisputeDecisionIn(refund=decision == "refund", reason=reason.strip())
    return form.run(lambda: service.decide_dispute(db, actor, contract_id, data))


_reasoned_route("revoke", "撤销", service.revoke_contract)


@router.post("/exchange/contracts/{contract_id}/rating")
def rate(
    request: Request,
    contract_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    rating: Tiny = "",
    review: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form = _ContractForm(request, db, actor, contract_id, "rate", {"rating": rating, "review": review})
    if rating not in ("1", "2", "3", "4", "5"):
        return form.again("评分：请选择 1 至 5 星")
    data = RatingIn(rating=int(rating), review=review.strip())
    return form.run(lambda: service.rate(db, actor, contract_id, data))


# ------------------------------------------------------------------ the seller's dashboard


def _empty_listing_form() -> dict[str, Any]:
    return {
        "certificate": "",
        "node": "",
        "name": "",
        "description": "",
        "scenario": "",
        "sample": "",
        "price_model": "one_time",
        "price": "",
        "units": "",
        "delivery": "api",
        "source": "own",
        "fields": EXAMPLE_FIELDS,
        "table_name": "data",
        "dataset": "",
        "public_grants": "",
        "k": "10",
        "purposes": "",
        "regions": "440000",
        "validity_days": "365",
        "call_limit": "",
        "daily_limit": "",
        "no_resale": True,
    }


def _revenue_chart(rows: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """Bars of settled revenue per month as SVG geometry (no script: the pages' CSP allows none
    inline, and no chart library is vendored)."""
    peak = max([amount for _, _, amount in rows] + [1])
    width, gap, height, top = 36, 10, 140, 10
    bars = []
    for i, (month, contracts, amount) in enumerate(rows):
        h = round(amount / peak * (height - top), 1)
        bars.append(
            {
                "month": month,
                "contracts": contracts,
                "amount": amount,
                "x": i * (width + gap),
                "w": width,
                "y": round(height - h, 1),
                "h": h,
            }
        )
    return {
        "bars": bars,
        "width": max(1, len(rows)) * (width + gap),
        "height": height,
        "peak": peak,
    }


def _sell_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Mapping[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    mine = service.seller_listings(db, actor)
    revenue = service.seller_revenue(db, actor)
    selling = [c for c in service.list_contracts(db, actor, role="seller") if c.status in service.NEGOTIATING]
    to_answer = []
    for row in _contract_rows(db, selling):
        row["my_turn"] = row["status"] == "agreed" or (
            row["status"] in ("requested", "offered") and row["last_offer_by"] == "buyer"
        )
        to_answer.append(row)
    listed = {x.certificate for x in mine if x.status in ("submitted", "published")}
    certificates = [
        c
        for c in registry.list_certificates(db, status="active")
        if c.holder == actor.org_code and c.number not in listed
    ]
    roles = _roles(db, actor)
    _viewer(request, db, actor)
    context = {
        "listings": _listing_rows(db, mine),
        "to_answer": to_answer,
        "revenue": revenue,
        "revenue_total": sum(amount for _, _, amount in revenue),
        "chart": _revenue_chart(revenue),
        "certificates": certificates,
        "nodes": service.list_nodes(db),
        "form": dict(form or _empty_listing_form()),
        "errors": dict(errors or {}),
        "form_errors": {k: v for k, v in (errors or {}).items() if k in LISTING_INPUTS or k == "_form"},
        "kept": dict(kept or {}),
        "done": _done(request),
        "seller_member": bool(roles & {"seller", "merchant"}),
        "price_models": PRICE_MODELS,
        "deliveries": DELIVERIES,
    }
    return _render(request, "exchange/sell.html", context, status=status)


@router.get("/exchange/sell")
def sell_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    return _sell_page(request, db, actor)


def _listing_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's complaints about a listing, under the form's inputs (policy fields are flat)."""
    errors: dict[str, str] = {}
    for problem, err in zip(explain(exc.errors()), exc.errors(), strict=True):
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if len(loc) > 1 and loc[0] == "policy":
            loc = loc[1:]
        key = loc[0] if loc and loc[0] in LISTING_INPUTS else "_form"
        text = problem["reason"] if key != "_form" else f"{problem['field']}：{problem['reason']}"
        if key == "fields" and len(loc) > 1:
            text = f"{problem['field']}：{problem['reason']}"
        errors.setdefault(key, text)
    return errors


@router.post("/exchange/sell")
def create_listing(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    certificate: Tiny = "",
    node: Tiny = "",
    name: Short = "",
    description: Text = "",
    scenario: Text = "",
    sample: Annotated[str, Form(max_length=20000)] = "",
    price_model: Tiny = "",
    price: Tiny = "",
    units: Tiny = "",
    delivery_mode: Annotated[str, Form(alias="delivery", max_length=40)] = "",
    source: Tiny = "",
    fields: Annotated[str, Form(max_length=40000)] = "",
    table_name: Tiny = "",
    dataset: Annotated[str, Form(max_length=80)] = "",
    public_grants: Short = "",
    k: Tiny = "",
    purposes: Text = "",
    regions_text: Annotated[str, Form(alias="regions", max_length=1000)] = "",
    validity_days: Tiny = "",
    call_limit: Tiny = "",
    daily_limit: Tiny = "",
    no_resale: Tiny = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    form: dict[str, Any] = {
        "certificate": certificate.strip().upper(),
        "node": node.strip(),
        "name": name.strip(),
        "description": description.strip(),
        "scenario": scenario.strip(),
        "sample": sample,
        "price_model": price_model if price_model in PRICE_MODELS else "",
        "price": price.strip(),
        "units": units.strip(),
        "delivery": delivery_mode if delivery_mode in DELIVERIES else "",
        "source": "public" if source == "public" else "own",
        "fields": fields,
        "table_name": table_name.strip() or "data",
        "dataset": dataset.strip(),
        "public_grants": public_grants.strip(),
        "k": k.strip() or "10",
        "purposes": purposes.strip(),
        "regions": regions_text.strip(),
        "validity_days": validity_days.strip(),
        "call_limit": call_limit.strip(),
        "daily_limit": daily_limit.strip(),
        "no_resale": no_resale in ("1", "on", "true", "yes"),
    }
    errors: dict[str, str] = {}
    for key, label in (
        ("certificate", "登记凭证编号"),
        ("node", "挂牌节点"),
        ("name", "产品名称"),
        ("description", "产品描述"),
        ("scenario", "应用场景（无场景不登记）"),
    ):
        if not form[key]:
            errors[key] = f"请填写{label}"
    if not form["price_model"]:
        errors["price_model"] = "请选择计价方式"
    if not form["delivery"]:
        errors["delivery"] = "请选择交付方式"
    fen = _fen(form["price"], "单价（元）", errors, "price", required=True)
    unit_count = _count(form["units"], "可售份数", errors, "units", top=10**6)
    k_value = _count(form["k"], "最小聚合记录数 k", errors, "k", top=10000)
    days = _count(form["validity_days"], "许可期限（天）", errors, "validity_days", required=True, top=3650)
    calls = _count(form["call_limit"], "调用次数上限", errors, "call_limit")
    daily = _count(form["daily_limit"], "每日调用上限", errors, "daily_limit", top=10**8)
    purpose_list = _items(form["purposes"])
    if not purpose_list:
        errors["purposes"] = "请至少填写一个许可用途（每行一个）"
    region_list = _items(form["regions"]) or ["440000"]
    bad_regions = [r for r in region_list if not REGION.fullmatch(r)]
    if bad_regions:
        errors["regions"] = f"许可区域应为 6 位或 9 位行政区划代码：{'、'.join(bad_regions[:3])}"
    field_list: list[Any] = []
    grants: list[int] = []
    if form["source"] == "own":
        try:
            field_list = json.loads(form["fields"] or "[]")
        except ValueError as exc:
            errors["fields"] = f"信息项应为 JSON 数组（第 {getattr(exc, 'lineno', 1)} 行有误）"
        else:
            if not isinstance(field_list, list) or not all(isinstance(f, dict) for f in field_list):
                errors["fields"] = (
                    '信息项应为 JSON 数组，每项如 {"name": "uscc", "title": "统一社会信用代码"}'
                )
                field_list = []
    else:
        if not form["dataset"]:
            errors["dataset"] = "请填写所依托的公共数据资源代码"
        for part in _items(form["public_grants"]):
            grant_id = whole_number(part.lstrip("#"), most_digits=10)
            if grant_id is None:
                errors["public_grants"] = f"共享授权编号应为数字，用逗号分隔：{part[:20]}"
                break
            grants.append(grant_id)
    if errors:
        return _sell_page(request, db, actor, form=form, errors=errors, status=422)
    policy = {
        "purposes": purpose_list,
        "regions": region_list,
        "validity_days": days,
        "call_limit": calls,
        "daily_limit": daily,
        "no_resale": form["no_resale"],
    }
    try:
        data = ListingIn.model_validate(
            {
                "node": form["node"],
                "certificate": form["certificate"],
                "name": form["name"],
                "description": form["description"],
                "scenario": form["scenario"],
                "sample": form["sample"],
                "price_model": form["price_model"],
                "price": fen,
                "units": unit_count,
                "delivery": form["delivery"],
                "dataset": form["dataset"] if form["source"] == "public" else "",
                "fields": field_list,
                "table_name": form["table_name"],
                "k": k_value or 10,
                "public_grants": grants,
                "policy": policy,
            }
        )
    except ValidationError as exc:
        return _sell_page(request, db, actor, form=form, errors=_listing_errors(exc), status=422)
    created = forms.attempt(db, lambda: service.create_listing(db, actor, data))
    if isinstance(created, PlatformError):
        key, message = forms.field_message(created, LISTING_INPUTS)
        if key == "_form" and form["source"] == "own" and isinstance(created, InvalidInput):
            key = "fields"  # the datastore's checks of the field list name the field themselves
        return _sell_page(request, db, actor, form=form, errors={key: message}, status=created.status)
    return _redirect(f"/exchange/sell?done=created#listing-{created.id}")


def _listing_action(
    request: Request,
    db: Session,
    actor: Actor,
    form_key: str,
    act: Callable[[], object],
    done: str,
    listing_id: int,
) -> Response:
    outcome = forms.attempt(db, act)
    if isinstance(outcome, PlatformError):
        return _sell_page(request, db, actor, errors={form_key: outcome.message}, status=outcome.status)
    return _redirect(f"/exchange/sell?done={done}#listing-{listing_id}")


@router.post("/exchange/listings/{listing_id}/data")
def load_data(
    request: Request,
    listing_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Upload the product's own data (CSV, XLSX or JSON): every row checked, all or nothing."""
    forms.check_csrf(request, csrf_token)
    key = f"data-{listing_id}"

    def refuse(message: str) -> Response:
        return _sell_page(request, db, actor, errors={key: message}, status=422)

    if file is None or not file.filename:
        return refuse("请选择数据文件（CSV、XLSX 或 JSON）")
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        return refuse("数据文件超过 50 MB，请通过接口分批上传")
    if not file.filename.lower().endswith((".csv", ".xlsx", ".json", ".jsonl")):
        return refuse("数据文件应为 CSV、XLSX 或 JSON")
    suite = platform(request).keyring.suite_name
    stream, filename = file.file, file.filename
    return _listing_action(
        request,
        db,
        actor,
        key,
        lambda: service.load_listing_data(db, actor, listing_id, stream, filename, suite=suite),
        "loaded",
        listing_id,
    )


@router.post("/exchange/listings/{listing_id}/submit")
def submit_listing(
    request: Request,
    listing_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    return _listing_action(
        request,
        db,
        actor,
        f"submit-{listing_id}",
        lambda: service.submit_listing(db, actor, listing_id),
        "submitted",
        listing_id,
    )


# ------------------------------------------------------------------ the exchange's review


def _review_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Mapping[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    queue = service.review_queue(db, actor)
    disputed = [c for c in service.list_contracts(db, actor, limit=1000) if c.settlement == "disputed"]
    service.authorize_books(actor)
    books = ledger.check_books(db)
    _viewer(request, db, actor)
    context = {
        "queue": _listing_rows(db, queue),
        "disputed": _contract_rows(db, disputed),
        "nodes": service.list_nodes(db),
        "books": books,
        "errors": dict(errors or {}),
        "kept": dict(kept or {}),
        "done": _done(request),
    }
    return _render(request, "exchange/review.html", context, status=status)


@router.get("/exchange/review")
def review_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    return _review_page(request, db, actor)


@router.post("/exchange/listings/{listing_id}/review")
def review_listing(
    request: Request,
    listing_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    decision: Tiny = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    key, kept = f"review-{listing_id}", {"decision": decision, "reason": reason}

    def again(message: str, status: int = 422) -> Response:
        return _review_page(request, db, actor, errors={key: message}, kept={key: kept}, status=status)

    if decision not in ("approve", "reject"):
        return again("请选择审核结果")
    if decision == "reject" and not reason.strip():
        return again("理由：驳回须说明理由")
    data = ReviewIn(approve=decision == "approve", reason=reason.strip())
    reviewed = forms.attempt(db, lambda: service.review_listing(db, actor, listing_id, data))
    if isinstance(reviewed, PlatformError):
        return again(reviewed.message, reviewed.status)
    return _redirect(f"/exchange/review?done={'approved' if data.approve else 'rejected'}")


# ------------------------------------------------------------------ a node operator's view


def _authorize_node_view(actor: Actor, node: Node) -> None:
    """The exchange sees every node; a base or platform's operating organisation its own."""
    if _is_exchange(actor):
        return
    if actor.org_id is not None and actor.org_id == node.operator_id and _can(actor, "exchange.sell"):
        return
    raise AccessDenied(
        actor, "exchange.manage", "node", node.code, "只有交易所或该节点的运营单位可以查看节点运营视图"
    )


@router.get("/exchange/nodes/{code}")
def node_page(request: Request, code: str, actor: CurrentActor, db: DbSession) -> Response:
    node = service.node_by_code(db, code[:40])
    _authorize_node_view(actor, node)
    # service.list_members(db, code) would do, but it calls Result.tuples(), which SQLAlchemy 2.1
    # deprecates (a warning the test suite turns into an error); read the node's members here.
    members = list(db.execute(select(Member).where(Member.node_id == node.id).order_by(Member.id)).scalars())
    member_orgs = identity.orgs_by_ids(db, {m.org_id for m in members})
    listings = list(
        db.execute(select(Listing).where(Listing.node_id == node.id).order_by(Listing.id.desc())).scalars()
    )
    contracts = list(
        db.execute(
            select(Contract).where(Contract.node_id == node.id).order_by(Contract.id.desc()).limit(200)
        ).scalars()
    )
    account = service.EXCHANGE_FEES if node.kind == "exchange" else service.node_account(node.id)
    try:
        income = ledger.balance(db, account)
    except NotFound:
        income = 0
    _viewer(request, db, actor)
    context = {
        "node": node,
        "operator": identity.orgs_by_ids(db, {node.operator_id}).get(node.operator_id),
        "members": [
            {
                "org": member_orgs[m.org_id],
                "roles": json.loads(m.roles),
                "status": m.status,
                "joined": m.joined_at,
            }
            for m in members
        ],
        "listings": _listing_rows(db, listings),
        "contracts": _contract_rows(db, contracts),
        "income": income,
        "settled": sum(c.amount for c in contracts if c.settlement == "settled"),
    }
    return _render(request, "exchange/node.html", context)


# ------------------------------------------------------------------ the sandbox console


def _sandbox_page(
    request: Request,
    db: Session,
    actor: Actor,
    contract_id: int,
    *,
    sql: str = "",
    result: Mapping[str, Any] | None = None,
    refusal: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    target = delivery.sandbox_target(db, actor, contract_id, platform(request).settings.data_dir)
    schema = delivery.table_schema(target)
    titles = {f.name: f.title for f in delivery.source_of(db, target.listing).fields}
    personal = {name for cols in target.personal.values() for name in cols}
    table = schema["tables"][0]["name"] if schema["tables"] else target.listing.table_name
    _viewer(request, db, actor)
    context = {
        "c": _contract_rows(db, [target.contract])[0],
        "listing": target.listing,
        "schema": schema,
        "titles": titles,
        "personal": personal,
        "sql": sql or f"SELECT COUNT(*) AS n FROM {table}",
        "result": dict(result) if result is not None else None,
        "refusal": dict(refusal) if refusal is not None else None,
        "queries": delivery.recent_queries(db, contract_id, limit=20),
        "table": table,
    }
    return _render(request, "exchange/sandbox.html", context, status=status)


@router.get("/exchange/sandbox/{contract_id}")
def sandbox_page(request: Request, contract_id: RowId, actor: CurrentActor, db: DbSession) -> Response:
    return _sandbox_page(request, db, actor, contract_id)


@router.post("/exchange/sandbox/{contract_id}")
def sandbox_run(
    request: Request,
    contract_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    sql: Annotated[str, Form(max_length=20000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Run the buyer's SQL through the same path as ``POST /api/v1/exchange/sandbox/query``:
    checked, rewritten, logged (allowed or refused) and counted there."""
    forms.check_csrf(request, csrf_token)
    if not sql.strip():
        refusal = {"code": "empty", "message": "SQL：请输入一条 SELECT 查询"}
        return _sandbox_page(request, db, actor, contract_id, sql=sql, refusal=refusal, status=422)
    try:
        running = request.app.state.platform
        answer = delivery.sandbox_run(
            db, actor, contract_id, sql, data_dir=running.settings.data_dir, suite=running.keyring.suite_name
        )
    except PlatformError as exc:
        if not forms.shown_on_form(exc):
            raise
        db.commit()  # keep the refusal's record (the query itself was undone in its savepoint)
        refusal = {"code": exc.code, "message": exc.message}
        return _sandbox_page(request, db, actor, contract_id, sql=sql, refusal=refusal, status=exc.status)
    return _sandbox_page(request, db, actor, contract_id, sql=sql, result=answer)


# ------------------------------------------------------------------ my account


@router.get("/exchange/account")
def account_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    """The member's ledger account; the exchange and auditors may look at any member's (?org=)."""
    asked = (request.query_params.get("org") or "").strip()[:80]
    code = asked or actor.org_code
    org, balance = service.account_of(db, actor, code)
    try:
        moves = ledger.statement(db, service.member_account(org.id), limit=200)
    except ledger.UnknownAccount:
        moves = []
    rows = []
    for m in moves:
        kind, _, ref = m.reference.partition(":")
        rows.append(
            {
                "kind": m.kind,
                "memo": m.memo,
                "amount": m.amount,
                "at": m.at,
                "contract": whole_number(ref) if kind == "contract" else None,
                "transaction": m.transaction_id,
            }
        )
    _viewer(request, db, actor)
    context = {
        "org": org,
        "balance": balance,
        "moves": rows,
        "member": bool(_roles_of(db, org.id)),
        "sees_all": reach(actor, "exchange.view") == "all",
        "asked": asked,
    }
    return _render(request, "exchange/account.html", context)


def _roles_of(db: Session, org_id: int) -> frozenset[str]:
    row = db.execute(select(Member.roles, Member.status).where(Member.org_id == org_id)).first()
    if row is None or row.status != "active":
        return frozenset()
    return frozenset(json.loads(row.roles))
