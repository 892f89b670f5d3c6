"""Authorised operation of public data (公共数据授权运营) and the sandbox (可用不可见), through
the API: the operator institution's product rests on its sharing grant, leaves only as
aggregates over at least k records, and stops when the grant is revoked."""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from tests.catalog.conftest import resource_data
from tests.conftest import PASSWORD
from tests.exchange.conftest import Market, uscc
from yiwang.app import create_app
from yiwang.catalog import data as catalog_data
from yiwang.catalog import service as catalog
from yiwang.catalog.schemas import ResourceIn
from yiwang.exchange import service
from yiwang.exchange.errors import ListingRefused
from yiwang.exchange.schemas import ListingIn, MemberIn, OrderIn, ReviewIn
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit import workdays
from yiwang.registry import service as registry
from yiwang.registry.schemas import ApplicationIn, DecisionIn, ReportIn
from yiwang.sharing import service as sharing
from yiwang.sharing.schemas import RequestIn

OPS = "440000-yyzx"
DISTRICTS = ["440103", "440104", "440105", "440106", "440111"]
ROWS = 300


def enterprises_csv() -> bytes:
    lines = ["uscc,name,legal_person,registered,district,capital"]
    for i in range(ROWS):
        # 440111 gets only a handful of records: a group below k.
        district = DISTRICTS[4] if i % 60 == 0 else DISTRICTS[i % 4]
        lines.append(f"{uscc(i)},企业{i},王{'一二三'[i % 3]},2020-01-{1 + i % 28:02d},{district},{100 + i}")
    return "\n".join(lines).encode()


class PublicData:
    def __init__(self, market: Market) -> None:
        self.market = market
        p = market.platform
        system = Actor.system()
        with p.session_scope() as db:
            identity.create_org(
                db, system, code=OPS, name="广东省公共数据运营中心", parent="440000", kind="department"
            )
            identity.create_user(db, system, username="ops", org_code=OPS, roles=["staff"], password=PASSWORD)
            service.admit_member(
                db, market.actor("operator"), MemberIn(org=OPS, node="GZ-EX", roles=["seller"])
            )
        fields = resource_data()["fields"] + [
            {"name": "district", "title": "所在区", "type": "string", "format": "region_code"},
            {"name": "capital", "title": "注册资本", "type": "number"},
        ]
        with p.session_scope() as db:
            staff = market.actor("gz_staff")
            made = catalog.create_resource(
                db, staff, ResourceIn(**resource_data(share_type="unconditional", fields=fields))
            )
            catalog.submit_resource(db, staff, made.code)
            catalog.review_resource(db, market.actor("gz_cdo"), made.code, approve=True, reason="")
            self.code = made.code
        with p.session_scope() as db:
            catalog_data.load_data(
                db, market.actor("gz_staff"), self.code, io.BytesIO(enterprises_csv()), "e.csv"
            )
        with p.session_scope() as db:
            req = sharing.submit_request(
                db,
                market.actor("ops"),
                RequestIn(
                    resource=self.code,
                    fields=[f["name"] for f in fields],
                    purpose="公共数据授权运营：企业经营分析产品",
                    basis="《广东省公共数据管理办法》",
                    valid_until=workdays.beijing_today() + timedelta(days=300),
                    system="ops-sandbox",
                ),
            )
            assert req.grant_id is not None
            self.grant = req.grant_id
        self.certificate = self._certify()

    def _certify(self) -> str:
        m, today = self.market, date(2025, 9, 29)
        with m.platform.session_scope() as db:
            application = registry.submit_application(
                db,
                m.actor("ops"),
                ApplicationIn(
                    name="企业经营分析数据产品",
                    kind="data_product",
                    description="基于企业登记信息的区域经营分析（仅聚合输出）",
                    rights=["operating"],
                    source="公共数据授权运营",
                    collection_method="共享授权",
                    scenarios=["区域经济分析"],
                    fingerprint=hashlib.sha256(b"product v1").hexdigest(),
                ),
                today=today,
            )
            registry.accept_application(db, m.actor("operator"), application.id, DecisionIn(approve=True))
            registry.attach_report(
                db, m.actor("assessor"), application.id, ReportIn(opinion="pass", report="合规")
            )
            registry.decide_compliance(
                db, m.actor("operator"), application.id, DecisionIn(approve=True), today=today
            )
            assert application.notice_end is not None
            issued = registry.issue_due(
                db, m.actor("operator"), m.platform.keyring, today=application.notice_end + timedelta(days=1)
            )
            return issued[0].number

    def listing(self, **overrides: Any) -> ListingIn:
        data: dict[str, Any] = {
            "node": "GZ-EX",
            "certificate": self.certificate,
            "name": "区域企业经营分析沙箱",
            "description": "在沙箱中对全市企业登记数据做聚合分析，原始数据不出域",
            "scenario": "区域经济分析",
            "price_model": "subscription",
            "price": 500_000,
            "delivery": "sandbox",
            "dataset": self.code,
            "table_name": "enterprises",
            "public_grants": [self.grant],
            "policy": {"purposes": ["区域经济分析"], "regions": ["440000"], "validity_days": 365},
        }
        data.update(overrides)
        return ListingIn(**data)

    def contract(self) -> int:
        m = self.market
        with m.platform.session_scope() as db:
            listing = service.create_listing(db, m.actor("ops"), self.listing())
            service.submit_listing(db, m.actor("ops"), listing.id)
            service.review_listing(db, m.actor("operator"), listing.id, ReviewIn(approve=True))
            contract = service.place_order(
                db,
                m.actor("buyer"),
                OrderIn(listing=listing.id, purpose="区域经济分析", region="440100", pay=True),
            )
            return contract.id


@pytest.fixture
def public(market: Market) -> PublicData:
    return PublicData(market)


@pytest.fixture
def client(market: Market) -> TestClient:
    return TestClient(create_app(market.platform))


@pytest.fixture
def buyer_auth(market: Market) -> dict[str, str]:
    return {"Authorization": f"Bearer {market.province.token('buyer')}"}


class TestPublicDataListing:
    def test_raw_delivery_of_public_data_is_refused(self, public: PublicData) -> None:
        m = public.market
        with m.platform.session_scope() as db, pytest.raises(ListingRefused) as refused:
            service.create_listing(db, m.actor("ops"), public.listing(delivery="api"))
        assert refused.value.code == "raw_public_data"

    def test_a_product_must_rest_on_the_sellers_own_grant(self, public: PublicData) -> None:
        m = public.market
        with m.platform.session_scope() as db, pytest.raises(ListingRefused) as refused:
            service.create_listing(db, m.actor("ops"), public.listing(public_grants=[]))
        assert refused.value.code == "grant_required"
        with m.platform.session_scope() as db, pytest.raises(ListingRefused) as refused:
            service.create_listing(db, m.actor("ops"), public.listing(public_grants=[public.grant + 99]))
        assert "不存在" in refused.value.message


class TestSandbox:
    def test_schema_and_an_aggregate_matching_duckdb(
        self, public: PublicData, client: TestClient, buyer_auth: dict[str, str]
    ) -> None:
        contract = public.contract()
        schema = client.get(
            "/api/v1/exchange/sandbox/schema", params={"contract": contract}, headers=buyer_auth
        )
        assert schema.status_code == 200, schema.text
        body = schema.json()
        assert body["k"] == 10
        assert body["tables"][0]["name"] == "enterprises"
        assert {"name": "capital", "type": "DOUBLE"} in body["tables"][0]["columns"]
        sql = (
            "SELECT district, COUNT(*) AS n, AVG(capital) AS avg_capital FROM enterprises"
            " GROUP BY district ORDER BY district"
        )
        answer = client.post(
            "/api/v1/exchange/sandbox/query", json={"contract": contract, "sql": sql}, headers=buyer_auth
        )
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["suppressed"] == 1  # 440111 has 5 records
        # The same over the same data, straight in DuckDB, keeping groups of at least k.
        con = duckdb.connect()
        con.execute("CREATE TABLE enterprises (district VARCHAR, capital DOUBLE)")
        rows = [line.split(",") for line in enterprises_csv().decode().splitlines()[1:]]
        con.executemany("INSERT INTO enterprises VALUES (?, ?)", [(r[4], float(r[5])) for r in rows])
        expected = con.execute(
            "SELECT district, COUNT(*), AVG(capital) FROM enterprises"
            " GROUP BY district HAVING COUNT(*) >= 10 ORDER BY district"
        ).fetchall()
        assert [tuple(r) for r in got["rows"]] == [(d, n, pytest.approx(a)) for d, n, a in expected]

    @pytest.mark.parametrize(
        ("sql", "code"),
        [
            ("SELECT * FROM enterprises", "raw_rows"),
            ("SELECT uscc FROM enterprises", "raw_rows"),
            ("SELECT legal_person, COUNT(*) FROM enterprises GROUP BY legal_person", "personal_data"),
            ("DROP TABLE enterprises", "not_select"),
            ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", "forbidden_function"),
        ],
    )
    def test_raw_rows_and_tricks_are_refused_and_logged(
        self, public: PublicData, client: TestClient, buyer_auth: dict[str, str], sql: str, code: str
    ) -> None:
        contract = public.contract()
        answer = client.post(
            "/api/v1/exchange/sandbox/query", json={"contract": contract, "sql": sql}, headers=buyer_auth
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == code
        log = client.get(
            "/api/v1/exchange/sandbox/queries", params={"contract": contract}, headers=buyer_auth
        ).json()
        assert log[0]["outcome"] == "refused"
        assert log[0]["code"] == code

    def test_single_record_groups_are_suppressed(
        self, public: PublicData, client: TestClient, buyer_auth: dict[str, str]
    ) -> None:
        contract = public.contract()
        sql = "SELECT uscc, MIN(capital) FROM enterprises GROUP BY uscc"
        answer = client.post(
            "/api/v1/exchange/sandbox/query", json={"contract": contract, "sql": sql}, headers=buyer_auth
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["rows"] == []
        assert answer.json()["suppressed"] == ROWS

    def test_a_revoked_grant_stops_the_product(
        self, public: PublicData, client: TestClient, buyer_auth: dict[str, str]
    ) -> None:
        contract = public.contract()
        sql = {"contract": contract, "sql": "SELECT COUNT(*) FROM enterprises"}
        assert client.post("/api/v1/exchange/sandbox/query", json=sql, headers=buyer_auth).json()["rows"] == [
            [ROWS]
        ]
        with public.market.platform.session_scope() as db:
            sharing.revoke_grant(db, public.market.actor("gz_cdo"), public.grant, "授权运营协议终止")
        refused = client.post("/api/v1/exchange/sandbox/query", json=sql, headers=buyer_auth)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "grant_not_active"

    def test_another_member_cannot_use_the_contract(
        self, public: PublicData, client: TestClient, market: Market
    ) -> None:
        contract = public.contract()
        other = {"Authorization": f"Bearer {market.province.token('buyer_sz')}"}
        answer = client.post(
            "/api/v1/exchange/sandbox/query",
            json={"contract": contract, "sql": "SELECT COUNT(*) FROM enterprises"},
            headers=other,
        )
        assert answer.status_code == 404
