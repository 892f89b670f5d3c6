"""The exchange's pages through the app, signed in through the login form: the market and its
search, a listing's policy, the seller's and the exchange's forms, the whole click path from order
through negotiation and payment to acceptance, the sandbox console, who may see a contract, and the
English switch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.exchange.conftest import FIELDS, Market, csv_rows
from tests.exchange.test_public_data import PublicData
from tests.web.test_pages import HTML, csrf, login
from yiwang.app import create_app
from yiwang.exchange.models import Contract, Listing
from yiwang.kit import ledger

CONTRACT_URL = re.compile(r"^/exchange/contracts/(\d+)\?done=(\w+)$")


@pytest.fixture
def app(market: Market) -> Any:
    return create_app(market.platform)


def signed_in(app: Any, username: str) -> TestClient:
    client = TestClient(app, headers=HTML)
    assert login(client, username).status_code == 303
    return client


@pytest.fixture
def visitor(app: Any) -> Iterator[TestClient]:
    with TestClient(app, headers=HTML) as c:
        yield c


@pytest.fixture
def buyer(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "buyer") as c:
        yield c


@pytest.fixture
def seller(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "holder") as c:
        yield c


@pytest.fixture
def operator(app: Any) -> Iterator[TestClient]:
    with signed_in(app, "operator") as c:
        yield c


def post_from(client: TestClient, page_url: str, action: str, data: dict[str, Any], **kw: Any) -> Response:
    """Post a form the way a browser does: with the CSRF token of the page that shows it."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf_token": csrf(page)}, follow_redirects=False, **kw)


def state(page: Response) -> str:
    """The contract's status as its page shows it (the badge under the title)."""
    found = re.search(
        r'<p class="muted contract-state"><span class="status status-contract-(\w+)">', page.text
    )
    assert found, page.text
    return found.group(1)


def contracts(market: Market) -> list[Contract]:
    with market.platform.session_scope(read_only=True) as db:
        return list(db.query(Contract).order_by(Contract.id))


def books_balance(market: Market) -> None:
    with market.platform.session_scope(read_only=True) as db:
        assert ledger.check_books(db).balanced


def order(buyer: TestClient, listing: int, **data: Any) -> Response:
    form = {"quantity": "1", "purpose": "信贷风控", "region": "440106", **data}
    url = f"/exchange/listings/{listing}"
    return post_from(buyer, url, f"{url}/order", form)


class TestMarket:
    def test_the_home_lists_published_products_and_the_nodes(
        self, market: Market, visitor: TestClient
    ) -> None:
        listing = market.published()
        page = visitor.get("/exchange")
        assert page.status_code == 200, page.text
        assert f'href="/exchange/listings/{listing}"' in page.text
        assert "工商业用户月度用电指数" in page.text
        assert "¥1,000.00" in page.text  # 100 000 分, in 元
        assert "一次性买断" in page.text
        assert "接口交付" in page.text
        # 一所多基地多平台: the exchange, its base and its platform
        for name in ("广州数据交易所", "佛山服务基地", "金融数据专区", "一所多基地多平台"):
            assert name in page.text
        assert 'data-facet="node"' in page.text

    def test_search_finds_a_word_inside_a_longer_word_and_pinyin(
        self, market: Market, visitor: TestClient
    ) -> None:
        listing = market.published()
        link = f'href="/exchange/listings/{listing}"'
        for q in ("用电", "ydzs"):  # inside 用电指数; the initials of 用电指数
            assert link in visitor.get("/exchange", params={"q": q}).text, q
        missing = visitor.get("/exchange", params={"q": "医保结算"})
        assert link not in missing.text
        assert "没有找到" in missing.text
        assert link not in visitor.get("/exchange", params={"delivery": "sandbox"}).text
        assert link in visitor.get("/exchange", params={"node": "FS-BASE", "delivery": "api"}).text

    def test_odd_input_and_signed_out_visitors(self, market: Market, visitor: TestClient) -> None:
        market.published()
        for params in (
            {"q": "\"'*)(OR"},
            {"q": "x" * 500},
            {"node": "NOPE", "page": "99999"},
            {"page": "-1"},
        ):
            page = visitor.get("/exchange", params=params)
            assert page.status_code == 200, params
        assert visitor.get("/exchange/listings/999").status_code == 404
        for path in ("/exchange/contracts", "/exchange/sell", "/exchange/account", "/exchange/review"):
            moved = visitor.get(path, follow_redirects=False)
            assert moved.status_code == 303
            assert moved.headers["location"].startswith("/login?next=")


class TestListingPage:
    def test_the_policy_in_plain_chinese_and_as_odrl(self, market: Market, visitor: TestClient) -> None:
        listing = market.published()
        with market.platform.session_scope(read_only=True) as db:
            number = db.get(Listing, listing).certificate  # type: ignore[union-attr]
        page = visitor.get(f"/exchange/listings/{listing}")
        assert page.status_code == 200, page.text
        policy = page.text.split('id="policy"', 1)[1]
        for text in ("信贷风控、企业信用评估", "广州市（440100）", "自签约起最长 365 天", "禁止转售"):
            assert text in policy, text
        assert "&#34;@type&#34;: &#34;Offer&#34;" in policy  # the raw ODRL, escaped, in <details>
        assert f'href="/registry/certificates/{number}"' in page.text
        assert "统一社会信用代码" in page.text  # its fields
        assert "登录后下单" in page.text  # no order form for visitors

    def test_order_form_errors_name_the_field_and_change_nothing(
        self, market: Market, buyer: TestClient
    ) -> None:
        listing = market.published()
        assert 'action="/exchange/listings/' in buyer.get(f"/exchange/listings/{listing}").text
        wrong = order(buyer, listing, purpose="精准营销", unit_price="abc")
        assert wrong.status_code == 422
        assert "还价单价应为金额" in wrong.text
        wrong = order(buyer, listing, purpose="精准营销")
        assert wrong.status_code == 422
        assert "用途“精准营销”不在许可用途内" in wrong.text
        wrong = order(buyer, listing, region="440300")  # 深圳 is outside 广州
        assert wrong.status_code == 422
        assert "不在许可区域" in wrong.text
        assert 'value="440300"' in wrong.text  # what was typed is kept
        wrong = order(buyer, listing, unit_price="800", pay="1")
        assert wrong.status_code == 422
        assert "须待卖方同意后再付款" in wrong.text
        assert contracts(market) == []


class TestSellAndReview:
    def test_a_listing_from_the_form_to_the_market(
        self, market: Market, seller: TestClient, operator: TestClient
    ) -> None:
        number = market.certificate()
        form = {
            "certificate": number,
            "node": "FS-BASE",
            "name": "企业用电景气指数",
            "description": "按行业汇总的月度用电量",
            "scenario": "",
            "price_model": "subscription",
            "price": "1,234.5",
            "delivery": "api",
            "source": "own",
            "fields": json.dumps(FIELDS, ensure_ascii=False),
            "purposes": "行业分析\n信贷风控",
            "regions": "440000",
            "validity_days": "180",
            "no_resale": "1",
        }
        missing = post_from(seller, "/exchange/sell", "/exchange/sell", form)
        assert missing.status_code == 422
        assert "请填写应用场景（无场景不登记）" in missing.text
        assert "企业用电景气指数" in missing.text  # kept
        created = post_from(seller, "/exchange/sell", "/exchange/sell", {**form, "scenario": "行业景气分析"})
        assert created.status_code == 303, created.text
        with market.platform.session_scope(read_only=True) as db:
            made = db.query(Listing).one()
            assert (made.price, made.status, made.certificate) == (123_450, "draft", number)
            listing = made.id
        early = post_from(seller, "/exchange/sell", f"/exchange/listings/{listing}/submit", {})
        assert early.status_code == 422
        assert "请先上传产品数据" in early.text
        page = seller.get("/exchange/sell")
        loaded = seller.post(
            f"/exchange/listings/{listing}/data",
            data={"csrf_token": csrf(page)},
            files={"file": ("data.csv", csv_rows(30), "text/csv")},
            follow_redirects=False,
        )
        assert loaded.status_code == 303, loaded.text
        assert "已上传 30 条记录" in seller.get("/exchange/sell").text
        submitted = post_from(seller, "/exchange/sell", f"/exchange/listings/{listing}/submit", {})
        assert submitted.status_code == 303
        queue = operator.get("/exchange/review")
        assert "企业用电景气指数" in queue.text
        assert "总账平衡" in queue.text
        bare = post_from(
            operator, "/exchange/review", f"/exchange/listings/{listing}/review", {"decision": "reject"}
        )
        assert bare.status_code == 422
        assert "驳回须说明理由" in bare.text
        approved = post_from(
            operator, "/exchange/review", f"/exchange/listings/{listing}/review", {"decision": "approve"}
        )
        assert approved.status_code == 303
        assert "¥1,234.50" in operator.get("/exchange", params={"q": "景气"}).text
        assert seller.get("/exchange/review").status_code == 403  # the queue is the exchange's

    def test_the_node_operator_sees_its_node_and_no_one_else_does(self, market: Market, app: Any) -> None:
        market.published()
        with signed_in(app, "fs_base") as base:
            page = base.get("/exchange/nodes/FS-BASE")
            assert page.status_code == 200, page.text
            assert "工商业用户月度用电指数" in page.text
            assert "会员" in page.text
            assert base.get("/exchange/nodes/GZ-EX").status_code == 403
        with signed_in(app, "buyer") as other:
            refused = other.get("/exchange/nodes/FS-BASE")
            assert refused.status_code == 403
            assert "运营视图" in refused.text


class TestClickPath:
    def test_order_negotiate_pay_deliver_accept(
        self, market: Market, buyer: TestClient, seller: TestClient
    ) -> None:
        listing = market.published()
        ordered = order(buyer, listing, unit_price="800")
        assert ordered.status_code == 303, ordered.text
        found = CONTRACT_URL.match(ordered.headers["location"])
        assert found
        assert found.group(2) == "ordered"
        cid = int(found.group(1))
        url = f"/exchange/contracts/{cid}"
        page = buyer.get(url)
        assert state(page) == "requested"
        assert "买方已出价" in page.text
        assert "等待对方答复" in page.text
        assert "¥800.00" in page.text

        # The seller answers with 900 元.
        assert f'action="/exchange/contracts/{cid}/offer"' in seller.get(url).text
        offered = post_from(
            seller, url, f"{url}/offer", {"quantity": "1", "unit_price": "900", "valid_until": "2099-01-01"}
        )
        assert offered.status_code == 422  # beyond the listing's 365 days: the field is named
        assert "有效期至" in offered.text
        good_until = seller.get(url).text.split('name="valid_until" type="date" value="', 1)[1][:10]
        offered = post_from(
            seller, url, f"{url}/offer", {"quantity": "1", "unit_price": "900", "valid_until": good_until}
        )
        assert offered.status_code == 303, offered.text
        page = buyer.get(url)
        assert state(page) == "offered"
        assert "卖方已报价" in page.text
        assert "1 份 × ¥900.00 = ¥900.00" in page.text  # the offer in the history

        # The seller may not pay; the buyer agrees; the seller signs.
        agreed = post_from(buyer, url, f"{url}/agree", {})
        assert agreed.status_code == 303
        assert state(seller.get(url)) == "agreed"
        finalized = post_from(seller, url, f"{url}/finalize", {})
        assert finalized.status_code == 303
        assert state(buyer.get(url)) == "finalized"
        wrong = post_from(seller, url, f"{url}/pay", {})
        assert wrong.status_code == 409
        assert "付款由买方进行" in wrong.text

        # The buyer pays: the delivery key is shown once, with the call to make.
        paid = post_from(buyer, url, f"{url}/pay", {})
        assert paid.status_code == 200, paid.text
        key = re.search(r'<code class="hash" id="delivery-key">(yx_\d+_[\w-]+)</code>', paid.text)
        assert key
        assert (
            f'curl -H "Authorization: Bearer {key.group(1)}" http://testserver/gateway/v1/contracts/{cid}/records'
            in paid.text
        )
        assert state(paid) == "active"
        assert "资金托管中" in paid.text
        assert key.group(1) not in buyer.get(url).text  # once
        delivered = buyer.get(
            f"/gateway/v1/contracts/{cid}/records", headers={"Authorization": f"Bearer {key.group(1)}"}
        )
        assert delivered.status_code == 200, delivered.text
        books_balance(market)

        # Acceptance settles the escrow to the seller, the base and the exchange.
        accepted = post_from(buyer, url, f"{url}/accept", {})
        assert accepted.status_code == 303
        page = buyer.get(accepted.headers["location"])
        assert "已结算" in page.text
        assert "已验收，托管资金已结算" in page.text
        assert "佛山服务基地" in page.text.split('id="money"', 1)[1]  # the node's fee leg
        books_balance(market)
        rated = post_from(buyer, url, f"{url}/rating", {"rating": "5", "review": "数据及时"})
        assert rated.status_code == 303
        assert "★★★★★" in buyer.get(url).text
        assert "¥900.00" in seller.get("/exchange/sell").text.split('id="revenue"', 1)[1]
        account = buyer.get("/exchange/account")
        assert "¥99,100.00" in account.text  # 100 000 元 deposited, 900 paid
        listed = buyer.get("/exchange/contracts", params={"role": "buyer"})
        assert f'data-contract="{cid}"' in listed.text

    def test_pay_at_list_terms_from_the_listing_page(self, market: Market, buyer: TestClient) -> None:
        listing = market.published(units=3)
        paid = order(buyer, listing, quantity="2", pay="1")
        assert paid.status_code == 200, paid.text
        assert "yx_" in paid.text
        assert state(paid) == "active"
        assert "余 1 份" in buyer.get(f"/exchange/listings/{listing}").text
        sold_out = order(buyer, listing, quantity="2")
        assert sold_out.status_code == 409
        assert "仅余 1 份" in sold_out.text

    def test_file_delivery_then_a_dispute_the_exchange_decides(
        self, market: Market, buyer: TestClient, operator: TestClient
    ) -> None:
        listing = market.published(delivery="file")
        paid = order(buyer, listing, pay="1")
        assert paid.status_code == 303, paid.text
        url = paid.headers["location"].split("?")[0]
        linked = post_from(buyer, url, f"{url}/link", {})
        assert linked.status_code == 200, linked.text
        found = re.search(r'href="(/exchange/download/[\w-]+)"', linked.text)
        assert found
        download = buyer.get(found.group(1))
        assert download.status_code == 200
        assert "统一社会信用代码" in download.content.decode("utf-8-sig")
        bare = post_from(buyer, url, f"{url}/dispute", {"reason": " "})
        assert bare.status_code == 422
        assert "请说明争议的理由" in bare.text
        disputed = post_from(buyer, url, f"{url}/dispute", {"reason": "文件缺少 2025 年数据"})
        assert disputed.status_code == 303
        assert "争议冻结" in buyer.get(url).text
        assert f'href="{url}"' in operator.get("/exchange/review").text.split('id="disputes"', 1)[1]
        decided = post_from(
            operator, url, f"{url}/decision", {"decision": "refund", "reason": "卖方确认缺失"}
        )
        assert decided.status_code == 303, decided.text
        page = buyer.get(url)
        assert state(page) == "terminated"
        assert "已退款" in page.text
        assert "¥100,000.00" in buyer.get("/exchange/account").text  # the money is back
        books_balance(market)

    def test_another_buyer_cannot_see_the_contract(self, market: Market, buyer: TestClient, app: Any) -> None:
        listing = market.published()
        ordered = order(buyer, listing)
        assert ordered.status_code == 303
        url = ordered.headers["location"].split("?")[0]
        with signed_in(app, "buyer_sz") as other:
            page = other.get(url)
            assert page.status_code == 404
            assert "不存在" in page.text
            assert "<html" in page.text  # the error page, in the layout
            token = csrf(other.get("/exchange/contracts"))
            paid = other.post(f"{url}/pay", data={"csrf_token": token}, follow_redirects=False)
            assert paid.status_code == 403  # refused (and the refusal audited), never a 500
            assert "不是合约的当事方" in paid.text
            assert f'href="{url}"' not in other.get("/exchange/contracts").text
        assert [c.settlement for c in contracts(market)] == ["none"]


class TestSandboxConsole:
    def test_an_aggregate_runs_and_raw_rows_are_refused(self, market: Market, buyer: TestClient) -> None:
        contract = PublicData(market).contract()
        url = f"/exchange/sandbox/{contract}"
        page = buyer.get(url)
        assert page.status_code == 200, page.text
        assert 'data-table="enterprises"' in page.text
        assert "k = 10" in page.text
        assert "公共数据授权运营 · 可用不可见" in buyer.get("/exchange").text
        sql = "SELECT district, COUNT(*) AS n FROM enterprises GROUP BY district ORDER BY district"
        ran = post_from(buyer, url, url, {"sql": sql})
        assert ran.status_code == 200, ran.text
        result = ran.text.split('id="result"', 1)[1]
        assert "<td>440103</td>" in result
        assert "440111" not in result  # 5 records: below k
        assert "已抑制 1 个小于 k（10）的分组" in result
        refused = post_from(buyer, url, url, {"sql": "SELECT * FROM enterprises"})
        assert refused.status_code == 422
        assert "sandbox-refusal" in refused.text
        assert "raw_rows" in refused.text
        log = refused.text.split('id="log"', 1)[1]
        assert log.count('data-outcome="refused"') == 1
        assert log.count('data-outcome="allowed"') == 1

    def test_only_the_buyer_uses_the_console(self, market: Market, app: Any) -> None:
        contract = PublicData(market).contract()
        with signed_in(app, "buyer_sz") as other:
            assert other.get(f"/exchange/sandbox/{contract}").status_code == 404


class TestLanguage:
    def test_the_market_in_english(self, market: Market, visitor: TestClient) -> None:
        market.published()
        page = visitor.get("/lang/en", params={"next": "/exchange"})
        assert page.status_code == 200
        assert '<html lang="en">' in page.text
        assert "Data exchange" in page.text
        assert "One exchange, many bases and platforms" in page.text
        assert "One-time" in page.text
        assert "一次性买断" not in page.text
        assert "工商业用户月度用电指数" in page.text  # the data itself stays as entered
