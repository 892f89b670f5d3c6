"""The exchange's JSON shapes. Money is in 分 (integers); dates are Beijing dates."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from yiwang.catalog.schemas import FieldIn

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$|^\d{9}$")]
Purpose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Fen = Annotated[int, Field(ge=0, le=10**13)]
RowId = Annotated[int, Field(ge=1, le=2_147_483_647)]  # ids in bodies: bounded, never a database overflow
NodeKind = Literal["exchange", "base", "platform"]
MemberRole = Literal["seller", "buyer", "merchant", "assessor"]
PriceModel = Literal["one_time", "subscription", "per_call"]
Delivery = Literal["api", "file", "sandbox"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeIn(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$")]
    name: Short
    kind: NodeKind
    region: RegionCode
    sector: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    operator: Code = Field(description="运营该节点的单位代码")
    fee_bp: Annotated[int, Field(ge=0, le=2000, description="节点服务费（万分比）")] = 0


class MemberIn(Strict):
    org: Code
    node: Code
    roles: Annotated[list[MemberRole], Field(min_length=1, max_length=4)]


class PolicyIn(Strict):
    """The usage policy in plain fields; stored and shown as an ODRL offer."""

    purposes: Annotated[list[Purpose], Field(min_length=1, max_length=20)]
    regions: Annotated[list[RegionCode], Field(min_length=1, max_length=50)] = ["440000"]
    validity_days: Annotated[int, Field(ge=1, le=3650)] = 365
    call_limit: Annotated[int | None, Field(ge=1, le=10**9)] = None
    daily_limit: Annotated[int | None, Field(ge=1, le=10**8)] = None
    no_resale: bool = True


class ListingIn(Strict):
    node: Code
    certificate: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    name: Short
    description: Text
    scenario: Text = Field(description="应用场景（无场景不登记）")
    sample: Annotated[str, StringConstraints(max_length=20000)] = ""
    price_model: PriceModel
    price: Fen = Field(description="单价（分）：每份、每月或每次")
    units: Annotated[int | None, Field(ge=1, le=10**6)] = None
    delivery: Delivery
    dataset: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] = Field(
        "", description="公共数据产品：所依托的目录资源代码"
    )
    fields: Annotated[list[FieldIn], Field(max_length=200)] = Field(
        default_factory=list, description="自有数据：数据表的信息项"
    )
    table_name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = "data"
    k: Annotated[int, Field(ge=2, le=10000)] = 10
    public_grants: Annotated[list[RowId], Field(max_length=20)] = Field(default_factory=list)
    policy: PolicyIn


class ReviewIn(Strict):
    approve: bool
    reason: OptionalText = ""


class ReasonIn(Strict):
    reason: Text


class OrderIn(Strict):
    listing: RowId
    quantity: Annotated[int, Field(ge=1, le=10**6)] = 1
    purpose: Purpose
    region: RegionCode
    valid_until: date | None = None
    unit_price: Fen | None = Field(None, description="还价（分）；留空按挂牌价")
    call_limit: Annotated[int | None, Field(ge=1, le=10**9)] = None
    pay: bool = Field(False, description="按挂牌条件直接成交并付款")


class TermsIn(Strict):
    """A counter-offer: the terms the side proposes."""

    quantity: Annotated[int, Field(ge=1, le=10**6)]
    unit_price: Fen
    valid_until: date
    call_limit: Annotated[int | None, Field(ge=1, le=10**9)] = None
    note: OptionalText = ""


class DisputeDecisionIn(Strict):
    refund: bool
    reason: Text


class RatingIn(Strict):
    rating: Annotated[int, Field(ge=1, le=5)]
    review: OptionalText = ""


class DepositIn(Strict):
    org: Code
    amount: Annotated[int, Field(ge=1, le=10**12)]
    memo: OptionalText = ""


class SandboxQueryIn(Strict):
    contract: RowId
    sql: Annotated[str, StringConstraints(min_length=1, max_length=20000)]
