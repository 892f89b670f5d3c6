"""The demo province as the README's `make demo` builds it: `yiwang init --demo` in a fresh data
directory, then checked through the public API (one build, about 40 s, SQLite only)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from yiwang.app import create_app
from yiwang.config import Settings
from yiwang.kit import ledger
from yiwang.runtime import Platform

PASSWORD = "Demo-Passw0rd-test"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "YIWANG_DATA_DIR": str(data_dir)}
    env.pop("YIWANG_DATABASE_URL", None)
    cli = Path(sys.executable).parent / "yiwang"
    done = subprocess.run(
        [str(cli), "init", "--demo", "--demo-password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo-buyer" in done.stdout
    platform = Platform.from_settings(
        Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'yiwang.db'}")
    )
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def client(demo: Platform) -> TestClient:
    return TestClient(create_app(demo))


@pytest.fixture(scope="module")
def buyer(demo: Platform) -> dict[str, str]:
    from yiwang.identity import service as identity
    from yiwang.identity.authz import Actor

    with demo.session_scope() as db:
        _row, raw = identity.create_token(db, Actor.system(), username="demo-buyer", name="demo-check")
    return {"Authorization": f"Bearer {raw}"}


class TestDemoBuyer:
    def test_holds_an_active_sandbox_contract_over_ten_thousand_records(
        self, client: TestClient, buyer: dict[str, str]
    ) -> None:
        contracts = client.get("/api/v1/exchange/contracts", headers=buyer).json()
        sandbox = [c for c in contracts if c["delivery"] == "sandbox" and c["status"] == "active"]
        assert sandbox, contracts
        contract = sandbox[0]["id"]
        schema = client.get(
            "/api/v1/exchange/sandbox/schema", params={"contract": contract}, headers=buyer
        ).json()
        assert schema["k"] == 10
        table = schema["tables"][0]["name"]
        counted = client.post(
            "/api/v1/exchange/sandbox/query",
            json={"contract": contract, "sql": f"SELECT COUNT(*) FROM {table}"},
            headers=buyer,
        )
        assert counted.status_code == 200, counted.text
        assert counted.json()["rows"][0][0] >= 10_000
        raw = client.post(
            "/api/v1/exchange/sandbox/query",
            json={"contract": contract, "sql": f"SELECT * FROM {table}"},
            headers=buyer,
        )
        assert raw.status_code == 422

    def test_signs_in_with_the_demo_password(self, demo: Platform) -> None:
        from yiwang.identity import service as identity

        with demo.session_scope() as db:
            assert identity.check_login(db, "demo-buyer", PASSWORD).user is not None
            assert identity.check_login(db, "demo-buyer", PASSWORD + "x").user is None


class TestDemoMarket:
    def test_contracts_in_every_state_and_balanced_books(self, demo: Platform) -> None:
        from yiwang.exchange import service
        from yiwang.identity.authz import Actor

        with demo.session_scope(read_only=True) as db:
            contracts = service.list_contracts(db, Actor.system())
            statuses = {service.effective_status(c) for c in contracts}
            settlements = {c.settlement for c in contracts}
            nodes = {n.kind for n in service.list_nodes(db)}
            books = ledger.check_books(db)
        assert {"requested", "offered", "agreed", "finalized", "active", "revoked", "terminated"} <= statuses
        assert {"none", "escrow", "disputed", "settled", "refunded"} <= settlements
        assert nodes == {"exchange", "base", "platform"}
        assert books.balanced, books

    def test_market_lists_published_products(self, client: TestClient) -> None:
        market: dict[str, Any] = client.get("/api/v1/exchange/listings").json()
        assert market["total"] >= 4
        assert any(x["public_data"] and x["delivery"] == "sandbox" for x in market["listings"])
