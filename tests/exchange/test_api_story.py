"""The whole story through the REST API, as a seller's and a buyer's systems would drive it:
list → order → negotiate → pay → deliver → accept → settle → rate, with the trial balance
checked after every step, and the market's refusals as JSON errors naming the rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.exchange.conftest import FIELDS, Market, csv_rows, uscc
from yiwang.app import create_app
from yiwang.kit import workdays


class Api:
    def __init__(self, market: Market) -> None:
        self.client = TestClient(create_app(market.platform))
        self.tokens = {u: market.province.token(u) for u in ("holder", "buyer", "operator", "auditor")}

    def call(self, method: str, path: str, who: str, **kw: Any) -> Any:
        answer = self.client.request(
            method, path, headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kw
        )
        return answer

    def ok(self, method: str, path: str, who: str, **kw: Any) -> Any:
        answer = self.call(method, path, who, **kw)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def balanced(self) -> None:
        books = self.ok("GET", "/api/v1/exchange/ledger/check", "auditor")
        assert books["balanced"], books
        assert books["total"] == 0


@pytest.fixture
def api(market: Market) -> Api:
    return Api(market)


def test_the_story_through_the_api(market: Market, api: Api) -> None:
    number = market.certificate()
    listing = api.ok(
        "POST",
        "/api/v1/exchange/listings",
        "holder",
        json={
            "node": "FS-BASE",
            "certificate": number,
            "name": "工商业用户月度用电指数",
            "description": "按统一社会信用代码查询的月度用电量",
            "scenario": "企业信用评估",
            "price_model": "one_time",
            "price": 100_000,
            "delivery": "api",
            "fields": FIELDS,
            "policy": {"purposes": ["信贷风控"], "regions": ["440100"]},
        },
    )
    lid = listing["id"]
    assert listing["status"] == "draft"
    assert listing["policy"]["@type"] == "Offer"
    loaded = api.ok(
        "POST", f"/api/v1/exchange/listings/{lid}/data", "holder", files={"file": ("d.csv", csv_rows(30))}
    )
    assert loaded["rows"] == 30
    assert api.ok("POST", f"/api/v1/exchange/listings/{lid}/submit", "holder")["status"] == "submitted"
    published = api.ok("POST", f"/api/v1/exchange/listings/{lid}/review", "operator", json={"approve": True})
    assert published["status"] == "published"
    found = api.client.get("/api/v1/exchange/listings", params={"q": "用电"}).json()
    assert [x["id"] for x in found["listings"]] == [lid]
    assert found["facets"]["node"] == {"FS-BASE": 1}
    api.balanced()

    contract = api.ok(
        "POST",
        "/api/v1/exchange/orders",
        "buyer",
        json={"listing": lid, "purpose": "信贷风控", "region": "440106", "unit_price": 80_000},
    )
    cid = contract["id"]
    assert contract["status"] == "requested"
    valid = (workdays.beijing_today() + timedelta(days=100)).isoformat()
    offered = api.ok(
        "POST",
        f"/api/v1/exchange/contracts/{cid}/offer",
        "holder",
        json={"quantity": 1, "unit_price": 90_000, "valid_until": valid},
    )
    assert offered["status"] == "offered"
    assert api.call("POST", f"/api/v1/exchange/contracts/{cid}/pay", "buyer").status_code == 409
    assert api.ok("POST", f"/api/v1/exchange/contracts/{cid}/agree", "buyer")["status"] == "agreed"
    assert api.ok("POST", f"/api/v1/exchange/contracts/{cid}/finalize", "holder")["status"] == "finalized"
    api.balanced()
    paid = api.ok("POST", f"/api/v1/exchange/contracts/{cid}/pay", "buyer")
    assert (paid["status"], paid["settlement"], paid["amount"]) == ("active", "escrow", 90_000)
    api.balanced()

    records = api.client.get(
        f"/gateway/v1/contracts/{cid}/records",
        params={"uscc": uscc(7)},
        headers={"Authorization": f"Bearer {paid['key']}"},
    )
    assert records.status_code == 200, records.text
    assert records.json()["records"][0]["contact"].endswith("*")

    settled = api.ok("POST", f"/api/v1/exchange/contracts/{cid}/accept", "buyer")
    assert settled["settlement"] == "settled"
    api.balanced()
    rated = api.ok("POST", f"/api/v1/exchange/contracts/{cid}/rating", "buyer", json={"rating": 4})
    assert rated["rating"] == 4
    detail = api.ok("GET", f"/api/v1/exchange/contracts/{cid}", "holder")
    assert [e["action"] for e in detail["events"]] == [
        "request",
        "offer",
        "agree",
        "finalize",
        "pay",
        "accept",
        "settle",
        "rate",
    ]
    seller = api.ok("GET", f"/api/v1/exchange/accounts/{detail['seller']}", "holder")
    assert seller["balance"] == 90_000 - 90_000 * 200 // 10_000 - 90_000 * 100 // 10_000

    # A second listing of the same certificate, elsewhere: refused with the rule.
    again = api.call(
        "POST",
        "/api/v1/exchange/listings",
        "holder",
        json={
            **{
                k: listing[k]
                for k in (
                    "certificate",
                    "name",
                    "description",
                    "scenario",
                    "price_model",
                    "price",
                    "delivery",
                )
            },
            "node": "FIN",
            "fields": FIELDS,
            "policy": {"purposes": ["信贷风控"]},
        },
    )
    second = again.json()["id"]
    api.ok(
        "POST", f"/api/v1/exchange/listings/{second}/data", "holder", files={"file": ("d.csv", csv_rows(3))}
    )
    refused = api.call("POST", f"/api/v1/exchange/listings/{second}/submit", "holder")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "already_listed"


def test_refusals_are_json_errors_naming_the_rule(market: Market, api: Api) -> None:
    unregistered = api.call(
        "POST",
        "/api/v1/exchange/listings",
        "holder",
        json={
            "node": "FS-BASE",
            "certificate": "GD-DA-2025-000999",
            "name": "x",
            "description": "x",
            "scenario": "x",
            "price_model": "one_time",
            "price": 1,
            "delivery": "api",
            "fields": FIELDS,
            "policy": {"purposes": ["x"]},
        },
    )
    assert unregistered.status_code == 422
    assert unregistered.json()["error"]["code"] == "not_registered"
    bad = api.call(
        "POST", "/api/v1/exchange/orders", "buyer", json={"listing": 1, "purpose": "", "region": "4401"}
    )
    assert bad.status_code == 422
    assert api.call("GET", "/api/v1/exchange/ledger/check", "buyer").status_code == 403
    lid = market.published()
    sold = api.ok(
        "POST",
        "/api/v1/exchange/orders",
        "buyer",
        json={"listing": lid, "purpose": "信贷风控", "region": "440106", "pay": True},
    )
    assert sold["key"].startswith(f"yx_{sold['id']}_")
    api.balanced()
