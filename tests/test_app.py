"""The application shell: request ids."""

from __future__ import annotations

from fastapi.testclient import TestClient

from yiwang.app import create_app
from yiwang.runtime import Platform


class TestRequestId:
    def test_a_plain_caller_id_is_echoed_and_a_bad_one_replaced(self, platform: Platform) -> None:
        client = TestClient(create_app(platform))
        assert (
            client.get("/healthz", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"] == "trace-42"
        )
        replaced = client.get("/healthz", headers={"X-Request-ID": "bad id; drop table"}).headers[
            "X-Request-ID"
        ]
        assert replaced != "bad id; drop table"
        assert len(replaced) == 32
        assert client.get("/api/v1/me").headers["X-Request-ID"]
