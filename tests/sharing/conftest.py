"""Sharing fixtures: a conditional resource with personal fields and data, tokens for both sides."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from yiwang.app import create_app
from yiwang.catalog import data, service
from yiwang.identity.authz import Actor
from yiwang.kit.validators import make_id_number
from yiwang.runtime import Platform

PEOPLE_FIELDS = [
    {"name": "id_number", "title": "公民身份号码", "format": "id_number", "pi": "id_number", "key": True},
    {"name": "name", "title": "姓名", "pi": "name", "required": True},
    {"name": "district", "title": "所属区县", "format": "region_code"},
    {"name": "phone", "title": "联系电话", "format": "phone", "pi": "phone"},
    {"name": "amount", "title": "缴费金额", "type": "number"},
]
DISTRICTS = ("440106", "440104")  # 天河区, 越秀区
ROWS = 40


def person(i: int) -> dict[str, Any]:
    return {
        "id_number": make_id_number("440106", date(1960 + i % 40, 1 + i % 12, 1 + i % 28), i % 999 + 1),
        "name": f"欧阳{'娜' * (1 + i % 2)}",
        "district": DISTRICTS[i % 2],
        "phone": f"138{i:08d}",
        "amount": i * 10.5,
    }


def people_csv(count: int = ROWS) -> io.BytesIO:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f["name"] for f in PEOPLE_FIELDS])
    writer.writeheader()
    for i in range(1, count + 1):
        writer.writerow(person(i))
    return io.BytesIO(buffer.getvalue().encode("utf-8"))


def publish(platform: Platform, code: str, share_type: str = "conditional", **extra: Any) -> str:
    overrides: dict[str, Any] = {"code": code, "fields": PEOPLE_FIELDS, "share_type": share_type, **extra}
    if share_type == "none":
        overrides.setdefault("share_basis", "《社会保险法》第八十一条：不得泄露参保人个人信息")
        overrides["share_condition"] = ""
    if share_type == "unconditional":
        overrides["share_condition"] = ""
    item = resource_data("养老保险参保信息", **overrides)
    with platform.session_scope() as db:
        service.import_resources(db, Actor.system(), [item], publish=True)
    return code


def load_people(platform: Platform, code: str, count: int = ROWS) -> None:
    with platform.session_scope() as db:
        data.load_data(db, Actor.system(), code, people_csv(count), "people.csv", "replace")


@dataclass
class World:
    platform: Platform
    province: Province
    client: TestClient
    consumer_token: str  # 深圳市场监管局's system "sz-approval"
    provider_token: str  # 广州市场监管局's staff
    provider_cdo_token: str

    def as_consumer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.consumer_token}"}

    def as_provider(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.provider_token}"}

    def as_cdo(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.provider_cdo_token}"}

    def request(self, code: str = "R-PEOPLE", **overrides: Any) -> Any:
        body = {
            "resource": code,
            "fields": ["id_number", "name", "district", "phone", "amount"],
            "purpose": "企业开办审批中核验法定代表人参保情况",
            "basis": "《优化营商环境条例》第三十七条",
            "valid_until": (date.today() + timedelta(days=180)).isoformat(),
            "system": "sz-approval",
            **overrides,
        }
        return self.client.post("/api/v1/sharing/requests", json=body, headers=self.as_consumer())

    def decide(self, request_id: int, headers: dict[str, str] | None = None, **body: Any) -> Any:
        return self.client.post(
            f"/api/v1/sharing/requests/{request_id}/decision",
            json={"approve": True, **body},
            headers=headers or self.as_provider(),
        )

    def call(self, code: str = "R-PEOPLE", token: str | None = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.consumer_token}"}
        return self.client.get(f"/gateway/v1/resources/{code}/records", params=params, headers=headers)


@pytest.fixture
def world(platform: Platform, province: Province) -> Iterator[World]:
    publish(platform, "R-PEOPLE")
    load_people(platform, "R-PEOPLE")
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield World(
            platform=platform,
            province=province,
            client=client,
            consumer_token=province.token("sz_staff", "sz-approval"),
            provider_token=province.token("gz_staff", "gz-desk"),
            provider_cdo_token=province.token("gz_cdo", "gz-cdo-desk"),
        )
