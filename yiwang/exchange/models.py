"""Exchange tables: nodes and members, listings, contracts with their negotiation history,
delivery counters and links, and the sandbox's query log. Money lives in the kit's ledger."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.kit.db import Base, utcnow


class Node(Base):
    """所 / 基地 / 平台: the exchange itself, a regional base or a sector platform."""

    __tablename__ = "exchange_node"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # exchange | base | platform
    region: Mapped[str] = mapped_column(String(12))  # GB/T 2260
    sector: Mapped[str] = mapped_column(String(40), default="")  # for platforms: finance, transport …
    operator_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)  # the org that runs it
    fee_bp: Mapped[int] = mapped_column(Integer, default=0)  # the node's share of a sale, in ‱
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    """An organisation admitted to trade, onboarded by one node."""

    __tablename__ = "exchange_member"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), unique=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("exchange_node.id"), index=True)
    roles: Mapped[str] = mapped_column(Text)  # JSON list: seller | buyer | merchant | assessor
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | suspended
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Listing(Base):
    """挂牌: a data product on offer, tied to a registered asset's certificate."""

    __tablename__ = "exchange_listing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("exchange_node.id"), index=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    certificate: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    sample: Mapped[str] = mapped_column(Text, default="")
    scenario: Mapped[str] = mapped_column(Text, default="")  # 无场景不登记: the use it is offered for
    price_model: Mapped[str] = mapped_column(String(20))  # one_time | subscription | per_call
    price: Mapped[int] = mapped_column(BigInteger)  # 分, per unit (a copy, a month, or a call)
    units: Mapped[int | None] = mapped_column(Integer)  # a limited offer; None: unlimited
    units_sold: Mapped[int] = mapped_column(Integer, default=0)
    delivery: Mapped[str] = mapped_column(String(20))  # api | file | sandbox
    dataset: Mapped[str] = mapped_column(String(80), default="")  # public data: a catalog resource code
    fields: Mapped[str] = mapped_column(Text, default="[]")  # own data: its fields (JSON FieldSpecs)
    data_table: Mapped[str] = mapped_column(String(64), default="")  # own data: its datastore table
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    table_name: Mapped[str] = mapped_column(String(40), default="data")  # its name in the sandbox
    policy: Mapped[str] = mapped_column(Text)  # ODRL offer, JSON
    k: Mapped[int] = mapped_column(Integer, default=10)  # sandbox: least records behind an output row
    public_grants: Mapped[str] = mapped_column(Text, default="[]")  # JSON ids of sharing grants
    # draft | submitted | published | rejected | delisted
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()


class ListedCertificate(Base):
    """At most one live listing per certificate, across every node (the primary key enforces it)."""

    __tablename__ = "exchange_listed_certificate"

    certificate: Mapped[str] = mapped_column(String(20), primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("exchange_listing.id"))


class Contract(Base):
    """An order and the agreement it becomes; ``status`` says whether it may be used,
    ``settlement`` where its money is."""

    __tablename__ = "exchange_contract"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("exchange_listing.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("exchange_node.id"), index=True)
    # requested | offered | agreed | finalized | active | revoked | terminated | closed
    status: Mapped[str] = mapped_column(String(20), index=True)
    # none | escrow | accepted | disputed | settled | refunded
    settlement: Mapped[str] = mapped_column(String(20), default="none")
    delivery: Mapped[str] = mapped_column(String(20))  # copied from the listing
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # quantity × unit price, 分
    purpose: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(12))  # where the buyer uses the data
    valid_until: Mapped[date] = mapped_column(Date)
    call_limit: Mapped[int | None] = mapped_column(Integer)  # calls or queries, the whole term
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    last_offer_by: Mapped[str] = mapped_column(String(10))  # buyer | seller
    key_hash: Mapped[str] = mapped_column(String(64), default="")  # the delivery key, hashed
    reason: Mapped[str] = mapped_column(Text, default="")  # termination, revocation or dispute
    rating: Mapped[int | None] = mapped_column(Integer)
    review: Mapped[str] = mapped_column(Text, default="")
    ordered_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContractEvent(Base):
    """One step of a contract's life: each offer with its terms, each decision with its reason."""

    __tablename__ = "exchange_contract_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contract.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(10))  # buyer | seller | exchange
    terms: Mapped[str] = mapped_column(Text, default="")  # JSON, for offers
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContractDay(Base):
    """Delivery calls counted per contract and Beijing day (for daily limits)."""

    __tablename__ = "exchange_contract_day"

    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contract.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class DownloadLink(Base):
    """A time-limited link to a file delivery; each use is in the access log."""

    __tablename__ = "exchange_download_link"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contract.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SandboxQuery(Base):
    """Every sandbox query, allowed or refused (the SQL is kept: it is the buyer's, not the data)."""

    __tablename__ = "exchange_sandbox_query"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contract.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    sql: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))  # allowed | refused
    code: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
