"""Catalog search through the service and the API: Chinese inside words, pinyin, facets, visibility."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from yiwang.app import create_app
from yiwang.catalog import service
from yiwang.catalog.search import FACETS, SORTS, search_resources
from yiwang.identity.authz import Actor
from yiwang.kit.db import Database
from yiwang.kit.search import parse_query
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


# ------------------------------------------------------------------ a larger catalog, checked by brute force

SUBJECTS = ["企业登记", "养老保险", "公交线路", "学校名录", "空气质量", "不动产登记", "社保参保"]
SUFFIXES = ["基本信息", "明细", "统计", "名录"]


@pytest.fixture
def many(platform: Platform, province: Province) -> Platform:
    """42 published resources with varied names, keywords, themes, providers and facet values."""
    items = []
    for i in range(42):
        subject = SUBJECTS[i % len(SUBJECTS)]
        share = ["unconditional", "conditional", "none"][i % 3]
        items.append(
            resource_data(
                f"{'广州市' if i % 4 else ''}{subject}{SUFFIXES[i % len(SUFFIXES)]}{i:02d}",
                code=f"R-M{i:02d}",
                provider="440300-amr" if i % 5 == 0 else "440100-amr",
                themes=[["市场监管", "社会保障", "交通运输"][i % 3]],
                keywords=[SUBJECTS[(i + 2) % len(SUBJECTS)], "数据"],
                summary=f"第{i}号资源，含{SUBJECTS[(i + 4) % len(SUBJECTS)]}的统计。",
                share_type=share,
                share_condition="仅用于审批" if share == "conditional" else "",
                share_basis="涉及隐私" if share == "none" else "",
                open_type="unconditional" if share == "unconditional" and i % 2 else "none",
                level=["core", "important", "general"][i % 3],
                format=["table", "api", "file"][(i // 2) % 3],
                update_cycle=["daily", "monthly", "yearly", "irregular"][i % 4],
            )
        )
    with platform.session_scope() as db:
        service.import_resources(db, Actor.system(), items, publish=True)
    return platform


def reference(db: Session, q: str, filters: dict[str, list[str]], open_only: bool) -> dict[str, Any]:
    """The result a search must give, computed the plain way: the kit's match subquery (or every
    published resource), the filters and the facet counts by a loop over the matching rows."""
    from yiwang.catalog.models import Resource
    from yiwang.identity import service as identity
    from yiwang.kit import search as index

    resources = {
        r.code: r for r in db.execute(select(Resource).where(Resource.status == "published")).scalars()
    }
    if q:
        matched = {
            key for (key,) in db.execute(select(index.match_subquery(db, "resource", q).subquery().c.key))
        }
        matched |= {q} & set(resources)
    else:
        matched = set(resources)
    orgs = identity.orgs_by_ids(db, {r.provider_id for r in resources.values()})

    def values(r: Resource, name: str) -> list[str]:
        if name == "provider":
            return [orgs[r.provider_id].code]
        if name == "region":
            return [r.region_code]
        if name == "theme":
            return list(json.loads(r.themes))
        if name == "keyword":
            return list(json.loads(r.keywords))
        return [getattr(r, name)]

    hits = [
        resources[code]
        for code in matched
        if code in resources
        and (not open_only or resources[code].open_type == "unconditional")
        and all(set(values(resources[code], name)) & set(wanted) for name, wanted in filters.items())
    ]
    facets = {name: dict(Counter(v for r in hits for v in values(r, name))) for name in FACETS}
    return {"hits": hits, "facets": facets}


QUERIES = ["", "登记", "广州", "qydj", "养老", "数据", "统计", "广州 公交", "R-M07", "登", "zzzz"]
FILTERS: list[dict[str, list[str]]] = [
    {},
    {"share_type": ["unconditional", "none"]},
    {"provider": ["440300-amr"]},
    {"theme": ["社会保障"], "level": ["core", "general"]},
    {"keyword": ["公交线路"], "region": ["440100"]},
    {"format": ["api"], "update_cycle": ["daily", "yearly"], "open_type": ["none"]},
]


class TestSearchAgainstBruteForce:
    @pytest.mark.parametrize("q", QUERIES)
    @pytest.mark.parametrize("filters", FILTERS)
    @pytest.mark.parametrize("open_only", [False, True])
    def test_total_and_every_facet(
        self, many: Platform, q: str, filters: dict[str, list[str]], open_only: bool
    ) -> None:
        with many.session_scope(read_only=True) as db:
            expected = reference(db, q, filters, open_only)
            page = search_resources(db, q=q, filters=filters, open_only=open_only, limit=100)
            assert page.total == len(expected["hits"])
            assert sorted(r.code for r, _ in page.items) == sorted(r.code for r in expected["hits"])
            for name in FACETS:
                assert dict(page.facets[name]) == expected["facets"][name], name

    @pytest.mark.parametrize("q", QUERIES)
    def test_sort_orders(self, many: Platform, q: str) -> None:
        with many.session_scope(read_only=True) as db:
            hits = reference(db, q, {}, False)["hits"]
            newest = [r.code for r, _ in search_resources(db, q=q, sort="newest", limit=100).items]
            by_name = [r.code for r, _ in search_resources(db, q=q, sort="name", limit=100).items]
        assert newest == [r.code for r in sorted(hits, key=lambda r: (-r.published_at.timestamp(), r.id))]
        assert by_name == [r.code for r in sorted(hits, key=lambda r: (r.name, r.id))]

    @pytest.mark.parametrize("q", [q for q in QUERIES if q])
    def test_relevance_name_then_keywords_then_the_rest(self, many: Platform, q: str) -> None:
        with many.session_scope(read_only=True) as db:
            page = search_resources(db, q=q, limit=100)
        scores = [score for _, score in page.items]
        assert scores == sorted(scores, reverse=True)
        parsed = parse_query(q)
        tiers = []
        for resource, _ in page.items:
            if resource.code == q:
                tiers.append(3)
            elif _all_units_in(parsed, resource.name):
                tiers.append(2)
            elif _all_units_in(parsed, resource.name + " " + " ".join(json.loads(resource.keywords))):
                tiers.append(1)
            else:
                tiers.append(0)
        assert tiers == sorted(tiers, reverse=True), [r.name for r, _ in page.items]
        for tier in set(tiers):  # within a tier: shorter names first
            lengths = [len(r.name) for (r, _), t in zip(page.items, tiers, strict=True) if t == tier]
            assert lengths == sorted(lengths)

    def test_pages_follow_one_order(self, many: Platform) -> None:
        for sort in SORTS:
            with many.session_scope(read_only=True) as db:
                whole = [r.code for r, _ in search_resources(db, q="登记", sort=sort, limit=100).items]
                paged = [
                    r.code
                    for offset in range(0, len(whole), 4)
                    for r, _ in search_resources(db, q="登记", sort=sort, limit=4, offset=offset).items
                ]
            assert paged == whole, sort

    def test_exact_code_comes_first_and_obeys_filters(self, many: Platform) -> None:
        with many.session_scope(read_only=True) as db:
            page = search_resources(db, q="R-M07")
            assert page.items[0][0].code == "R-M07"
            assert page.items[0][1] > 1e6
            hidden = search_resources(db, q="R-M07", filters={"provider": ["440300-amr"]})
        assert "R-M07" not in [r.code for r, _ in hidden.items]

    def test_most_requested_first(self, many: Platform) -> None:
        with many.session_scope() as db:
            ids = {r.code: r.id for r, _ in search_resources(db, q="养老", limit=100).items}
            for code, n in [("R-M08", 3), ("R-M22", 1), ("R-M15", 2)]:
                for _ in range(n):
                    service.count_request(db, ids[code])
        with many.session_scope(read_only=True) as db:
            first = [r.code for r, _ in search_resources(db, q="养老", sort="requested").items][:3]
            browse = [r.code for r, _ in search_resources(db, sort="requested").items][:3]
        assert first == browse == ["R-M08", "R-M15", "R-M22"]


def _all_units_in(parsed: Any, text: str) -> bool:
    from yiwang.kit.search import analyze

    tokens = set(analyze(text))
    return all(
        any(
            all(t.token in tokens or (t.prefix and any(x.startswith(t.token) for x in tokens)) for t in alt)
            for alt in unit
        )
        for unit in parsed.units
    )


class TestSearchStaysCurrent:
    """Each process keeps a view of the published catalog; every change must reach every view."""

    def test_publish_and_revoke_are_seen_at_once(self, catalog: Platform) -> None:
        assert codes(catalog, "公交") == []
        with catalog.session_scope() as db:
            service.import_resources(
                db, Actor.system(), [resource_data("公交线路信息", code="R-BUS")], publish=True
            )
        assert codes(catalog, "公交") == ["R-BUS"]
        with catalog.session_scope(read_only=True) as db:
            assert dict(search_resources(db).facets["provider"])["440100-amr"] == 4
        with catalog.session_scope() as db:
            service.revoke_resource(db, Actor.system(), "R-BUS", reason="停止更新")
        assert codes(catalog, "公交") == []
        with catalog.session_scope(read_only=True) as db:
            assert dict(search_resources(db).facets["provider"])["440100-amr"] == 3

    def test_a_rolled_back_publish_leaves_no_trace(self, catalog: Platform) -> None:
        assert codes(catalog, "公交") == []
        db = catalog.db.session()
        try:
            service.import_resources(
                db, Actor.system(), [resource_data("公交线路信息", code="R-BUS")], publish=True
            )
            assert [r.code for r, _ in search_resources(db, q="公交").items] == ["R-BUS"]  # its own change
        finally:
            db.rollback()
            db.close()
        assert codes(catalog, "公交") == []
        assert codes(catalog, "R-BUS") == []

    def test_another_worker_sees_the_change(self, catalog: Platform) -> None:
        other = Database(catalog.db.url)  # a second engine: what another worker process holds
        try:
            with other.session_scope(read_only=True) as db:
                assert search_resources(db, q="公交").total == 0
            with catalog.session_scope() as db:
                service.import_resources(
                    db, Actor.system(), [resource_data("公交线路信息", code="R-BUS")], publish=True
                )
            with other.session_scope(read_only=True) as db:
                assert [r.code for r, _ in search_resources(db, q="公交").items] == ["R-BUS"]
        finally:
            other.dispose()
