"""Exchange rules: nodes and members, listings (无场景不登记、无登记不交易、无合规不上架),
contracts from order through negotiation, escrow, delivery, acceptance and settlement,
disputes, and the one ledger all money moves in.

A contract's ``status`` says whether it may be used (``active`` while paid, in force and not
revoked; negotiation states before that), its ``settlement`` where its money is (``escrow``
after payment, ``disputed`` while a dispute freezes it, then ``settled`` or ``refunded``).
Verbs take ``(session, actor, ...)``, check the authorization table, write an audit entry and
flush; the entrypoint commits, so a refused step (an overdraft, a sold-out offer) leaves
nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from sqlalchemy import Integer, Select, cast, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog
from yiwang.exchange.errors import (
    ContractNotFound,
    ListingNotFound,
    ListingRefused,
    NodeNotFound,
    NotMember,
    SoldOut,
    WrongState,
)
from yiwang.exchange.models import Contract, ContractEvent, ListedCertificate, Listing, Member, Node
from yiwang.exchange.policy import Policy, from_odrl, region_allowed, to_odrl
from yiwang.exchange.schemas import (
    DisputeDecisionIn,
    ListingIn,
    MemberIn,
    NodeIn,
    OrderIn,
    RatingIn,
    ReviewIn,
    TermsIn,
)
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, Scope, authorize, reach, register_actions
from yiwang.identity.models import Org
from yiwang.kit import audit, datastore, ledger, search, workdays
from yiwang.kit.datastore.fields import check_fields
from yiwang.kit.db import utcnow
from yiwang.kit.errors import InvalidInput, NotFound
from yiwang.registry import service as registry
from yiwang.sharing import service as sharing

EXCHANGE: dict[str, Scope] = {"admin": "all", "operator": "all"}
TRADERS: dict[str, Scope] = {"enterprise": "own_org", "staff": "own_org", "cdo": "own_org", "bank": "own_org"}
register_actions(
    {
        # create nodes, admit members, review listings, decide disputes, revoke contracts
        "exchange.manage": EXCHANGE,
        # put money into a member's account (the exchange records a transfer received)
        "exchange.deposit": EXCHANGE,
        # list data products for sale, answer orders, deliver
        "exchange.sell": TRADERS,
        # order, negotiate, pay, accept, dispute, rate, use deliveries
        "exchange.buy": TRADERS,
        # see contracts and ledger accounts: the parties their own, the exchange and auditors all
        "exchange.view": {**TRADERS, "auditor": "all", **EXCHANGE},
    }
)

EXCHANGE_FEE_BP = 200  # the exchange's fee on every settled sale, in ‱
SEARCH_KIND = "listing"
LISTING_STATUS_ZH = {
    "draft": "草稿",
    "submitted": "待审核",
    "published": "已挂牌",
    "rejected": "已驳回",
    "delisted": "已下架",
}
CONTRACT_STATUS_ZH = {
    "requested": "买方已出价",
    "offered": "卖方已报价",
    "agreed": "已达成一致",
    "finalized": "已签约待付款",
    "active": "履约中",
    "expired": "已到期",
    "revoked": "已撤销",
    "terminated": "已终止",
}
SETTLEMENT_ZH = {
    "none": "未付款",
    "escrow": "资金托管中",
    "disputed": "争议冻结",
    "settled": "已结算",
    "refunded": "已退款",
}
NEGOTIATING = ("requested", "offered", "agreed", "finalized")
CLEARING = "clearing"
ESCROW = "escrow"
EXCHANGE_FEES = "fees:exchange"


def member_account(org_id: int) -> str:
    return f"member:{org_id}"


def node_account(node_id: int) -> str:
    return f"fees:node:{node_id}"


def _record(
    session: Session, actor: Actor, action: str, target_type: str, target: object, **details: Any
) -> None:
    audit.record(session, actor, action, target_type=target_type, target_id=target, details=details)


def _org(session: Session, org_id: int) -> Org:
    return identity.orgs_by_ids(session, {org_id})[org_id]


def _org_by_code(session: Session, code: str, field: str) -> Org:
    org = identity.org_by_code(session, code)
    if org is None:
        raise InvalidInput(f"{field}：单位 {code} 不存在", details={"field": field})
    return org


def _today() -> date:
    return workdays.beijing_today()


# ------------------------------------------------------------------ the books


def open_books(session: Session) -> None:
    """The exchange's own accounts: clearing (money outside), escrow and its fee income."""
    ledger.open_account(session, CLEARING, "外部清算（平台外资金）", kind="clearing", may_go_negative=True)
    ledger.open_account(session, ESCROW, "交易资金托管", kind="escrow")
    ledger.open_account(session, EXCHANGE_FEES, "交易所服务费收入", kind="fees")


def deposit(session: Session, actor: Actor, org_code: str, amount: int, memo: str = "") -> int:
    """Record money a member paid in (from outside the platform) on its account."""
    authorize(actor, "exchange.deposit", target_type="org", target_id=org_code)
    org = _org_by_code(session, org_code, "org")
    _member(session, org.id)  # members exist only once a node does, and the first node opened the books
    txn = ledger.post(
        session,
        kind="deposit",
        reference=f"org:{org.code}",
        actor=actor.username,
        memo=memo or "入金",
        legs=[(CLEARING, -amount), (member_account(org.id), amount)],
    )
    _record(session, actor, "exchange.deposit", "org", org.code, amount=amount, transaction=txn)
    return txn


def account_of(session: Session, actor: Actor, org_code: str) -> tuple[Org, int]:
    org = _org_by_code(session, org_code, "org")
    authorize(actor, "exchange.view", org_path=org.path, target_type="org", target_id=org.code)
    code = member_account(org.id)
    try:
        return org, ledger.balance(session, code)
    except NotFound:
        return org, 0


# ------------------------------------------------------------------ nodes and members


def create_node(session: Session, actor: Actor, data: NodeIn) -> Node:
    authorize(actor, "exchange.manage", target_type="node", target_id=data.code)
    if session.execute(select(Node.id).where(Node.code == data.code)).first():
        raise WrongState(f"节点代码 {data.code} 已存在", code="node_exists")
    if data.kind == "exchange" and session.execute(select(Node.id).where(Node.kind == "exchange")).first():
        raise WrongState("交易所节点只能有一个（一所多基地多平台）", code="exchange_exists")
    operator = _org_by_code(session, data.operator, "operator")
    node = Node(
        code=data.code,
        name=data.name,
        kind=data.kind,
        region=data.region,
        sector=data.sector,
        operator_id=operator.id,
        fee_bp=0 if data.kind == "exchange" else data.fee_bp,
    )
    session.add(node)
    session.flush()
    open_books(session)
    ledger.open_account(
        session, node_account(node.id), f"{node.name}服务费收入", kind="fees", owner_id=operator.id
    )
    _record(session, actor, "exchange.node.create", "node", node.code, kind=node.kind, region=node.region)
    return node


def list_nodes(session: Session) -> list[Node]:
    order = {"exchange": 0, "base": 1, "platform": 2}
    return sorted(session.execute(select(Node)).scalars(), key=lambda n: (order.get(n.kind, 3), n.code))


def node_by_code(session: Session, code: str) -> Node:
    node = session.execute(select(Node).where(Node.code == code)).scalar_one_or_none()
    if node is None:
        raise NodeNotFound(f"节点 {code} 不存在")
    return node


def admit_member(session: Session, actor: Actor, data: MemberIn) -> Member:
    """Admit an organisation as a member of a node: the exchange, or that node's own operator."""
    node = node_by_code(session, data.node)
    org = _org_by_code(session, data.org, "org")
    _authorize_node(session, actor, node)
    if session.execute(select(Member.id).where(Member.org_id == org.id)).first():
        raise WrongState(f"{org.name} 已是会员", code="member_exists")
    member = Member(org_id=org.id, node_id=node.id, roles=json.dumps(sorted(set(data.roles))))
    session.add(member)
    session.flush()
    ledger.open_account(session, member_account(org.id), org.name, kind="member", owner_id=org.id)
    _record(session, actor, "exchange.member.admit", "org", org.code, node=node.code, roles=data.roles)
    return member


def _authorize_node(session: Session, actor: Actor, node: Node) -> None:
    """The exchange manages every node; a base or platform onboards its own members."""
    try:
        authorize(actor, "exchange.manage", target_type="node", target_id=node.code)
    except AccessDenied:
        if actor.org_id != node.operator_id:
            raise
        authorize(actor, "exchange.sell", org_path=actor.org_path, target_type="node", target_id=node.code)


@dataclass(frozen=True)
class Membership:
    org: Org
    node: Node
    roles: frozenset[str]


def _member(session: Session, org_id: int) -> Membership:
    row = session.execute(
        select(Member, Node).join(Node, Node.id == Member.node_id).where(Member.org_id == org_id)
    ).first()
    if row is None or row.Member.status != "active":
        org = _org(session, org_id)
        raise NotMember(f"{org.name} 不是交易所会员，请先到所属基地或平台办理入场")
    return Membership(_org(session, org_id), row.Node, frozenset(json.loads(row.Member.roles)))


def _trader(session: Session, actor: Actor, action: str, *roles: str) -> Membership:
    authorize(actor, action, org_path=actor.org_path, target_type="org", target_id=actor.org_code)
    if actor.org_id is None:
        raise NotMember("平台控制台不能直接交易")
    membership = _member(session, actor.org_id)
    if not membership.roles.intersection(roles):
        raise NotMember(f"{membership.org.name} 的会员身份不含{'或'.join(roles)}")
    return membership


def list_members(session: Session, node_code: str | None = None) -> list[tuple[Member, Org, Node]]:
    query = (
        select(Member, Org, Node)
        .join(Org, Org.id == Member.org_id)
        .join(Node, Node.id == Member.node_id)
        .order_by(Node.id, Org.code)
    )
    if node_code:
        query = query.where(Node.code == node_code)
    return [(m, o, n) for m, o, n in session.execute(query)]


# ------------------------------------------------------------------ listings


def _policy_of(data: ListingIn) -> Policy:
    p = data.policy
    return Policy(
        tuple(dict.fromkeys(p.purposes)),
        tuple(dict.fromkeys(p.regions)),
        p.validity_days,
        p.call_limit,
        p.daily_limit,
        p.no_resale,
    )


def policy(listing: Listing) -> Policy:
    return from_odrl(listing.policy)


def _check_certificate(session: Session, seller: Org, number: str) -> None:
    """无登记不交易、无合规不上架: an active certificate, held by the seller, after compliance review."""
    try:
        standing = registry.standing(session, number)
    except NotFound:
        raise ListingRefused(
            f"凭证 {number} 不存在：未经登记的数据资产不得挂牌（无登记不交易）",
            code="not_registered",
            details={"field": "certificate"},
        ) from None
    if standing.holder != seller.code:
        raise ListingRefused(
            f"凭证 {number} 的持有人是 {standing.holder}，不是挂牌方 {seller.code}",
            code="not_holder",
            details={"field": "certificate"},
        )
    if not standing.listable:
        status = registry.STATUS_ZH.get(standing.status, standing.status)
        raise ListingRefused(
            f"凭证 {number} 当前状态为“{status}”：只有有效且未质押的资产可以挂牌",
            code="certificate_not_active",
            details={"field": "certificate", "status": standing.status},
        )


def _check_public_data(session: Session, seller: Org, data: ListingIn) -> None:
    """公共数据授权运营: a product on a catalog resource rests on the seller's live grants over
    it, and leaves only as aggregates (the sandbox): 原始数据不出域."""
    if not data.public_grants:
        raise ListingRefused(
            f"dataset：以公共数据资源 {data.dataset} 为基础的产品须声明其依托的共享授权（public_grants）",
            code="grant_required",
            details={"field": "public_grants"},
        )
    if data.delivery != "sandbox":
        raise ListingRefused(
            "delivery：公共数据产品只能以沙箱（可用不可见）方式交付，原始数据不出域",
            code="raw_public_data",
            details={"field": "delivery"},
        )
    standings = sharing.grant_standings(session, data.public_grants)
    for grant_id in data.public_grants:
        g = standings.get(grant_id)
        if g is None:
            raise ListingRefused(
                f"public_grants：授权 #{grant_id} 不存在", details={"field": "public_grants"}
            )
        if g.consumer != seller.code or g.resource != data.dataset:
            raise ListingRefused(
                f"public_grants：授权 #{grant_id} 不是 {seller.code} 对资源 {data.dataset} 的授权",
                code="grant_mismatch",
                details={"field": "public_grants"},
            )
        if g.status != "active":
            raise ListingRefused(
                f"public_grants：授权 #{grant_id} 已{'撤销' if g.status == 'revoked' else '到期'}",
                code="grant_not_active",
                details={"field": "public_grants"},
            )
    view = catalog.data_view(session, data.dataset)
    if view.table is None:
        raise ListingRefused(f"dataset：资源 {data.dataset} 尚未装载数据", details={"field": "dataset"})


def _check_own_data(data: ListingIn) -> list[datastore.FieldSpec]:
    if not data.fields:
        raise ListingRefused(
            "fields：请描述数据表的信息项（自有数据），或以 dataset 指明所依托的公共数据资源",
            details={"field": "fields"},
        )
    specs = [datastore.FieldSpec(**f.model_dump()) for f in data.fields]
    check_fields(specs)
    return specs


def create_listing(session: Session, actor: Actor, data: ListingIn) -> Listing:
    """A draft listing; checked against the market's rules now and again when submitted."""
    seller = _trader(session, actor, "exchange.sell", "seller", "merchant")
    node = node_by_code(session, data.node)
    _check_certificate(session, seller.org, data.certificate)
    specs: list[datastore.FieldSpec] = []
    if data.dataset:
        _check_public_data(session, seller.org, data)
    else:
        specs = _check_own_data(data)
    terms = _policy_of(data)
    listing = Listing(
        node_id=node.id,
        seller_id=seller.org.id,
        certificate=data.certificate,
        name=data.name,
        description=data.description,
        sample=data.sample,
        scenario=data.scenario,
        price_model=data.price_model,
        price=data.price,
        units=data.units,
        delivery=data.delivery,
        dataset=data.dataset,
        fields=json.dumps([f.model_dump() for f in data.fields], ensure_ascii=False),
        table_name=data.table_name,
        policy="{}",
        k=data.k,
        public_grants=json.dumps(data.public_grants),
        status="draft",
        created_by=actor.username,
    )
    session.add(listing)
    session.flush()
    listing.policy = to_odrl(terms, f"urn:yiwang:listing:{listing.id}")
    if specs:
        listing.data_table = datastore.table_name_of(f"x{listing.id}")
    _record(session, actor, "exchange.listing.create", "listing", listing.id, certificate=data.certificate)
    return listing


def load_listing_data(
    session: Session, actor: Actor, listing_id: int, stream: Any, filename: str, *, suite: str = "standard"
) -> Listing:
    """Load the seller's own data for a listing (all-or-nothing, every row validated)."""
    listing = _own_listing(session, actor, listing_id)
    if listing.dataset:
        raise WrongState("公共数据产品的数据来自目录资源，不能另行上传")
    if listing.status not in ("draft", "rejected", "published"):
        raise WrongState(f"挂牌状态为“{LISTING_STATUS_ZH[listing.status]}”，不能上传数据")
    specs = listing_fields(listing)
    datastore.ensure_table(session, listing.data_table, specs)
    name = filename.lower()
    file_format = (
        "xlsx" if name.endswith(".xlsx") else "json" if name.endswith((".json", ".jsonl")) else "csv"
    )
    rows = datastore.read_rows(stream, file_format, specs)
    result = datastore.load(session, listing.data_table, specs, rows, mode="replace", suite=suite)
    listing.row_count = result.count
    listing.content_hash = result.content_hash[:64]
    _record(
        session,
        actor,
        "exchange.listing.load",
        "listing",
        listing.id,
        rows=result.count,
        hash=result.content_hash,
    )
    session.flush()
    return listing


def listing_fields(listing: Listing) -> list[datastore.FieldSpec]:
    return [datastore.FieldSpec(**f) for f in json.loads(listing.fields or "[]")]


def _own_listing(session: Session, actor: Actor, listing_id: int) -> Listing:
    listing = get_listing(session, actor, listing_id)
    seller = _org(session, listing.seller_id)
    authorize(actor, "exchange.sell", org_path=seller.path, target_type="listing", target_id=listing.id)
    return listing


def submit_listing(session: Session, actor: Actor, listing_id: int) -> Listing:
    """Send a draft to the exchange's review; the certificate is claimed for this listing now,
    so the same asset cannot be listed on a second node."""
    listing = _own_listing(session, actor, listing_id)
    if listing.status not in ("draft", "rejected"):
        raise WrongState(f"挂牌状态为“{LISTING_STATUS_ZH[listing.status]}”，不能提交审核")
    seller = _org(session, listing.seller_id)
    _check_certificate(session, seller, listing.certificate)
    if not listing.dataset and listing.row_count == 0:
        raise ListingRefused("请先上传产品数据，再提交审核", code="no_data", details={"field": "data"})
    _claim_certificate(session, listing)
    listing.status, listing.reason = "submitted", ""
    _record(session, actor, "exchange.listing.submit", "listing", listing.id)
    return listing


def _claim_certificate(session: Session, listing: Listing) -> None:
    holder = session.get(ListedCertificate, listing.certificate)
    if holder is not None and holder.listing_id != listing.id:
        other = session.get(Listing, holder.listing_id)
        node = session.get(Node, other.node_id) if other else None
        raise ListingRefused(
            f"凭证 {listing.certificate} 已在{node.name if node else '其他节点'}挂牌"
            f"（挂牌 #{holder.listing_id}），同一资产不得重复挂牌",
            code="already_listed",
            details={"field": "certificate", "listing": holder.listing_id},
        )
    if holder is None:
        try:
            with session.begin_nested():
                session.add(ListedCertificate(certificate=listing.certificate, listing_id=listing.id))
        except IntegrityError:
            raise ListingRefused(
                f"凭证 {listing.certificate} 刚在其他节点挂牌，同一资产不得重复挂牌",
                code="already_listed",
                details={"field": "certificate"},
            ) from None


def _release_certificate(session: Session, listing: Listing) -> None:
    holder = session.get(ListedCertificate, listing.certificate)
    if holder is not None and holder.listing_id == listing.id:
        session.delete(holder)
        session.flush()


def review_listing(session: Session, actor: Actor, listing_id: int, data: ReviewIn) -> Listing:
    """The exchange's review (无合规不上架): publish, or send back with the reason."""
    authorize(actor, "exchange.manage", target_type="listing", target_id=listing_id)
    listing = _listing(session, listing_id)
    if listing.status != "submitted":
        raise WrongState(f"挂牌状态为“{LISTING_STATUS_ZH[listing.status]}”，不在审核中")
    if data.approve:
        _check_certificate(session, _org(session, listing.seller_id), listing.certificate)
        listing.status, listing.published_at, listing.reason = "published", utcnow(), data.reason
        _index(session, listing)
    else:
        if not data.reason:
            raise InvalidInput("reason：驳回须说明理由", details={"field": "reason"})
        listing.status, listing.reason = "rejected", data.reason
        _release_certificate(session, listing)
    _record(
        session,
        actor,
        "exchange.listing.review",
        "listing",
        listing.id,
        approve=data.approve,
        reason=data.reason,
    )
    return listing


def delist(session: Session, actor: Actor, listing_id: int, reason: str) -> Listing:
    """Withdraw a listing from sale (the seller, or the exchange); contracts in force go on."""
    listing = _listing(session, listing_id)
    try:
        authorize(actor, "exchange.manage", target_type="listing", target_id=listing.id)
    except AccessDenied:
        listing = _own_listing(session, actor, listing_id)
    if listing.status not in ("submitted", "published"):
        raise WrongState(f"挂牌状态为“{LISTING_STATUS_ZH[listing.status]}”，无需下架")
    listing.status, listing.reason = "delisted", reason
    _release_certificate(session, listing)
    search.remove_document(session, SEARCH_KIND, str(listing.id))
    _record(session, actor, "exchange.listing.delist", "listing", listing.id, reason=reason)
    return listing


def _index(session: Session, listing: Listing) -> None:
    seller = _org(session, listing.seller_id)
    node = session.get(Node, listing.node_id)
    search.index_document(
        session,
        SEARCH_KIND,
        str(listing.id),
        title=listing.name,
        keywords=" ".join([seller.name, node.name if node else "", listing.certificate]),
        body=" ".join([listing.description, listing.scenario]),
    )


def _listing(session: Session, listing_id: int) -> Listing:
    listing = session.get(Listing, listing_id)
    if listing is None:
        raise ListingNotFound(f"挂牌 #{listing_id} 不存在")
    return listing


def get_listing(session: Session, actor: Actor | None, listing_id: int) -> Listing:
    """A published listing is public; others only for their seller and the exchange."""
    listing = _listing(session, listing_id)
    if listing.status == "published":
        return listing
    if actor is None:
        raise ListingNotFound(f"挂牌 #{listing_id} 不存在")
    if reach(actor, "exchange.manage") is None:
        seller = _org(session, listing.seller_id)
        try:
            authorize(
                actor, "exchange.sell", org_path=seller.path, target_type="listing", target_id=listing.id
            )
        except AccessDenied:
            raise ListingNotFound(f"挂牌 #{listing_id} 不存在") from None
    return listing


@dataclass(frozen=True)
class Market:
    listings: list[Listing]
    total: int
    facets: dict[str, dict[str, int]]


def search_listings(
    session: Session,
    *,
    q: str = "",
    node: str | None = None,
    delivery: str | None = None,
    price_model: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Market:
    """Published listings, found with the catalog's Chinese search (words inside words, pinyin)."""
    query = select(Listing).where(Listing.status == "published")
    if q.strip():
        hits = search.match_subquery(session, SEARCH_KIND, q).subquery()
        query = query.where(Listing.id.in_(select(cast(hits.c.key, Integer))))
    base = query
    if node:
        query = query.where(Listing.node_id.in_(select(Node.id).where(Node.code == node)))
    if delivery:
        query = query.where(Listing.delivery == delivery)
    if price_model:
        query = query.where(Listing.price_model == price_model)
    items = list(
        session.execute(
            query.order_by(Listing.published_at.desc(), Listing.id.desc()).offset(offset).limit(limit)
        ).scalars()
    )
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    return Market(items, int(total), _facets(session, base))


def _facets(session: Session, base: Select[Any]) -> dict[str, dict[str, int]]:
    ids = base.with_only_columns(Listing.id).subquery()
    facets: dict[str, dict[str, int]] = {}
    for name, column in (("delivery", Listing.delivery), ("price_model", Listing.price_model)):
        rows = session.execute(
            select(column, func.count()).where(Listing.id.in_(select(ids.c.id))).group_by(column)
        )
        facets[name] = {str(k): int(v) for k, v in rows}
    rows = session.execute(
        select(Node.code, func.count())
        .join(Listing, Listing.node_id == Node.id)
        .where(Listing.id.in_(select(ids.c.id)))
        .group_by(Node.code)
    )
    facets["node"] = {str(k): int(v) for k, v in rows}
    return facets


def seller_listings(session: Session, actor: Actor) -> list[Listing]:
    if actor.org_id is None:
        return []
    authorize(actor, "exchange.sell", org_path=actor.org_path, target_type="org", target_id=actor.org_code)
    return list(
        session.execute(
            select(Listing).where(Listing.seller_id == actor.org_id).order_by(Listing.id.desc())
        ).scalars()
    )


def review_queue(session: Session, actor: Actor) -> list[Listing]:
    authorize(actor, "exchange.manage", target_type="listing", target_id="queue")
    return list(
        session.execute(select(Listing).where(Listing.status == "submitted").order_by(Listing.id)).scalars()
    )


def remaining_units(listing: Listing) -> int | None:
    return None if listing.units is None else max(0, listing.units - listing.units_sold)


# ------------------------------------------------------------------ contracts: negotiation


def _event(
    session: Session,
    contract: Contract,
    actor: Actor,
    action: str,
    side: str,
    *,
    terms: dict[str, Any] | None = None,
    note: str = "",
) -> None:
    session.add(
        ContractEvent(
            contract_id=contract.id,
            action=action,
            actor=actor.username,
            side=side,
            terms=json.dumps(terms, ensure_ascii=False, default=str) if terms else "",
            note=note,
        )
    )
    contract.updated_at = utcnow()
    _record(
        session,
        actor,
        f"exchange.contract.{action}",
        "contract",
        contract.id,
        side=side,
        note=note,
        **(terms or {}),
    )


def contract_terms(contract: Contract) -> dict[str, Any]:
    return {
        "quantity": contract.quantity,
        "unit_price": contract.unit_price,
        "amount": contract.amount,
        "valid_until": contract.valid_until.isoformat(),
        "call_limit": contract.call_limit,
    }


def _listed_terms(listing: Listing, terms: Policy, quantity: int) -> int | None:
    """The call limit a contract at list terms gets: a per-call sale is its quantity of calls."""
    if listing.price_model == "per_call":
        return quantity if terms.call_limit is None else min(quantity, terms.call_limit)
    return terms.call_limit


def place_order(session: Session, actor: Actor, data: OrderIn) -> Contract:
    """:func:`order`, for callers that need no delivery key."""
    return order(session, actor, data).contract


def order(session: Session, actor: Actor, data: OrderIn) -> Paid:
    """Order a published listing. At the listed terms the listing is the seller's standing
    offer: the contract is finalized at once (and paid, with ``pay``); other terms open a
    negotiation (``requested``) the seller answers."""
    buyer = _trader(session, actor, "exchange.buy", "buyer", "merchant")
    listing = _listing(session, data.listing)
    if listing.status != "published":
        raise WrongState(f"挂牌 #{listing.id} 未在挂牌中，不能下单")
    if listing.seller_id == buyer.org.id:
        raise InvalidInput("listing：不能购买本单位挂牌的产品", details={"field": "listing"})
    # The asset may have been pledged, transferred, cancelled or revoked since it was listed.
    _check_certificate(session, _org(session, listing.seller_id), listing.certificate)
    terms = policy(listing)
    today = _today()
    if data.purpose not in terms.purposes:
        raise InvalidInput(
            f"purpose：用途“{data.purpose}”不在许可用途内：{'、'.join(terms.purposes)}",
            details={"field": "purpose"},
        )
    if not region_allowed(terms, data.region):
        raise InvalidInput(
            f"region：使用地 {data.region} 不在许可区域 {'、'.join(terms.regions)} 内",
            details={"field": "region"},
        )
    latest = today + timedelta(days=terms.validity_days)
    valid_until = data.valid_until or latest
    if not today <= valid_until <= latest:
        raise InvalidInput(
            f"valid_until：有效期应在今天至 {latest.isoformat()} 之间（许可期限 {terms.validity_days} 天）",
            details={"field": "valid_until"},
        )
    left = remaining_units(listing)
    if left is not None and data.quantity > left:
        raise SoldOut(f"挂牌 #{listing.id} 仅余 {left} 份，不足 {data.quantity} 份")
    unit_price = listing.price if data.unit_price is None else data.unit_price
    listed_limit = _listed_terms(listing, terms, data.quantity)
    call_limit = data.call_limit if data.call_limit is not None else listed_limit
    at_list_terms = (
        unit_price == listing.price and call_limit == listed_limit and data.valid_until in (None, latest)
    )
    contract = Contract(
        listing_id=listing.id,
        buyer_id=buyer.org.id,
        seller_id=listing.seller_id,
        node_id=listing.node_id,
        status="requested",
        settlement="none",
        delivery=listing.delivery,
        quantity=data.quantity,
        unit_price=unit_price,
        amount=unit_price * data.quantity,
        purpose=data.purpose,
        region=data.region,
        valid_until=valid_until,
        call_limit=call_limit,
        daily_limit=terms.daily_limit,
        last_offer_by="buyer",
        ordered_by=actor.username,
    )
    session.add(contract)
    session.flush()
    _event(session, contract, actor, "request", "buyer", terms=contract_terms(contract))
    if at_list_terms:
        contract.status = "finalized"
        _event(session, contract, actor, "finalize", "exchange", note="按挂牌条件成交（挂牌即卖方要约）")
        if data.pay:
            return pay(session, actor, contract.id)
    elif data.pay:
        raise InvalidInput("pay：改变了挂牌条件的订单须待卖方同意后再付款", details={"field": "pay"})
    return Paid(contract, None)


def _contract(session: Session, contract_id: int) -> Contract:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise ContractNotFound(f"合约 #{contract_id} 不存在")
    return contract


def _side(session: Session, actor: Actor, contract: Contract, action: str) -> str:
    """Which party the actor acts for (buyer | seller), after checking it may."""
    for side, org_id in (("buyer", contract.buyer_id), ("seller", contract.seller_id)):
        if actor.org_id == org_id:
            org = _org(session, org_id)
            authorize(actor, action, org_path=org.path, target_type="contract", target_id=contract.id)
            return side
    raise AccessDenied(actor, action, "contract", str(contract.id), "不是合约的当事方")


def get_contract(session: Session, actor: Actor, contract_id: int) -> Contract:
    contract = _contract(session, contract_id)
    if reach(actor, "exchange.view") == "all":
        return contract
    if actor.org_id not in (contract.buyer_id, contract.seller_id):
        raise ContractNotFound(f"合约 #{contract_id} 不存在")
    _side(session, actor, contract, "exchange.view")
    return contract


def _expect(contract: Contract, *states: str) -> None:
    if contract.status not in states:
        raise WrongState(
            f"合约 #{contract.id} 当前为“{effective_status(contract)}”，此操作需要："
            + "、".join(CONTRACT_STATUS_ZH.get(s, s) for s in states)
        )


def counter_offer(session: Session, actor: Actor, contract_id: int, data: TermsIn) -> Contract:
    """Either side proposes new terms; the other side answers next."""
    contract = _contract(session, contract_id)
    side = _side(
        session, actor, contract, "exchange.sell" if actor.org_id == contract.seller_id else "exchange.buy"
    )
    _expect(contract, "requested", "offered")
    if contract.last_offer_by == side:
        raise WrongState("已出价，等待对方答复", code="not_your_turn")
    listing = _listing(session, contract.listing_id)
    terms = policy(listing)
    latest = _today() + timedelta(days=terms.validity_days)
    if not _today() <= data.valid_until <= latest:
        raise InvalidInput(
            f"valid_until：有效期应在今天至 {latest.isoformat()} 之间", details={"field": "valid_until"}
        )
    left = remaining_units(listing)
    if left is not None and data.quantity > left:
        raise SoldOut(f"挂牌 #{listing.id} 仅余 {left} 份")
    contract.quantity, contract.unit_price = data.quantity, data.unit_price
    contract.amount = data.quantity * data.unit_price
    contract.valid_until, contract.call_limit = data.valid_until, data.call_limit
    contract.last_offer_by = side
    contract.status = "offered" if side == "seller" else "requested"
    _event(
        session,
        contract,
        actor,
        "offer" if side == "seller" else "counter",
        side,
        terms=contract_terms(contract),
        note=data.note,
    )
    return contract


def agree(session: Session, actor: Actor, contract_id: int) -> Contract:
    """Accept the other side's latest terms (agreed); the seller's agreement also finalizes."""
    contract = _contract(session, contract_id)
    side = _side(
        session, actor, contract, "exchange.sell" if actor.org_id == contract.seller_id else "exchange.buy"
    )
    _expect(contract, "requested", "offered")
    if contract.last_offer_by == side:
        raise WrongState("不能同意自己的出价，等待对方答复", code="not_your_turn")
    contract.status = "agreed"
    _event(session, contract, actor, "agree", side, terms=contract_terms(contract))
    return contract


def finalize(session: Session, actor: Actor, contract_id: int) -> Contract:
    """The seller signs the agreed terms (EDC's provider finalization); payment comes next."""
    contract = _contract(session, contract_id)
    side = _side(session, actor, contract, "exchange.sell")
    if side != "seller":
        raise WrongState("签约由卖方确认", code="not_your_turn")
    _expect(contract, "agreed")
    contract.status = "finalized"
    _event(session, contract, actor, "finalize", side)
    return contract


def terminate(session: Session, actor: Actor, contract_id: int, reason: str) -> Contract:
    """Either side ends a negotiation before payment."""
    contract = _contract(session, contract_id)
    side = _side(
        session, actor, contract, "exchange.sell" if actor.org_id == contract.seller_id else "exchange.buy"
    )
    _expect(contract, *NEGOTIATING)
    contract.status, contract.reason = "terminated", reason
    _event(session, contract, actor, "terminate", side, note=reason)
    return contract


# ------------------------------------------------------------------ contracts: money


def _reserve_units(session: Session, contract: Contract) -> None:
    """Take the contract's units from a limited offer in one conditional UPDATE: concurrent
    buyers never oversell it."""
    taken = session.execute(
        update(Listing)
        .where(
            Listing.id == contract.listing_id,
            or_(Listing.units.is_(None), Listing.units_sold + contract.quantity <= Listing.units),
        )
        .values(units_sold=Listing.units_sold + contract.quantity)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 0:  # type: ignore[attr-defined]
        raise SoldOut(f"挂牌 #{contract.listing_id} 已售罄（或余量不足 {contract.quantity} 份）")
    listing = session.get(Listing, contract.listing_id)
    if listing is not None:
        session.expire(listing, ["units_sold"])


def new_delivery_key(contract_id: int) -> tuple[str, str]:
    """A delivery key bound to the contract, and its hash (only the hash is kept)."""
    raw = f"yx_{contract_id}_{secrets.token_urlsafe(24)}"
    return raw, hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class Paid:
    contract: Contract
    key: str | None  # the API delivery key, shown once


def pay(session: Session, actor: Actor, contract_id: int) -> Paid:
    """Pay a finalized contract into escrow: its units are taken, delivery starts."""
    contract = _contract(session, contract_id)
    side = _side(session, actor, contract, "exchange.buy")
    if side != "buyer":
        raise WrongState("付款由买方进行", code="not_your_turn")
    _expect(contract, "finalized")
    if contract.valid_until < _today():
        raise WrongState(f"合约 #{contract.id} 的有效期已过，请重新下单")
    _reserve_units(session, contract)
    if contract.amount:
        ledger.post(
            session,
            kind="escrow",
            reference=f"contract:{contract.id}",
            actor=actor.username,
            memo="合约价款转入托管",
            legs=[(member_account(contract.buyer_id), -contract.amount), (ESCROW, contract.amount)],
        )
    contract.status, contract.settlement = "active", "escrow"
    key = None
    if contract.delivery == "api":
        key, contract.key_hash = new_delivery_key(contract.id)
    _event(session, contract, actor, "pay", "buyer", terms={"amount": contract.amount})
    return Paid(contract, key)


def rotate_key(session: Session, actor: Actor, contract_id: int) -> str:
    """A new API delivery key for the buyer (the old one stops at once)."""
    contract = _contract(session, contract_id)
    _side(session, actor, contract, "exchange.buy")
    if actor.org_id != contract.buyer_id or contract.delivery != "api":
        raise WrongState("只有买方可以为接口交付的合约重新生成密钥")
    _expect(contract, "active")
    key, contract.key_hash = new_delivery_key(contract.id)
    _event(session, contract, actor, "rotate_key", "buyer")
    return key


def _split(session: Session, contract: Contract) -> list[tuple[str, int]]:
    """Escrow out to the exchange's fee, the originating node's fee and the seller (the rest)."""
    node = session.get(Node, contract.node_id)
    exchange_fee = contract.amount * EXCHANGE_FEE_BP // 10_000
    node_fee = contract.amount * node.fee_bp // 10_000 if node is not None and node.kind != "exchange" else 0
    legs = [
        (ESCROW, -contract.amount),
        (EXCHANGE_FEES, exchange_fee),
        (member_account(contract.seller_id), contract.amount - exchange_fee - node_fee),
    ]
    if node_fee:
        legs.append((node_account(contract.node_id), node_fee))
    return legs


def _settle(session: Session, actor: Actor, contract: Contract, note: str) -> None:
    if contract.amount:
        ledger.post(
            session,
            kind="settle",
            reference=f"contract:{contract.id}",
            actor=actor.username,
            memo=note,
            legs=_split(session, contract),
        )
    contract.settlement = "settled"
    _event(session, contract, actor, "settle", "exchange", note=note)


def accept_delivery(session: Session, actor: Actor, contract_id: int) -> Contract:
    """The buyer accepts what was delivered (验收): the escrow is settled at once."""
    contract = _contract(session, contract_id)
    side = _side(session, actor, contract, "exchange.buy")
    if side != "buyer":
        raise WrongState("验收由买方进行", code="not_your_turn")
    if contract.settlement != "escrow":
        raise WrongState(f"合约 #{contract.id} 的资金状态为“{SETTLEMENT_ZH[contract.settlement]}”，不能验收")
    _event(session, contract, actor, "accept", "buyer")
    _settle(session, actor, contract, "买方验收后结算")
    return contract


def dispute(session: Session, actor: Actor, contract_id: int, reason: str) -> Contract:
    """Either party disputes while the money is in escrow: settlement is frozen until decided."""
    contract = _contract(session, contract_id)
    side = _side(
        session, actor, contract, "exchange.sell" if actor.org_id == contract.seller_id else "exchange.buy"
    )
    if contract.settlement != "escrow":
        raise WrongState(
            f"合约 #{contract.id} 的资金状态为“{SETTLEMENT_ZH[contract.settlement]}”，不能提出争议"
        )
    contract.settlement, contract.reason = "disputed", reason
    _event(session, contract, actor, "dispute", side, note=reason)
    return contract


def decide_dispute(session: Session, actor: Actor, contract_id: int, data: DisputeDecisionIn) -> Contract:
    """The exchange decides: refund the buyer (the contract ends) or settle to the seller."""
    authorize(actor, "exchange.manage", target_type="contract", target_id=contract_id)
    contract = _contract(session, contract_id)
    if contract.settlement != "disputed":
        raise WrongState(f"合约 #{contract.id} 没有待裁决的争议")
    if data.refund:
        _refund(session, actor, contract, f"争议裁决退款：{data.reason}")
        contract.status = "terminated"
        contract.reason = data.reason
    else:
        _settle(session, actor, contract, f"争议裁决结算：{data.reason}")
    _event(session, contract, actor, "decide", "exchange", note=data.reason, terms={"refund": data.refund})
    return contract


def _refund(session: Session, actor: Actor, contract: Contract, note: str) -> None:
    if contract.amount:
        ledger.post(
            session,
            kind="refund",
            reference=f"contract:{contract.id}",
            actor=actor.username,
            memo=note,
            legs=[(ESCROW, -contract.amount), (member_account(contract.buyer_id), contract.amount)],
        )
    contract.settlement = "refunded"


def revoke_contract(session: Session, actor: Actor, contract_id: int, reason: str) -> Contract:
    """Stop a contract at once (the seller, or the exchange): the next delivery call is refused.
    Money still in escrow goes back to the buyer."""
    contract = _contract(session, contract_id)
    try:
        authorize(actor, "exchange.manage", target_type="contract", target_id=contract_id)
        side = "exchange"
    except AccessDenied:
        side = _side(session, actor, contract, "exchange.sell")
        if side != "seller":
            raise AccessDenied(
                actor, "exchange.revoke", "contract", str(contract.id), "只有卖方或交易所可以撤销合约"
            ) from None
    _expect(contract, "active")
    if contract.settlement == "disputed":
        raise WrongState("合约存在未裁决的争议，请先裁决")
    contract.status, contract.reason = "revoked", reason
    if contract.settlement == "escrow":
        _refund(session, actor, contract, f"合约撤销退款：{reason}")
    _event(session, contract, actor, "revoke", side, note=reason)
    return contract


def rate(session: Session, actor: Actor, contract_id: int, data: RatingIn) -> Contract:
    contract = _contract(session, contract_id)
    side = _side(session, actor, contract, "exchange.buy")
    if side != "buyer":
        raise WrongState("评价由买方进行", code="not_your_turn")
    if contract.settlement != "settled":
        raise WrongState("结算完成后才能评价")
    if contract.rating is not None:
        raise WrongState("已评价过该合约")
    contract.rating, contract.review = data.rating, data.review
    _event(session, contract, actor, "rate", "buyer", terms={"rating": data.rating}, note=data.review)
    return contract


# ------------------------------------------------------------------ reading contracts


def effective_status(contract: Contract, today: date | None = None) -> str:
    """``expired`` is a matter of the date, not a stored state."""
    if contract.status == "active" and contract.valid_until < (today or _today()):
        return "expired"
    return contract.status


def list_contracts(
    session: Session, actor: Actor, *, role: str | None = None, status: str | None = None, limit: int = 200
) -> list[Contract]:
    """The caller's contracts (as buyer, seller or both); the exchange and auditors see all."""
    scope = reach(actor, "exchange.view")
    if scope is None:
        raise AccessDenied(actor, "exchange.view", "contract", "", "当前角色没有此权限")
    query = select(Contract)
    if scope != "all" or role:
        sides = []
        if role in (None, "buyer"):
            sides.append(Contract.buyer_id == actor.org_id)
        if role in (None, "seller"):
            sides.append(Contract.seller_id == actor.org_id)
        query = query.where(or_(*sides))
    if status == "expired":
        query = query.where(Contract.status == "active", Contract.valid_until < _today())
    elif status == "active":
        query = query.where(Contract.status == "active", Contract.valid_until >= _today())
    elif status:
        query = query.where(Contract.status == status)
    return list(session.execute(query.order_by(Contract.id.desc()).limit(max(1, min(limit, 1000)))).scalars())


def contract_events(session: Session, contract_id: int) -> list[ContractEvent]:
    return list(
        session.execute(
            select(ContractEvent).where(ContractEvent.contract_id == contract_id).order_by(ContractEvent.id)
        ).scalars()
    )


def org_codes(session: Session, contracts: Sequence[Contract]) -> dict[int, Org]:
    ids = {c.buyer_id for c in contracts} | {c.seller_id for c in contracts}
    return identity.orgs_by_ids(session, ids)


def contract_shape(contract: Contract, orgs: dict[int, Org]) -> dict[str, Any]:
    return {
        "id": contract.id,
        "listing": contract.listing_id,
        "delivery": contract.delivery,
        "status": effective_status(contract),
        "settlement": contract.settlement,
        "buyer": orgs[contract.buyer_id].code,
        "seller": orgs[contract.seller_id].code,
        "quantity": contract.quantity,
        "unit_price": contract.unit_price,
        "amount": contract.amount,
        "purpose": contract.purpose,
        "region": contract.region,
        "valid_until": contract.valid_until.isoformat(),
        "call_limit": contract.call_limit,
        "daily_limit": contract.daily_limit,
        "calls": contract.calls,
        "last_offer_by": contract.last_offer_by,
        "reason": contract.reason,
        "rating": contract.rating,
    }


def listing_shape(listing: Listing, seller: Org, node: Node) -> dict[str, Any]:
    return {
        "id": listing.id,
        "name": listing.name,
        "description": listing.description,
        "scenario": listing.scenario,
        "sample": listing.sample,
        "seller": seller.code,
        "seller_name": seller.name,
        "node": node.code,
        "node_name": node.name,
        "certificate": listing.certificate,
        "price_model": listing.price_model,
        "price": listing.price,
        "units": listing.units,
        "units_left": remaining_units(listing),
        "delivery": listing.delivery,
        "dataset": listing.dataset,
        "public_data": bool(listing.dataset),
        "public_grants": json.loads(listing.public_grants or "[]"),
        "fields": json.loads(listing.fields or "[]"),
        "rows": listing.row_count,
        "k": listing.k,
        "policy": json.loads(listing.policy),
        "status": listing.status,
        "reason": listing.reason,
    }


def listing_context(session: Session, listings: Sequence[Listing]) -> tuple[dict[int, Org], dict[int, Node]]:
    orgs = identity.orgs_by_ids(session, {x.seller_id for x in listings})
    nodes = {
        n.id: n
        for n in session.execute(select(Node).where(Node.id.in_({x.node_id for x in listings}))).scalars()
    }
    return orgs, nodes


def seller_revenue(session: Session, actor: Actor) -> list[tuple[str, int, int]]:
    """The seller's settled sales by Beijing month: (month, contracts, amount)."""
    if actor.org_id is None:
        return []
    authorize(actor, "exchange.sell", org_path=actor.org_path, target_type="org", target_id=actor.org_code)
    rows = session.execute(
        select(Contract.updated_at, Contract.amount).where(
            Contract.seller_id == actor.org_id, Contract.settlement == "settled"
        )
    )
    months: dict[str, list[int]] = {}
    for at, amount in rows:
        month = at.replace(tzinfo=UTC).astimezone(workdays.BEIJING).strftime("%Y-%m")
        entry = months.setdefault(month, [0, 0])
        entry[0] += 1
        entry[1] += int(amount)
    return [(m, c, a) for m, (c, a) in sorted(months.items())]


def authorize_books(actor: Actor) -> None:
    """The whole ledger is for the exchange and auditors."""
    if reach(actor, "exchange.view") != "all":
        raise AccessDenied(actor, "exchange.view", "ledger", "", "只有交易所和审计员可以查看总账")
