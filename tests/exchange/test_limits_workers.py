"""A contract's call limit is exact across worker processes: `yiwang serve --workers 4`, 340
concurrent delivery calls under a limit of 300 → exactly 300 answers and 40 refusals (429)."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.exchange.conftest import Market
from tests.sharing.test_quota_workers import YIWANG, _free_port, _wait_until_up
from yiwang.exchange import service
from yiwang.exchange.schemas import OrderIn


def test_call_limit_of_300_is_exact_with_4_workers(market: Market) -> None:
    listing = market.published(price_model="per_call", price=10)
    with market.platform.session_scope() as db:
        contract = service.place_order(
            db,
            market.actor("buyer"),
            OrderIn(listing=listing, quantity=300, purpose="信贷风控", region="440106"),
        )
        paid = service.pay(db, market.actor("buyer"), contract.id)
        assert paid.contract.call_limit == 300
        key, contract_id = paid.key, contract.id
    settings = market.platform.settings
    port = _free_port()
    env = {
        **os.environ,
        "YIWANG_DATA_DIR": str(settings.data_dir),
        "YIWANG_DATABASE_URL": settings.resolved_database_url(),
        "YIWANG_SECRET_KEY": "test-secret",
    }
    server = subprocess.Popen(
        [str(YIWANG), "serve", "--port", str(port), "--workers", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url)

        def calls(n: int) -> Counter[int]:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
                return Counter(
                    client.get(
                        f"/gateway/v1/contracts/{contract_id}/records", params={"limit": 1}
                    ).status_code
                    for _ in range(n)
                )

        with ThreadPoolExecutor(max_workers=10) as pool:
            total = sum(pool.map(calls, [34] * 10), Counter())
    finally:
        server.terminate()
        server.wait(30)
    assert total == Counter({200: 300, 429: 40})
    with market.platform.session_scope(read_only=True) as db:
        assert service.get_contract(db, market.actor("buyer"), contract_id).calls == 300
