"""`yiwang exchange ledger-check | nodes | contracts` against the market's database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import tamper
from tests.exchange.conftest import Market
from tests.test_cli import run
from yiwang.config import reset_settings
from yiwang.exchange import service
from yiwang.exchange.schemas import OrderIn


@pytest.fixture
def console(market: Market, monkeypatch: pytest.MonkeyPatch) -> Iterator[Market]:
    settings = market.platform.settings
    monkeypatch.setenv("YIWANG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("YIWANG_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("YIWANG_SECRET_KEY", "test-secret")
    reset_settings()
    yield market
    reset_settings()


def test_ledger_check_passes_then_finds_a_changed_posting(console: Market) -> None:
    listing = console.published()
    with console.platform.session_scope() as db:
        service.place_order(
            db,
            console.actor("buyer"),
            OrderIn(listing=listing, purpose="信贷风控", region="440106", pay=True),
        )
    code, output = run("exchange", "ledger-check", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["balanced"] is True
    assert report["transactions"] >= 3  # two deposits and the escrow
    tamper(
        console.platform,
        "UPDATE ledger_posting SET amount = amount + 1 WHERE id = (SELECT MAX(id) FROM ledger_posting)",
    )
    code, output = run("exchange", "ledger-check")
    assert code == 1
    assert "总账不平" in output


def test_nodes_and_contracts(console: Market) -> None:
    listing = console.published()
    with console.platform.session_scope() as db:
        contract = service.place_order(
            db, console.actor("buyer"), OrderIn(listing=listing, purpose="信贷风控", region="440106")
        )
        contract_id = contract.id
    code, output = run("exchange", "nodes")
    assert code == 0
    assert "佛山服务基地" in output
    code, output = run("exchange", "contracts", "--status", "finalized")
    assert code == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [c["id"] for c in lines] == [contract_id]
