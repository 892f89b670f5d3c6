"""Catalog search through the service and the API: Chinese inside words, pinyin, facets, visibility."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from yiwang.app import create_app
from yiwang.catalog import service
from yiwang.identity.authz import Actor
from yiwang.runtime import Platform


@pytest.fixture
def catalog(platform: Platform, province: Province) -> Platform:
    items = [
        resource_data("养老保险参保信息", code="R-PENSION", themes=["社会保障"], keywords=["养老", "社保"]),
        resource_data(
            "证券代码对照表",
            code="R-SEC",
            provider="440300-amr",
            themes=["金融"],
            keywords=["证券"],
            share_type="unconditional",
            share_condition="",
            open_type="unconditional",
        ),
        resource_data(
            "企业登记基本信息",
            code="R-FIRM",
            share_type="unconditional",
            share_condition="",
            open_type="unconditional",
        ),
        resource_data(
            "空气质量监测数据",
            code="R-AIR",
            themes=["生态环境"],
            keywords=["空气"],
            summary="各监测点的小时空气质量指数",
        ),
    ]
    with platform.session_scope() as db:
        service.import_resources(db, Actor.system(), items, publish=True)
    return platform


def codes(platform: Platform, q: str, **kwargs: object) -> list[str]:
    with platform.session_scope(read_only=True) as db:
        page = service.search(db, Actor.system(), q=q, **kwargs)  # type: ignore[arg-type]
        return [r.code for r, _ in page.items]


class TestSearch:
    def test_word_inside_a_longer_word(self, catalog: Platform) -> None:
        # Every test resource has a field 统一社会信用代码; the name hit ranks first.
        assert codes(catalog, "代码")[0] == "R-SEC"
        assert codes(catalog, "证券")[0] == "R-SEC"
        assert codes(catalog, "养老") == ["R-PENSION"]

    def test_pinyin_and_initials(self, catalog: Platform) -> None:
        assert codes(catalog, "qydj") == ["R-FIRM"]
        assert "R-PENSION" in codes(catalog, "yanglao")

    def test_summary_and_field_titles_are_searched(self, catalog: Platform) -> None:
        assert codes(catalog, "监测点") == ["R-AIR"]
        assert set(codes(catalog, "法定代表人")) == {"R-PENSION", "R-SEC", "R-FIRM", "R-AIR"}

    def test_exact_code(self, catalog: Platform) -> None:
        assert codes(catalog, "R-AIR")[0] == "R-AIR"

    def test_facets_and_filters(self, catalog: Platform) -> None:
        with catalog.session_scope(read_only=True) as db:
            page = service.search(db, Actor.system(), q="", filters={"theme": ["社会保障"]})
            assert [r.code for r, _ in page.items] == ["R-PENSION"]
            everything = service.search(db, Actor.system())
        assert everything.total == 4
        assert dict(everything.facets["provider"]) == {"440100-amr": 3, "440300-amr": 1}
        assert dict(everything.facets["share_type"]) == {"conditional": 2, "unconditional": 2}
        assert dict(everything.facets["region"]) == {"440100": 3, "440300": 1}

    def test_anonymous_sees_only_the_open_subset(self, catalog: Platform) -> None:
        with catalog.session_scope(read_only=True) as db:
            page = service.search(db, None)
        assert sorted(r.code for r, _ in page.items) == ["R-FIRM", "R-SEC"]

    def test_revoked_resource_leaves_search(self, catalog: Platform) -> None:
        with catalog.session_scope() as db:
            service.revoke_resource(db, Actor.system(), "R-AIR", reason="停止更新")
        assert codes(catalog, "空气") == []

    @pytest.mark.parametrize(
        "q", ['"', "AND", "NOT OR", "*", "(", "NEAR(", "^", ":", "'; DROP TABLE x", "   "]
    )
    def test_odd_queries_never_fail(self, catalog: Platform, q: str) -> None:
        codes(catalog, q)


@pytest.fixture
def client(catalog: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(catalog), raise_server_exceptions=False) as c:
        yield c


class TestSearchApi:
    def test_search_endpoint_highlights_and_facets(self, client: TestClient, province: Province) -> None:
        r = client.get(
            "/api/v1/catalog/search",
            params={"q": "养老"},
            headers={"Authorization": f"Bearer {province.token('sz_staff')}"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 1
        assert "<mark>" in body["results"][0]["highlight"]
        assert body["facets"]["theme"] == [{"value": "社会保障", "count": 1}]
