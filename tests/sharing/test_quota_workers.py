"""A daily quota is exact across worker processes: `yiwang serve --workers 4`, 1,100 concurrent
calls under a quota of 1,000 → exactly 1,000 answers and 100 refusals (429)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.sharing.conftest import World

YIWANG = Path(sys.executable).parent / "yiwang"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_quota_of_1000_is_exact_with_4_workers(world: World) -> None:
    req = world.request().json()
    assert world.decide(req["id"], daily_quota=1000).status_code == 200
    settings = world.platform.settings
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
        headers = {"Authorization": f"Bearer {world.consumer_token}"}

        def calls(n: int) -> Counter[int]:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                return Counter(
                    client.get("/gateway/v1/resources/R-PEOPLE/records", params={"limit": 1}).status_code
                    for _ in range(n)
                )

        with ThreadPoolExecutor(max_workers=10) as pool:
            total = sum(pool.map(calls, [110] * 10), Counter())
    finally:
        server.terminate()
        server.wait(30)
    assert total == Counter({200: 1000, 429: 100})
    log = world.client.get(
        "/api/v1/sharing/access-log", params={"limit": 500}, headers=world.as_provider()
    ).json()
    assert {c["status"] for c in log["calls"]} <= {200, 429}


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start within 60 s")
