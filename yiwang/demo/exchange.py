"""Demo exchange: 一所多基地多平台 (the exchange in 广州, bases in 佛山 and 东莞, a finance and a
transport platform), members with money in their accounts, listings of certified assets,
contracts in every state, and a sandbox product over public data (10,000 enterprise records)
held by ``demo-buyer`` — all through the service verbs, so it is audited like any change."""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yiwang.catalog import data as catalog_data
from yiwang.catalog import service as catalog
from yiwang.catalog.schemas import ResourceIn
from yiwang.exchange import service as exchange
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
from yiwang.identity import repository
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit import regions, workdays
from yiwang.kit.crypto import Keyring
from yiwang.kit.validators import make_uscc_from
from yiwang.registry import service as registry
from yiwang.registry.schemas import ApplicationIn, DecisionIn, ReportIn
from yiwang.sharing import service as sharing
from yiwang.sharing.schemas import RequestIn

DEMO_BUYER = "demo-buyer"
PUBLIC_ROWS = 10_000
OPERATOR_INSTITUTION = "440000-sjyy"
# (code, name, region, account, kind)
ORGS = [
    (
        make_uscc_from("9", "1", "440100", "MA5H0X001"),
        "广州数据交易所有限公司",
        "440100",
        "gzdex",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440600", "MA5H0X002"),
        "佛山数据交易服务基地",
        "440600",
        "base_fs",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "441900", "MA5H0X003"),
        "东莞数据交易服务基地",
        "441900",
        "base_dg",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440300", "MA5H0X004"),
        "金融数据专区运营有限公司",
        "440300",
        "plat_fin",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440100", "MA5H0X005"),
        "交通数据专区运营有限公司",
        "440100",
        "plat_trans",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440100", "MA5H0X006"),
        "广州示范数据应用科技有限公司",
        "440100",
        DEMO_BUYER,
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440600", "MA5H0X007"),
        "佛山智慧供应链金融有限公司",
        "440600",
        "buyer_fs",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440300", "MA5H0X008"),
        "深圳交通出行数据服务有限公司",
        "440300",
        "seller_trans",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "441900", "MA5H0X009"),
        "东莞制造业数据服务有限公司",
        "441900",
        "seller_mfg",
        "enterprise",
    ),
]
NODES = [
    ("GZ-EX", "广州数据交易所", "exchange", "440100", "", "gzdex", 0),
    ("FS-BASE", "佛山服务基地", "base", "440600", "", "base_fs", 100),
    ("DG-BASE", "东莞服务基地", "base", "441900", "", "base_dg", 100),
    ("FIN", "金融数据专区", "platform", "440000", "finance", "plat_fin", 50),
    ("TRANS", "交通数据专区", "platform", "440000", "transport", "plat_trans", 50),
]
OWN_FIELDS = [
    {"name": "uscc", "title": "统一社会信用代码", "format": "uscc", "key": True},
    {"name": "month", "title": "统计月份", "type": "date"},
    {"name": "industry", "title": "行业"},
    {"name": "index", "title": "指数", "type": "number"},
    {"name": "contact", "title": "联系人", "pi": "name"},
]
INDUSTRIES = ["制造业", "批发和零售业", "信息技术服务业", "交通运输业", "建筑业", "住宿和餐饮业"]


def build_exchange(
    session: Session,
    actor: Actor,
    keyring: Keyring,
    password: str,
    add_login: Callable[[str, str, str, str], None],
    *,
    suite: str = "standard",
    seed: int = 2026,
) -> None:
    rng = random.Random(seed)
    for code, name, region, username, kind in ORGS:
        identity.create_org(session, actor, code=code, name=name, parent=region, kind=kind)
        identity.create_user(
            session,
            actor,
            username=username,
            org_code=code,
            roles=["enterprise"],
            password=password,
            display_name=name,
        )
        add_login(username, name, code, "enterprise")
    identity.create_org(
        session,
        actor,
        code=OPERATOR_INSTITUTION,
        name="广东省公共数据运营中心",
        parent="440000",
        kind="department",
    )
    identity.create_user(
        session,
        actor,
        username="ops_public",
        org_code=OPERATOR_INSTITUTION,
        roles=["staff"],
        password=password,
        display_name="公共数据运营中心",
    )
    add_login("ops_public", "公共数据运营中心", OPERATOR_INSTITUTION, "staff")
    codes = {username: code for code, _n, _r, username, _k in ORGS}
    operator = _actor(session, "operator")
    for code, name, kind, region, sector, runner, fee in NODES:
        exchange.create_node(
            session,
            operator,
            NodeIn(
                code=code,
                name=name,
                kind=kind,
                region=region,
                sector=sector,
                operator=codes[runner],
                fee_bp=fee,
            ),
        )
    for username, node, roles in [
        (DEMO_BUYER, "GZ-EX", ["buyer"]),
        ("buyer_fs", "FS-BASE", ["buyer"]),
        ("seller_trans", "TRANS", ["seller", "buyer"]),
        ("seller_mfg", "DG-BASE", ["seller"]),
    ]:
        exchange.admit_member(session, operator, MemberIn(org=codes[username], node=node, roles=roles))
    exchange.admit_member(
        session, operator, MemberIn(org=OPERATOR_INSTITUTION, node="GZ-EX", roles=["seller", "merchant"])
    )
    for username, amount in [
        (DEMO_BUYER, 5_000_000_00),
        ("buyer_fs", 2_000_000_00),
        ("seller_trans", 500_000_00),
    ]:
        exchange.deposit(session, operator, codes[username], amount, "示范入金")
    today = workdays.beijing_today()
    _public_data_product(session, operator, keyring, rng, today)
    _own_data_market(session, operator, keyring, rng, today)


def _actor(session: Session, username: str) -> Actor:
    user = repository.user_by_username(session, username)
    assert user is not None, username
    return identity.actor_for_user(user)


def _certify(session: Session, keyring: Keyring, holder: str, name: str, kind: str, today: date) -> str:
    """One asset through the registry: applied 40 days ago, so its public notice has ended."""
    registrar, assessor = _actor(session, "operator"), _actor(session, "assessor")
    started = today - timedelta(days=40)
    application = registry.submit_application(
        session,
        _actor(session, holder),
        ApplicationIn(
            name=name,
            kind=kind,
            description=f"{name}（示范）",
            rights=["holding", "operating"] if kind == "data_product" else ["holding", "processing"],
            source="自有业务系统" if holder != "ops_public" else "公共数据授权运营",
            collection_method="系统自动采集",
            records=PUBLIC_ROWS,
            scenarios=["金融授信", "区域经济分析"],
            fingerprint=hashlib.sha256(name.encode()).hexdigest(),
        ),
        today=started,
    )
    registry.accept_application(session, registrar, application.id, DecisionIn(approve=True))
    registry.attach_report(
        session, assessor, application.id, ReportIn(opinion="pass", report="来源合法、权属清晰")
    )
    registry.decide_compliance(session, registrar, application.id, DecisionIn(approve=True), today=started)
    issued = registry.issue_due(session, registrar, keyring, today=today)
    return next(c.number for c in issued if c.application_id == application.id)


def _publish(session: Session, holder: str, data: ListingIn, rows: bytes | None = None) -> int:
    seller = _actor(session, holder)
    listing = exchange.create_listing(session, seller, data)
    if rows is not None:
        exchange.load_listing_data(session, seller, listing.id, io.BytesIO(rows), "data.csv")
    exchange.submit_listing(session, seller, listing.id)
    exchange.review_listing(
        session, _actor(session, "operator"), listing.id, ReviewIn(approve=True, reason="合规审核通过")
    )
    return listing.id


# ------------------------------------------------------------------ public data, sandbox


def _enterprise_rows(rng: random.Random) -> bytes:
    districts = [d for city in ("440100", "440300", "440600", "441900") for d in regions.children(city)[:6]]
    lines = ["uscc,name,district,industry,employees,capital,registered,legal_person"]
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
    for i in range(PUBLIC_ROWS):
        district = rng.choice(districts)
        lines.append(
            ",".join(
                [
                    make_uscc_from("9", "1", district[:6], f"MA{i:07d}"),
                    f"示范企业{i:05d}有限公司",
                    district,
                    rng.choice(INDUSTRIES),
                    str(rng.randrange(1, 2000)),
                    str(rng.randrange(10, 100_000)),
                    (date(2000, 1, 1) + timedelta(days=rng.randrange(9000))).isoformat(),
                    rng.choice(surnames) + rng.choice("伟芳娜秀英敏静丽强磊军洋"),
                ]
            )
        )
    return "\n".join(lines).encode()


PUBLIC_FIELDS: list[dict[str, Any]] = [
    {
        "name": "uscc",
        "title": "统一社会信用代码",
        "type": "string",
        "format": "uscc",
        "key": True,
        "required": True,
    },
    {"name": "name", "title": "企业名称", "type": "string", "required": True},
    {"name": "district", "title": "所在区县", "type": "string", "format": "region_code"},
    {"name": "industry", "title": "行业门类", "type": "string"},
    {"name": "employees", "title": "从业人数", "type": "integer"},
    {"name": "capital", "title": "注册资本（万元）", "type": "number"},
    {"name": "registered", "title": "成立日期", "type": "date"},
    {"name": "legal_person", "title": "法定代表人", "type": "string", "pi": "name"},
]


def _public_data_product(
    session: Session, operator: Actor, keyring: Keyring, rng: random.Random, today: date
) -> None:
    """公共数据授权运营: the operator institution's grant over 10,000 enterprise records, a
    certified product on it, sold only through the sandbox, and demo-buyer's active contract."""
    provider = _actor(session, "staff_440000_amr")
    resource = catalog.create_resource(
        session,
        provider,
        ResourceIn(
            name="市场主体经营概况（授权运营）",
            provider="440000-amr",
            summary="全省部分市场主体的行业、规模与成立时间，供公共数据授权运营在沙箱中聚合分析。",
            category="基础信息资源/法人单位",
            themes=["市场监管"],
            keywords=["企业", "市场主体", "授权运营"],
            format="table",
            share_type="unconditional",
            share_method="api",
            open_type="none",
            update_cycle="monthly",
            level="important",
            released=today.isoformat(),
            fields=PUBLIC_FIELDS,
        ),
    )
    catalog.submit_resource(session, provider, resource.code)
    catalog.review_resource(session, operator, resource.code, approve=True)
    catalog_data.load_data(
        session, operator, resource.code, io.BytesIO(_enterprise_rows(rng)), "enterprises.csv"
    )
    ops = _actor(session, "ops_public")
    request = sharing.submit_request(
        session,
        ops,
        RequestIn(
            resource=resource.code,
            fields=[f["name"] for f in PUBLIC_FIELDS],
            purpose="公共数据授权运营：区域企业经营分析产品（仅沙箱聚合输出）",
            basis="《广东省公共数据管理办法》第三十九条（授权运营）",
            valid_until=today + timedelta(days=360),
            system="ops-sandbox",
        ),
    )
    assert request.grant_id is not None
    number = _certify(session, keyring, "ops_public", "区域企业经营分析数据产品", "data_product", today)
    listing = _publish(
        session,
        "ops_public",
        ListingIn(
            node="GZ-EX",
            certificate=number,
            name="区域企业经营分析沙箱",
            description=(
                "在沙箱中对全省市场主体数据做聚合分析（按区县、行业、成立年份），"
                "原始数据不出域，每个输出分组至少 10 家企业。"
            ),
            scenario="区域经济分析、产业招商研判",
            sample="SELECT industry, COUNT(*), AVG(capital) FROM enterprises GROUP BY industry",
            price_model="subscription",
            price=2_000_000,
            delivery="sandbox",
            dataset=resource.code,
            table_name="enterprises",
            public_grants=[request.grant_id],
            policy={"purposes": ["区域经济分析", "产业研究"], "regions": ["440000"], "validity_days": 180},
        ),
    )
    exchange.place_order(
        session,
        _actor(session, DEMO_BUYER),
        OrderIn(listing=listing, purpose="区域经济分析", region="440100", pay=True),
    )


# ------------------------------------------------------------------ own data, contracts in every state


def _index_rows(rng: random.Random, n: int = 200) -> bytes:
    lines = ["uscc,month,industry,index,contact"]
    for i in range(n):
        lines.append(
            f"{make_uscc_from('9', '1', '440100', f'MB{i:07d}')},2026-{1 + i % 10:02d}-01,"
            f"{rng.choice(INDUSTRIES)},{rng.uniform(50, 150):.2f},"
            f"{rng.choice('王李张陈')}{rng.choice('伟芳娜强')}"
        )
    return "\n".join(lines).encode()


def _own_data_market(
    session: Session, operator: Actor, keyring: Keyring, rng: random.Random, today: date
) -> None:
    listings: dict[str, int] = {}
    for holder, name, node, delivery, model, price, units, purposes in [
        (
            "seller_trans",
            "城市通勤出行指数（接口）",
            "TRANS",
            "api",
            "per_call",
            50,
            None,
            ["交通规划", "商业选址"],
        ),
        (
            "seller_mfg",
            "制造业景气指数月报（文件）",
            "DG-BASE",
            "file",
            "one_time",
            300_000,
            20,
            ["产业研究", "信贷风控"],
        ),
        (
            "seller_mfg",
            "供应链企业经营指数（接口）",
            "FS-BASE",
            "api",
            "subscription",
            800_000,
            10,
            ["信贷风控"],
        ),
    ]:
        number = _certify(session, keyring, holder, name, "data_product", today)
        listings[name] = _publish(
            session,
            holder,
            ListingIn(
                node=node,
                certificate=number,
                name=name,
                description=f"{name}：按统一社会信用代码查询的月度指数（示范数据）。",
                scenario=purposes[0],
                price_model=model,
                price=price,
                units=units,
                delivery=delivery,
                fields=OWN_FIELDS,
                policy={"purposes": purposes, "regions": ["440000"], "validity_days": 365},
            ),
            _index_rows(rng),
        )
    buyer, buyer_fs = _actor(session, DEMO_BUYER), _actor(session, "buyer_fs")
    mfg, trans = _actor(session, "seller_mfg"), _actor(session, "seller_trans")
    api_calls, file_report, supply = listings.values()
    # Active: per-call API delivery, paid; a file delivery accepted, settled and rated.
    exchange.place_order(
        session,
        buyer,
        OrderIn(listing=api_calls, quantity=5000, purpose="商业选址", region="440100", pay=True),
    )
    settled = exchange.place_order(
        session, buyer_fs, OrderIn(listing=file_report, purpose="信贷风控", region="440600", pay=True)
    )
    exchange.accept_delivery(session, buyer_fs, settled.id)
    exchange.rate(session, buyer_fs, settled.id, RatingIn(rating=5, review="按时交付，质量好"))
    # Negotiation in each state: requested, offered, agreed, finalized, terminated.
    requested = exchange.place_order(
        session, buyer, OrderIn(listing=supply, purpose="信贷风控", region="440100", unit_price=600_000)
    )
    offered = exchange.place_order(
        session, buyer_fs, OrderIn(listing=supply, purpose="信贷风控", region="440600", unit_price=500_000)
    )
    valid = today + timedelta(days=300)
    exchange.counter_offer(
        session,
        mfg,
        offered.id,
        TermsIn(quantity=1, unit_price=700_000, valid_until=valid, note="含季度更新"),
    )
    agreed = exchange.place_order(
        session,
        _actor(session, "seller_trans"),
        OrderIn(listing=supply, purpose="信贷风控", region="440300", unit_price=750_000),
    )
    exchange.agree(session, mfg, agreed.id)
    exchange.place_order(
        session, buyer, OrderIn(listing=file_report, purpose="产业研究", region="440100")
    )  # finalized, unpaid
    ended = exchange.place_order(
        session, buyer, OrderIn(listing=supply, purpose="信贷风控", region="440100", unit_price=100_000)
    )
    exchange.terminate(session, mfg, ended.id, "报价低于成本")
    # A dispute refunded, a dispute pending, a contract revoked.
    refunded = exchange.place_order(
        session,
        buyer_fs,
        OrderIn(listing=api_calls, quantity=1000, purpose="商业选址", region="440600", pay=True),
    )
    exchange.dispute(session, buyer_fs, refunded.id, "接口返回数据与样例不符")
    exchange.decide_dispute(
        session, operator, refunded.id, DisputeDecisionIn(refund=True, reason="卖方数据缺失，退款")
    )
    pending = exchange.place_order(
        session, buyer, OrderIn(listing=file_report, purpose="信贷风控", region="440100", pay=True)
    )
    exchange.dispute(session, buyer, pending.id, "文件缺少上月数据")
    revoked = exchange.place_order(
        session,
        buyer_fs,
        OrderIn(listing=api_calls, quantity=100, purpose="交通规划", region="440600", pay=True),
    )
    exchange.revoke_contract(session, trans, revoked.id, "买方违反禁止转售条款")
    assert requested.status == "requested"
