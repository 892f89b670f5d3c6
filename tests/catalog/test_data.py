"""Loading data into table resources: validated, all-or-nothing, recorded; previews masked."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from yiwang.app import create_app
from yiwang.catalog import data, service
from yiwang.identity.authz import AccessDenied, Actor
from yiwang.kit.errors import InvalidInput
from yiwang.kit.validators import make_id_number
from yiwang.runtime import Platform

PEOPLE_FIELDS = [
    {
        "name": "id_number",
        "title": "公民身份号码",
        "format": "id_number",
        "pi": "id_number",
        "key": True,
        "required": True,
    },
    {"name": "name", "title": "姓名", "pi": "name", "required": True},
    {"name": "joined", "title": "参保日期", "type": "date"},
    {"name": "amount", "title": "缴费金额", "type": "number"},
]


@pytest.fixture
def people(platform: Platform, province: Province) -> str:
    item = resource_data("养老保险参保信息", code="R-PEOPLE", fields=PEOPLE_FIELDS)
    with platform.session_scope() as db:
        service.import_resources(db, Actor.system(), [item], publish=True)
    return "R-PEOPLE"


def people_csv(count: int, bad_row: int | None = None) -> io.BytesIO:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id_number", "name", "joined", "amount"])
    for i in range(1, count + 1):
        number = make_id_number("440106", date(1960 + i % 40, 1 + i % 12, 1 + i % 28), i % 999 + 1)
        if i == bad_row:
            number = number[:-1] + ("0" if number[-1] != "0" else "1")  # a wrong check digit
        writer.writerow([number, f"张{i}", "2020-01-02", f"{i % 500}.5"])
    return io.BytesIO(buffer.getvalue().encode("utf-8"))


def load(platform: Platform, actor: Actor, code: str, stream: io.BytesIO, mode: str = "replace") -> int:
    with platform.session_scope() as db:
        return data.load_data(db, actor, code, stream, "people.csv", mode).row_count


class TestLoad:
    def test_one_bad_id_number_on_row_7001_loads_nothing(
        self, platform: Platform, province: Province, people: str
    ) -> None:
        staff = province.actor("gz_staff")
        assert load(platform, staff, people, people_csv(50)) == 50
        with pytest.raises(InvalidInput) as caught:
            load(platform, staff, people, people_csv(10_000, bad_row=7001))
        errors = caught.value.details["errors"]
        assert [(e["row"], e["field"]) for e in errors] == [(7001, "id_number")]
        assert "公民身份号码" in str(errors[0]["title"])
        with platform.session_scope(read_only=True) as db:
            assert service.get_resource(db, staff, people).row_count == 50  # unchanged

    def test_good_load_is_recorded_with_hash(
        self, platform: Platform, province: Province, people: str
    ) -> None:
        staff = province.actor("gz_staff")
        load(platform, staff, people, people_csv(100))
        with platform.session_scope(read_only=True) as db:
            from yiwang.catalog import repository

            resource = service.get_resource(db, staff, people)
            history = repository.loads(db, resource.id)
        assert resource.row_count == 100
        assert history[0].row_count == 100
        assert len(history[0].content_hash) == 64
        assert history[0].actor == "gz_staff"

    def test_upsert_updates_by_key(self, platform: Platform, province: Province, people: str) -> None:
        staff = province.actor("gz_staff")
        load(platform, staff, people, people_csv(10))
        load(platform, staff, people, people_csv(20), mode="upsert")
        with platform.session_scope(read_only=True) as db:
            assert service.get_resource(db, staff, people).row_count == 20

    def test_another_departments_staff_cannot_load(
        self, platform: Platform, province: Province, people: str
    ) -> None:
        with pytest.raises(AccessDenied):
            load(platform, province.actor("sz_staff"), people, people_csv(5))

    def test_preview_is_masked(self, platform: Platform, province: Province, people: str) -> None:
        staff = province.actor("gz_staff")
        load(platform, staff, people, people_csv(5))
        with platform.session_scope(read_only=True) as db:
            _fields, rows = data.preview(db, staff, people)
        assert rows[0]["name"] == "张*"
        assert "*" in rows[0]["id_number"]
        assert rows[0]["id_number"][:6] == "440106"


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as c:
        yield c


class TestUploadApi:
    def test_upload_and_rejection(self, client: TestClient, province: Province, people: str) -> None:
        headers = {"Authorization": f"Bearer {province.token('gz_staff')}"}
        url = f"/api/v1/catalog/resources/{people}/data"
        ok = client.post(
            url, headers=headers, files={"file": ("p.csv", people_csv(30).getvalue(), "text/csv")}
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["row_count"] == 30
        bad = client.post(
            url, headers=headers, files={"file": ("p.csv", people_csv(30, 7).getvalue(), "text/csv")}
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["details"]["errors"][0]["row"] == 7
        odd = client.post(url, headers=headers, files={"file": ("p.exe", b"MZ", "application/octet-stream")})
        assert odd.status_code == 422
