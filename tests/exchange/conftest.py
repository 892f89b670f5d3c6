"""A small market: the exchange in 广州, a base in 佛山 and a finance platform; a seller with a
registered, certified asset and its own data; buyers with money in their accounts."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest

from tests.conftest import PASSWORD, Province
from tests.registry.test_registry import HOLDER, Registry
from yiwang.exchange import service
from yiwang.exchange.schemas import ListingIn, MemberIn, NodeIn
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit.validators import make_uscc_from
from yiwang.runtime import Platform

BUYER = make_uscc_from("9", "1", "440100", "MA5E10001")
BUYER_SZ = make_uscc_from("9", "1", "440300", "MA5E10002")
FS_BASE = make_uscc_from("9", "1", "440600", "MA5E10003")
FIELDS = [
    {"name": "uscc", "title": "统一社会信用代码", "format": "uscc", "key": True},
    {"name": "industry", "title": "行业"},
    {"name": "kwh", "title": "月用电量", "type": "number"},
    {"name": "contact", "title": "联系人", "pi": "name"},
]
INDUSTRIES = ["制造业", "批发零售", "信息技术"]


def uscc(i: int) -> str:
    return make_uscc_from("9", "1", "440100", f"MA5F{i:05d}")


def csv_rows(n: int) -> bytes:
    lines = ["uscc,industry,kwh,contact"]
    lines += [f"{uscc(i)},{INDUSTRIES[i % 3]},{1000 + i * 10},张{'三四五'[i % 3]}" for i in range(n)]
    return "\n".join(lines).encode()


def listing_in(certificate: str, **overrides: Any) -> ListingIn:
    data: dict[str, Any] = {
        "node": "FS-BASE",
        "certificate": certificate,
        "name": "工商业用户月度用电指数",
        "description": "广州市工商业用户的月度用电量，按统一社会信用代码查询",
        "scenario": "企业信用评估",
        "price_model": "one_time",
        "price": 100_000,
        "delivery": "api",
        "fields": FIELDS,
        "policy": {"purposes": ["信贷风控", "企业信用评估"], "regions": ["440100"], "validity_days": 365},
    }
    data.update(overrides)
    return ListingIn(**data)


class Market:
    def __init__(self, platform: Platform, province: Province) -> None:
        self.platform, self.province = platform, province
        self.registry = Registry(platform, province)
        system = Actor.system()
        with platform.session_scope() as db:
            for code, name, parent in [
                (BUYER, "广州某金融科技有限公司", "440100"),
                (BUYER_SZ, "深圳某征信有限公司", "440300"),
                (FS_BASE, "佛山数据交易服务基地运营有限公司", "440100"),
            ]:
                identity.create_org(db, system, code=code, name=name, parent=parent, kind="enterprise")
            for username, org in [("buyer", BUYER), ("buyer_sz", BUYER_SZ), ("fs_base", FS_BASE)]:
                identity.create_user(
                    db, system, username=username, org_code=org, roles=["enterprise"], password=PASSWORD
                )
            operator = province.actor("operator")
            service.create_node(
                db,
                operator,
                NodeIn(
                    code="GZ-EX",
                    name="广州数据交易所",
                    kind="exchange",
                    region="440100",
                    operator="440000-zsj",
                ),
            )
            service.create_node(
                db,
                operator,
                NodeIn(
                    code="FS-BASE",
                    name="佛山服务基地",
                    kind="base",
                    region="440600",
                    operator=FS_BASE,
                    fee_bp=100,
                ),
            )
            service.create_node(
                db,
                operator,
                NodeIn(
                    code="FIN",
                    name="金融数据专区",
                    kind="platform",
                    region="440000",
                    sector="finance",
                    operator="440000-zsj",
                    fee_bp=50,
                ),
            )
            service.admit_member(db, operator, MemberIn(org=HOLDER, node="FS-BASE", roles=["seller"]))
            service.admit_member(db, operator, MemberIn(org=BUYER, node="GZ-EX", roles=["buyer"]))
            service.admit_member(db, operator, MemberIn(org=BUYER_SZ, node="FIN", roles=["buyer"]))
            service.deposit(db, operator, BUYER, 10_000_000)
            service.deposit(db, operator, BUYER_SZ, 10_000_000)

    def actor(self, username: str) -> Actor:
        return self.province.actor(username)

    def certificate(self) -> str:
        return self.registry.certificate(today=date(2025, 9, 29))

    def published(self, rows: int = 40, **overrides: Any) -> int:
        """A certified asset, listed with its data, reviewed and published; returns the listing id."""
        number = self.certificate()
        with self.platform.session_scope() as db:
            listing = service.create_listing(db, self.actor("holder"), listing_in(number, **overrides))
            if not listing.dataset:
                service.load_listing_data(
                    db, self.actor("holder"), listing.id, io.BytesIO(csv_rows(rows)), "data.csv"
                )
            service.submit_listing(db, self.actor("holder"), listing.id)
            from yiwang.exchange.schemas import ReviewIn

            service.review_listing(db, self.actor("operator"), listing.id, ReviewIn(approve=True))
            return listing.id


@pytest.fixture
def market(platform: Platform, province: Province) -> Market:
    return Market(platform, province)
