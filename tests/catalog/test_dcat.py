"""DCAT-AP 3 JSON-LD: parsed with rdflib and checked as triples."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from yiwang.app import create_app
from yiwang.catalog import dcat, service
from yiwang.identity.authz import Actor
from yiwang.runtime import Platform

EU = "http://publications.europa.eu/resource/authority"
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
BASE = "http://testserver"
OPEN = {"share_type": "unconditional", "share_condition": "", "open_type": "unconditional"}


@pytest.fixture
def catalog(platform: Platform, province: Province) -> Platform:
    items = [
        resource_data(
            "养老机构名录",
            code="R-HOMES",
            themes=["社会保障"],
            keywords=["养老", "机构"],
            update_cycle="monthly",
            **OPEN,
        ),
        resource_data(
            "空气质量监测数据",
            code="R-AIR",
            provider="440300-amr",
            themes=["生态环境"],
            keywords=["空气"],
            update_cycle="realtime",
            share_method="file",
        ),
        resource_data(
            "不动产权属信息",
            code="R-LAND",
            share_type="none",
            share_condition="",
            share_basis="《不动产登记暂行条例》",
            update_cycle="irregular",
            released=None,
        ),
    ]
    with platform.session_scope() as db:
        service.import_resources(db, Actor.system(), items, publish=True)
        service.import_resources(db, Actor.system(), [resource_data("草稿资源", code="R-DRAFT")])
    return platform


@pytest.fixture
def client(catalog: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(catalog), raise_server_exceptions=False) as c:
        yield c


def fetch(client: TestClient, path: str, token: str | None = None) -> Graph:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    with warnings.catch_warnings():
        # rdflib's own JSON-LD parser builds a ConjunctiveGraph, which rdflib 7 deprecates.
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        return Graph().parse(data=response.text, format="json-ld")


def dataset(code: str) -> URIRef:
    return URIRef(f"{BASE}/catalog/{code}.jsonld#dataset")


def datasets(graph: Graph) -> set[str]:
    return {str(graph.value(s, DCTERMS.identifier)) for s in graph.subjects(RDF.type, DCAT.Dataset)}


class TestCatalog:
    def test_catalog_with_its_datasets(self, client: TestClient, province: Province) -> None:
        graph = fetch(client, "/catalog.jsonld", province.token("sz_staff"))
        [cat] = graph.subjects(RDF.type, DCAT.Catalog)
        assert graph.value(cat, DCTERMS.title).language == "zh"  # type: ignore[union-attr]
        assert graph.value(cat, DCTERMS.description) is not None
        publisher = graph.value(cat, DCTERMS.publisher)
        assert (publisher, RDF.type, FOAF.Agent) in graph
        assert set(graph.objects(cat, DCAT.dataset)) == {
            dataset("R-HOMES"),
            dataset("R-AIR"),
            dataset("R-LAND"),
        }
        assert datasets(graph) == {"R-HOMES", "R-AIR", "R-LAND"}  # not the draft

    def test_anonymous_gets_the_open_subset(self, client: TestClient) -> None:
        assert datasets(fetch(client, "/catalog.jsonld")) == {"R-HOMES"}

    def test_paging(self, client: TestClient, province: Province, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(dcat, "PAGE_SIZE", 2)
        token = province.token("sz_staff")
        first = fetch(client, "/catalog.jsonld", token)
        second = fetch(client, "/catalog.jsonld?page=2", token)
        assert len(datasets(first)) == 2
        assert len(datasets(second)) == 1
        assert datasets(first) | datasets(second) == {"R-HOMES", "R-AIR", "R-LAND"}
        view = URIRef(f"{BASE}/catalog.jsonld?page=1")
        assert (view, RDF.type, HYDRA.PagedCollection) in first
        assert first.value(view, HYDRA.nextPage) == Literal(f"{BASE}/catalog.jsonld?page=2")
        assert first.value(view, HYDRA.totalItems).toPython() == 3  # type: ignore[union-attr]
        page2 = URIRef(f"{BASE}/catalog.jsonld?page=2")
        assert second.value(page2, HYDRA.previousPage) == Literal(f"{BASE}/catalog.jsonld?page=1")
        assert second.value(page2, HYDRA.nextPage) is None
        assert (
            client.get("/catalog.jsonld?page=3", headers={"Authorization": f"Bearer {token}"}).status_code
            == 404
        )

    def test_bad_page(self, client: TestClient) -> None:
        assert client.get("/catalog.jsonld?page=0").status_code == 422


class TestDataset:
    def test_dataset_triples(self, client: TestClient) -> None:
        graph = fetch(client, "/catalog/R-HOMES.jsonld")
        ds = dataset("R-HOMES")
        assert (ds, RDF.type, DCAT.Dataset) in graph
        assert (ds, DCTERMS.title, Literal("养老机构名录", lang="zh")) in graph
        assert graph.value(ds, DCTERMS.description).language == "zh"  # type: ignore[union-attr]
        assert (ds, DCTERMS.identifier, Literal("R-HOMES")) in graph
        assert set(graph.objects(ds, DCAT.keyword)) == {
            Literal("养老", lang="zh"),
            Literal("机构", lang="zh"),
        }
        assert (ds, DCTERMS.accrualPeriodicity, URIRef(f"{EU}/frequency/MONTHLY")) in graph
        assert (ds, DCTERMS.accessRights, URIRef(f"{EU}/access-right/PUBLIC")) in graph
        assert str(graph.value(ds, DCTERMS.issued)) == "2024-01-01"
        assert graph.value(ds, DCTERMS.modified) is not None
        publisher = graph.value(ds, DCTERMS.publisher)
        assert (publisher, RDF.type, FOAF.Agent) in graph
        assert (publisher, FOAF.name, Literal("广州市市场监督管理局", lang="zh")) in graph
        [theme] = graph.objects(ds, DCAT.theme)
        assert graph.value(theme, URIRef("http://www.w3.org/2004/02/skos/core#prefLabel")) == Literal(
            "社会保障", lang="zh"
        )

    def test_distributions(self, client: TestClient, province: Province) -> None:
        graph = fetch(client, "/catalog/R-AIR.jsonld", province.token("gz_staff"))
        ds = dataset("R-AIR")
        urls = {str(graph.value(d, DCAT.accessURL)) for d in graph.objects(ds, DCAT.distribution)}
        assert urls == {
            f"{BASE}/gateway/v1/resources/R-AIR/records",
            f"{BASE}/gateway/v1/resources/R-AIR/file",
        }
        formats = {graph.value(d, DCTERMS.format) for d in graph.objects(ds, DCAT.distribution)}
        assert formats == {URIRef(f"{EU}/file-type/JSON"), URIRef(f"{EU}/file-type/BIN")}
        for d in graph.objects(ds, DCAT.distribution):
            assert (d, RDF.type, DCAT.Distribution) in graph

    @pytest.mark.parametrize(
        ("code", "frequency", "rights"),
        [("R-AIR", "CONT", "RESTRICTED"), ("R-LAND", "IRREG", "NON_PUBLIC")],
    )
    def test_periodicity_and_access_rights(
        self, client: TestClient, province: Province, code: str, frequency: str, rights: str
    ) -> None:
        graph = fetch(client, f"/catalog/{code}.jsonld", province.token("gz_staff"))
        assert graph.value(dataset(code), DCTERMS.accrualPeriodicity) == URIRef(f"{EU}/frequency/{frequency}")
        assert graph.value(dataset(code), DCTERMS.accessRights) == URIRef(f"{EU}/access-right/{rights}")

    def test_issued_falls_back_to_publication(self, client: TestClient, province: Province) -> None:
        graph = fetch(client, "/catalog/R-LAND.jsonld", province.token("gz_staff"))
        issued = graph.value(dataset("R-LAND"), DCTERMS.issued)
        assert isinstance(issued, Literal)
        assert issued.datatype == XSD.dateTime

    @pytest.mark.parametrize(("code", "signed_in"), [("R-AIR", False), ("R-DRAFT", True), ("R-NOPE", True)])
    def test_hidden_is_not_found(
        self, client: TestClient, province: Province, code: str, signed_in: bool
    ) -> None:
        headers = {"Authorization": f"Bearer {province.token('admin')}"} if signed_in else {}
        response = client.get(f"/catalog/{code}.jsonld", headers=headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_not_found"
