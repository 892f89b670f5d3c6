"""The exchange end to end: list → order → negotiate → pay → deliver → accept → settle, with the
ledger balanced after every step, disputes, revocation, limits and the market's rules."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.exchange.conftest import BUYER, Market, listing_in, uscc
from tests.registry.test_registry import HOLDER
from yiwang.app import create_app
from yiwang.exchange import service
from yiwang.exchange.errors import ListingRefused, SoldOut, WrongState
from yiwang.exchange.schemas import DisputeDecisionIn, OrderIn, RatingIn, TermsIn
from yiwang.kit import ledger, workdays
from yiwang.kit.errors import InvalidInput
from yiwang.registry import service as registry


def books_balance(market: Market) -> None:
    with market.platform.session_scope(read_only=True) as db:
        books = ledger.check_books(db)
    assert books.balanced, books


def balances(market: Market) -> dict[str, int]:
    with market.platform.session_scope(read_only=True) as db:
        accounts = {
            "buyer": service.member_account(_org_id(db, BUYER)),
            "seller": service.member_account(_org_id(db, HOLDER)),
            "escrow": service.ESCROW,
            "exchange": service.EXCHANGE_FEES,
            "node": service.node_account(service.node_by_code(db, "FS-BASE").id),
        }
        found = ledger.balances(db, list(accounts.values()))
    return {name: found.get(code, 0) for name, code in accounts.items()}


def _org_id(db: Any, code: str) -> int:
    from yiwang.identity import service as identity

    org = identity.org_by_code(db, code)
    assert org is not None
    return org.id


def order(market: Market, listing: int, username: str = "buyer", **kw: Any) -> int:
    data = {"listing": listing, "purpose": "信贷风控", "region": "440106", **kw}
    with market.platform.session_scope() as db:
        return service.place_order(db, market.actor(username), OrderIn(**data)).id


class TestListingRules:
    def test_an_unregistered_asset_is_refused_with_the_rule(self, market: Market) -> None:
        with market.platform.session_scope() as db, pytest.raises(ListingRefused) as refused:
            service.create_listing(db, market.actor("holder"), listing_in("GD-DA-2025-999999"))
        assert refused.value.code == "not_registered"
        assert "无登记不交易" in refused.value.message

    def test_a_pledged_asset_cannot_be_listed(self, market: Market) -> None:
        number = market.certificate()
        with market.platform.session_scope() as db:
            registry.pledge(db, market.actor("bank_a"), "standard", number)
        with market.platform.session_scope() as db, pytest.raises(ListingRefused) as refused:
            service.create_listing(db, market.actor("holder"), listing_in(number))
        assert refused.value.code == "certificate_not_active"

    def test_only_the_holder_may_list(self, market: Market) -> None:
        from tests.registry.test_registry import BANK_A
        from yiwang.exchange.schemas import MemberIn

        number = market.certificate()
        with market.platform.session_scope() as db:
            service.admit_member(
                db, market.actor("operator"), MemberIn(org=BANK_A, node="FIN", roles=["seller"])
            )
        with market.platform.session_scope() as db, pytest.raises(ListingRefused) as refused:
            service.create_listing(db, market.actor("bank_a"), listing_in(number))
        assert refused.value.code == "not_holder"

    def test_the_same_certificate_cannot_be_listed_on_a_second_node(self, market: Market) -> None:
        listing_id = market.published()
        with market.platform.session_scope(read_only=True) as db:
            number = service.get_listing(db, None, listing_id).certificate
        with market.platform.session_scope() as db:
            second = service.create_listing(db, market.actor("holder"), listing_in(number, node="FIN"))
            import io

            from tests.exchange.conftest import csv_rows

            service.load_listing_data(db, market.actor("holder"), second.id, io.BytesIO(csv_rows(5)), "d.csv")
            second_id = second.id
        with market.platform.session_scope() as db, pytest.raises(ListingRefused) as refused:
            service.submit_listing(db, market.actor("holder"), second_id)
        assert refused.value.code == "already_listed"
        assert "佛山服务基地" in refused.value.message

    def test_a_bad_data_row_changes_nothing(self, market: Market) -> None:
        import io

        from yiwang.kit.datastore import LoadRejected

        number = market.certificate()
        with market.platform.session_scope() as db:
            listing_id = service.create_listing(db, market.actor("holder"), listing_in(number)).id
        bad = b"uscc,industry,kwh,contact\n" + f"{uscc(1)},x,12,a\n91440100BADBADBAD1,y,13,b\n".encode()
        with market.platform.session_scope() as db, pytest.raises(LoadRejected) as rejected:
            service.load_listing_data(db, market.actor("holder"), listing_id, io.BytesIO(bad), "d.csv")
        assert rejected.value.details["errors"][0]["row"] == 2
        with market.platform.session_scope(read_only=True) as db:
            assert service.get_listing(db, market.actor("holder"), listing_id).row_count == 0


class TestStory:
    def test_negotiated_contract_from_order_to_rating(self, market: Market) -> None:
        listing_id = market.published()
        before = balances(market)
        contract_id = order(market, listing_id, unit_price=80_000)
        with market.platform.session_scope() as db:
            c = service.get_contract(db, market.actor("buyer"), contract_id)
            assert (c.status, c.last_offer_by) == ("requested", "buyer")
            valid = workdays.beijing_today() + timedelta(days=200)
            service.counter_offer(
                db,
                market.actor("holder"),
                contract_id,
                TermsIn(quantity=1, unit_price=90_000, valid_until=valid),
            )
            with pytest.raises(WrongState):
                service.agree(db, market.actor("holder"), contract_id)  # not one's own offer
            service.agree(db, market.actor("buyer"), contract_id)
            service.finalize(db, market.actor("holder"), contract_id)
        books_balance(market)
        with market.platform.session_scope() as db:
            paid = service.pay(db, market.actor("buyer"), contract_id)
            assert paid.key is not None
            assert paid.key.startswith(f"yx_{contract_id}_")
            assert paid.contract.status == "active"
        books_balance(market)
        mid = balances(market)
        assert mid["buyer"] == before["buyer"] - 90_000
        assert mid["escrow"] == before["escrow"] + 90_000
        with market.platform.session_scope() as db:
            service.accept_delivery(db, market.actor("buyer"), contract_id)
            service.rate(db, market.actor("buyer"), contract_id, RatingIn(rating=5, review="数据及时"))
        books_balance(market)
        after = balances(market)
        fee_exchange, fee_node = 90_000 * 200 // 10_000, 90_000 * 100 // 10_000
        assert after["escrow"] == before["escrow"]
        assert after["exchange"] - before["exchange"] == fee_exchange
        assert after["node"] - before["node"] == fee_node
        assert after["seller"] - before["seller"] == 90_000 - fee_exchange - fee_node
        with market.platform.session_scope(read_only=True) as db:
            actions = [e.action for e in service.contract_events(db, contract_id)]
        assert actions == ["request", "offer", "agree", "finalize", "pay", "accept", "settle", "rate"]

    def test_a_dispute_freezes_settlement_until_decided(self, market: Market) -> None:
        listing_id = market.published()
        before = balances(market)
        contract_id = order(market, listing_id, pay=True)
        with market.platform.session_scope() as db:
            service.dispute(db, market.actor("buyer"), contract_id, "数据与样例不符")
            with pytest.raises(WrongState):
                service.accept_delivery(db, market.actor("buyer"), contract_id)
        books_balance(market)
        with market.platform.session_scope() as db:
            service.decide_dispute(
                db,
                market.actor("operator"),
                contract_id,
                DisputeDecisionIn(refund=True, reason="卖方数据缺失"),
            )
        books_balance(market)
        after = balances(market)
        assert after["buyer"] == before["buyer"]
        assert after["seller"] == before["seller"]
        with market.platform.session_scope(read_only=True) as db:
            c = service.get_contract(db, market.actor("buyer"), contract_id)
            assert (c.status, c.settlement) == ("terminated", "refunded")

    def test_a_dispute_decided_for_the_seller_settles(self, market: Market) -> None:
        listing_id = market.published()
        contract_id = order(market, listing_id, pay=True)
        with market.platform.session_scope() as db:
            service.dispute(db, market.actor("buyer"), contract_id, "延迟交付")
            service.decide_dispute(
                db,
                market.actor("operator"),
                contract_id,
                DisputeDecisionIn(refund=False, reason="已按约交付"),
            )
        books_balance(market)
        with market.platform.session_scope(read_only=True) as db:
            assert service.get_contract(db, market.actor("buyer"), contract_id).settlement == "settled"

    def test_an_order_outside_the_policy_is_refused(self, market: Market) -> None:
        listing_id = market.published()
        with pytest.raises(InvalidInput, match="purpose"):
            order(market, listing_id, purpose="精准营销")
        with pytest.raises(InvalidInput, match="region"):
            order(market, listing_id, username="buyer_sz", region="440300")

    def test_an_asset_revoked_after_listing_cannot_be_ordered(self, market: Market) -> None:
        listing_id = market.published()
        with market.platform.session_scope(read_only=True) as db:
            number = service.get_listing(db, None, listing_id).certificate
        with market.platform.session_scope() as db:
            registry.revoke(db, market.actor("operator"), "standard", number, "登记材料不实")
        with pytest.raises(ListingRefused) as refused:
            order(market, listing_id)
        assert refused.value.code == "certificate_not_active"

    def test_an_overdraft_changes_nothing(self, market: Market) -> None:
        listing_id = market.published(price=20_000_000)
        before = balances(market)
        with pytest.raises(ledger.InsufficientFunds):
            order(market, listing_id, pay=True)
        assert balances(market) == before
        books_balance(market)
        with market.platform.session_scope(read_only=True) as db:
            assert service.list_contracts(db, market.actor("buyer")) == []


class TestConcurrency:
    def test_twenty_concurrent_orders_for_five_units_sell_exactly_five(self, market: Market) -> None:
        listing_id = market.published(units=5, price=1_000)
        from yiwang.exchange.schemas import MemberIn
        from yiwang.identity import service as identity
        from yiwang.identity.authz import Actor
        from yiwang.kit.validators import make_uscc_from

        buyers = []
        with market.platform.session_scope() as db:
            system = Actor.system()
            for i in range(20):
                code = make_uscc_from("9", "1", "440100", f"MA5G{i:05d}")
                identity.create_org(
                    db, system, code=code, name=f"买方{i}", parent="440100", kind="enterprise"
                )
                identity.create_user(
                    db, system, username=f"b{i}", org_code=code, roles=["enterprise"], password=PASSWORD
                )
                service.admit_member(
                    db, market.actor("operator"), MemberIn(org=code, node="GZ-EX", roles=["buyer"])
                )
                service.deposit(db, market.actor("operator"), code, 5_000)
                buyers.append(f"b{i}")
        actors = {b: market.actor(b) for b in buyers}
        outcomes: list[str] = []
        barrier = threading.Barrier(len(buyers))

        def buy(username: str) -> None:
            barrier.wait()
            try:
                with market.platform.session_scope() as db:
                    service.place_order(
                        db,
                        actors[username],
                        OrderIn(listing=listing_id, purpose="信贷风控", region="440106", pay=True),
                    )
                outcomes.append("sold")
            except SoldOut:
                outcomes.append("sold_out")
            except Exception as error:  # SQLite's busy writer: counted as a failed purchase
                outcomes.append(type(error).__name__)

        threads = [threading.Thread(target=buy, args=(b,)) for b in buyers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("sold") == 5, outcomes
        with market.platform.session_scope(read_only=True) as db:
            assert service.get_listing(db, None, listing_id).units_sold == 5
            paid = [
                c for c in service.list_contracts(db, market.actor("operator")) if c.settlement == "escrow"
            ]
            assert len(paid) == 5
        books_balance(market)


class TestDeliveryApi:
    @pytest.fixture
    def client(self, market: Market) -> TestClient:
        return TestClient(create_app(market.platform))

    def _paid(self, market: Market, **listing: Any) -> tuple[int, str]:
        listing_id = market.published(**listing)
        contract_id = order(market, listing_id)
        with market.platform.session_scope() as db:
            paid = service.pay(db, market.actor("buyer"), contract_id)
            assert paid.key is not None
            return contract_id, paid.key

    def test_records_are_masked_and_every_call_logged(self, market: Market, client: TestClient) -> None:
        contract_id, key = self._paid(market)
        answer = client.get(
            f"/gateway/v1/contracts/{contract_id}/records",
            params={"uscc": uscc(3)},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [r["uscc"] for r in body["records"]] == [uscc(3)]
        assert body["records"][0]["contact"] == "张*"
        assert body["masked"] == ["contact"]
        with market.platform.session_scope(read_only=True) as db:
            from sqlalchemy import select

            from yiwang.kit.accesslog import AccessEntry

            entry = db.execute(select(AccessEntry).where(AccessEntry.call_id == body["call"])).scalar_one()
            assert entry.system == f"contract:{contract_id}"
            assert entry.records == 1

    def test_a_revoked_contract_stops_the_next_call(self, market: Market, client: TestClient) -> None:
        contract_id, key = self._paid(market)
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get(f"/gateway/v1/contracts/{contract_id}/records", headers=auth).status_code == 200
        with market.platform.session_scope() as db:
            service.revoke_contract(db, market.actor("operator"), contract_id, "违反禁止转售条款")
        refused = client.get(f"/gateway/v1/contracts/{contract_id}/records", headers=auth)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "contract_revoked"
        books_balance(market)  # the escrow went back to the buyer

    def test_an_expired_contract_is_refused(self, market: Market, client: TestClient) -> None:
        contract_id, key = self._paid(market)
        with market.platform.session_scope() as db:
            from yiwang.exchange.models import Contract

            contract = db.get(Contract, contract_id)
            assert contract is not None
            contract.valid_until = date(2020, 1, 1)
        refused = client.get(
            f"/gateway/v1/contracts/{contract_id}/records", headers={"Authorization": f"Bearer {key}"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "contract_expired"

    def test_purpose_and_region_are_checked_on_every_call(self, market: Market, client: TestClient) -> None:
        contract_id, key = self._paid(market)
        url = f"/gateway/v1/contracts/{contract_id}/records"
        bad_purpose = client.get(
            url, headers={"Authorization": f"Bearer {key}", "X-Purpose": quote("精准营销")}
        )
        assert bad_purpose.json()["error"]["code"] == "purpose_not_allowed"
        bad_region = client.get(url, headers={"Authorization": f"Bearer {key}", "X-Region": "440300"})
        assert bad_region.json()["error"]["code"] == "region_not_allowed"

    def test_call_limit_is_exact(self, market: Market, client: TestClient) -> None:
        contract_id, key = self._paid(market, price_model="per_call", price=100)
        with market.platform.session_scope() as db:
            assert service.get_contract(db, market.actor("buyer"), contract_id).call_limit == 1
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get(f"/gateway/v1/contracts/{contract_id}/records", headers=auth).status_code == 200
        over = client.get(f"/gateway/v1/contracts/{contract_id}/records", headers=auth)
        assert over.status_code == 429
        assert "Retry-After" in over.headers

    def test_a_wrong_key_is_refused(self, market: Market, client: TestClient) -> None:
        contract_id, key = self._paid(market)
        wrong = key[:-3] + ("aaa" if not key.endswith("aaa") else "bbb")
        refused = client.get(
            f"/gateway/v1/contracts/{contract_id}/records", headers={"Authorization": f"Bearer {wrong}"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "invalid_key"

    def test_contracts_list_has_the_contract_shape(self, market: Market, client: TestClient) -> None:
        contract_id, _ = self._paid(market)
        token = market.province.token("buyer")
        listed = client.get("/api/v1/exchange/contracts", headers={"Authorization": f"Bearer {token}"}).json()
        assert {k: listed[0][k] for k in ("id", "delivery", "status")} == {
            "id": contract_id,
            "delivery": "api",
            "status": "active",
        }
        assert isinstance(listed[0]["listing"], int)

    def test_file_delivery_link_logs_a_fingerprint(self, market: Market, client: TestClient) -> None:
        listing_id = market.published(delivery="file")
        contract_id = order(market, listing_id, pay=True)
        token = market.province.token("buyer")
        link = client.post(
            f"/api/v1/exchange/contracts/{contract_id}/links", headers={"Authorization": f"Bearer {token}"}
        )
        assert link.status_code == 201, link.text
        got = client.get(link.json()["url"])
        assert got.status_code == 200
        assert "张*" in got.content.decode("utf-8-sig")
        import hashlib

        from sqlalchemy import select

        from yiwang.kit.accesslog import AccessEntry

        with market.platform.session_scope(read_only=True) as db:
            entry = db.execute(
                select(AccessEntry).where(AccessEntry.call_id == got.headers["X-Call-ID"])
            ).scalar_one()
        assert entry.body_hash == hashlib.sha256(got.content).hexdigest()
        assert entry.consumer == BUYER
        assert client.get("/exchange/download/not-a-link").status_code == 403
