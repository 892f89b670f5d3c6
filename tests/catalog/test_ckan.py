"""The CKAN-compatible Action API, driven by the ckanapi client itself against a real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import ckanapi
import pytest
import requests
import uvicorn

from tests.catalog.conftest import resource_data
from tests.conftest import Province
from yiwang.app import create_app
from yiwang.catalog import service
from yiwang.identity.authz import Actor
from yiwang.runtime import Platform

OPEN = {"share_type": "unconditional", "share_condition": "", "open_type": "unconditional"}


@pytest.fixture(scope="module")
def server(backend_platform: Platform) -> Iterator[str]:
    """uvicorn in a thread on a free port, for the backend's platform (as tests/e2e does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(backend_platform),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",
        lifespan="off",
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="ckan-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def catalog(platform: Platform, province: Province) -> Platform:
    published = [
        resource_data("养老保险参保信息", code="R-PENSION", themes=["社会保障"], keywords=["养老", "社保"]),
        resource_data(
            "养老机构名录",
            code="R-HOMES",
            format="api",
            share_method="api",
            themes=["社会保障"],
            keywords=["养老", "机构"],
            summary="全市养老机构的名称、地址与床位数",
            **OPEN,
        ),
        resource_data(
            "证券代码对照表",
            code="R-SEC",
            provider="440300-amr",
            themes=["金融"],
            keywords=["证券"],
            share_method="file",
            **OPEN,
        ),
        resource_data("企业登记基本信息", code="R-FIRM", share_method="table", **OPEN),
        resource_data(
            "空气质量监测数据", code="R-AIR", themes=["生态环境"], keywords=["空气"], update_cycle="realtime"
        ),
    ]
    with platform.session_scope() as db:
        service.import_resources(db, Actor.system(), published, publish=True)
        service.import_resources(db, Actor.system(), [resource_data("养老金发放草稿", code="R-DRAFT")])
    return platform


Client = Callable[..., ckanapi.RemoteCKAN]


@pytest.fixture
def ckan(server: str, catalog: Platform) -> Iterator[Client]:
    """RemoteCKAN clients on real ``requests`` sessions, closed after the test."""
    clients: list[ckanapi.RemoteCKAN] = []

    def make(token: str | None = None, **kwargs: Any) -> ckanapi.RemoteCKAN:
        client = ckanapi.RemoteCKAN(server, apikey=token, session=requests.Session(), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def staff(ckan: Client, province: Province) -> ckanapi.RemoteCKAN:
    return ckan(province.token("sz_staff"))


def names(result: dict[str, Any]) -> list[str]:
    return [p["name"] for p in result["results"]]


class TestPackageSearch:
    def test_pension_resources_come_first(self, staff: ckanapi.RemoteCKAN) -> None:
        result = staff.action.package_search(q="养老")
        assert set(names(result)[:2]) == {"R-PENSION", "R-HOMES"}
        assert result["count"] == 2  # the draft 养老金发放草稿 is not published
        assert result["sort"] == "score desc, metadata_modified desc"
        assert result["facets"] == {}
        assert result["search_facets"] == {}

    def test_everything_with_star_query(self, staff: ckanapi.RemoteCKAN) -> None:
        assert staff.action.package_search(q="*:*")["count"] == 5

    @pytest.mark.parametrize(
        ("fq", "expected"),
        [
            ("organization:440300-amr", {"R-SEC"}),
            ('tags:"养老"', {"R-PENSION", "R-HOMES"}),
            ("groups:社会保障 +res_format:API", {"R-HOMES"}),
            ("res_format:table AND organization:440100-amr", {"R-PENSION", "R-FIRM", "R-AIR"}),
            ("tags:(证券 OR 空气)", {"R-SEC", "R-AIR"}),
            ("share_type:unconditional +dataset_type:dataset", {"R-HOMES", "R-SEC", "R-FIRM"}),
            ("dataset_type:harvest", set()),
        ],
    )
    def test_fq_filters(self, staff: ckanapi.RemoteCKAN, fq: str, expected: set[str]) -> None:
        result = staff.action.package_search(fq=fq, rows=100)
        assert set(names(result)) == expected
        assert result["count"] == len(expected)

    def test_rows_and_start_page_the_results(self, staff: ckanapi.RemoteCKAN) -> None:
        first = staff.action.package_search(rows=2, start=0, sort="name asc")
        second = staff.action.package_search(rows=2, start=2, sort="name asc")
        rest = staff.action.package_search(rows=2, start=4, sort="name asc")
        assert first["count"] == second["count"] == 5
        assert [len(first["results"]), len(second["results"]), len(rest["results"])] == [2, 2, 1]
        everything = names(first) + names(second) + names(rest)
        assert len(set(everything)) == 5
        titles = [p["title"] for p in first["results"] + second["results"] + rest["results"]]
        assert titles == sorted(titles)

    def test_rows_default_and_maximum(self, staff: ckanapi.RemoteCKAN) -> None:
        assert len(staff.action.package_search()["results"]) == 5
        assert len(staff.action.package_search(rows=5000)["results"]) == 5  # capped, not refused

    def test_facets(self, staff: ckanapi.RemoteCKAN) -> None:
        result = staff.action.package_search(
            **{"facet.field": '["organization", "groups", "tags", "res_format", "license_id"]'}
        )
        assert result["facets"]["organization"] == {"440100-amr": 4, "440300-amr": 1}
        assert result["facets"]["groups"]["社会保障"] == 2
        assert result["facets"]["tags"]["养老"] == 2
        assert result["facets"]["res_format"] == {"TABLE": 4, "API": 1}
        assert result["facets"]["license_id"] == {}
        items = {i["name"]: i for i in result["search_facets"]["organization"]["items"]}
        assert items["440300-amr"] == {
            "name": "440300-amr",
            "display_name": "深圳市市场监督管理局",
            "count": 1,
        }

    def test_facets_follow_the_query(self, staff: ckanapi.RemoteCKAN) -> None:
        result = staff.action.package_search(q="养老", **{"facet.field": ["organization", "res_format"]})
        assert result["facets"] == {"organization": {"440100-amr": 2}, "res_format": {"TABLE": 1, "API": 1}}

    @pytest.mark.parametrize(
        "params",
        [{"rows": -1}, {"rows": "many"}, {"fq": "bogus:1"}, {"fq": "-tags:养老"}, {"sort": "colour desc"}],
    )
    def test_bad_parameters_are_validation_errors(
        self, staff: ckanapi.RemoteCKAN, params: dict[str, Any]
    ) -> None:
        with pytest.raises(ckanapi.ValidationError) as caught:
            staff.action.package_search(**params)
        assert caught.value.error_dict["__type"] == "Validation Error"

    def test_anonymous_sees_only_open_resources(self, ckan: Client) -> None:
        result = ckan().action.package_search(rows=100)
        assert set(names(result)) == {"R-HOMES", "R-SEC", "R-FIRM"}
        assert ckan().action.package_search(q="空气")["count"] == 0

    def test_get_requests_work_too(self, ckan: Client, province: Province) -> None:
        result = ckan(province.token("sz_staff"), get_only=True).action.package_search(q="养老", rows=1)
        assert result["count"] == 2
        assert len(result["results"]) == 1


class TestPackageShow:
    def test_ckan_shape(self, staff: ckanapi.RemoteCKAN, server: str) -> None:
        package = staff.action.package_show(id="R-PENSION")
        assert package["name"] == package["id"] == "R-PENSION"
        assert package["title"] == "养老保险参保信息"
        assert package["notes"].startswith("全市企业的登记注册基本信息")
        assert package["organization"]["name"] == package["owner_org"] == "440100-amr"
        assert package["organization"]["title"] == "广州市市场监督管理局"
        assert [g["name"] for g in package["groups"]] == ["社会保障"]
        assert [t["name"] for t in package["tags"]] == ["养老", "社保"]
        assert package["metadata_modified"]
        assert package["metadata_created"]
        extras = {e["key"]: e["value"] for e in package["extras"]}
        assert extras["share_type"] == "conditional"
        assert extras["share_condition"] == "仅用于行政审批与监管"
        assert extras["update_cycle"] == "daily"
        assert extras["level"] == "important"
        assert extras["category"] == "基础信息资源/法人单位"
        assert extras["region"] == "440100"
        [table, api] = package["resources"]
        assert (table["format"], api["format"]) == ("TABLE", "API")
        assert api["url"] == f"{server}/gateway/v1/resources/R-PENSION/records"
        assert package["num_resources"] == 2

    def test_file_distribution(self, staff: ckanapi.RemoteCKAN, server: str) -> None:
        package = staff.action.package_show(id="R-SEC")
        assert [r["format"] for r in package["resources"]] == ["TABLE", "FILE"]
        assert package["resources"][1]["url"] == f"{server}/gateway/v1/resources/R-SEC/file"

    @pytest.mark.parametrize("code", ["R-NOPE", "R-DRAFT"])
    def test_unknown_or_unpublished_is_not_found(self, staff: ckanapi.RemoteCKAN, code: str) -> None:
        with pytest.raises(ckanapi.NotFound, match=code):
            staff.action.package_show(id=code)

    def test_anonymous_cannot_see_a_closed_resource(self, ckan: Client) -> None:
        assert ckan().action.package_show(id="R-FIRM")["title"] == "企业登记基本信息"
        with pytest.raises(ckanapi.NotFound):
            ckan().action.package_show(id="R-AIR")

    def test_missing_id(self, staff: ckanapi.RemoteCKAN) -> None:
        with pytest.raises(ckanapi.ValidationError) as caught:
            staff.action.package_show()
        assert "id" in caught.value.error_dict


class TestLists:
    def test_package_list(self, staff: ckanapi.RemoteCKAN, ckan: Client) -> None:
        assert sorted(staff.action.package_list()) == ["R-AIR", "R-FIRM", "R-HOMES", "R-PENSION", "R-SEC"]
        assert sorted(ckan().action.package_list()) == ["R-FIRM", "R-HOMES", "R-SEC"]
        assert len(staff.action.package_list(limit=2, offset=1)) == 2

    def test_organization_list(self, staff: ckanapi.RemoteCKAN) -> None:
        assert staff.action.organization_list(sort="name asc") == ["440000-zsj", "440100-amr", "440300-amr"]
        full = staff.action.organization_list(all_fields=True, sort="package_count desc")
        assert [(o["name"], o["title"], o["package_count"]) for o in full] == [
            ("440100-amr", "广州市市场监督管理局", 4),
            ("440300-amr", "深圳市市场监督管理局", 1),
            ("440000-zsj", "广东省政务服务和数据管理局", 0),
        ]

    def test_organization_list_counts_only_what_the_caller_sees(self, ckan: Client) -> None:
        full = ckan().action.organization_list(all_fields=True)
        assert {o["name"]: o["package_count"] for o in full}["440100-amr"] == 2

    def test_organization_show(self, staff: ckanapi.RemoteCKAN) -> None:
        org = staff.action.organization_show(id="440300-amr", include_datasets=True)
        assert org["title"] == "深圳市市场监督管理局"
        assert org["package_count"] == 1
        assert [p["name"] for p in org["packages"]] == ["R-SEC"]
        with pytest.raises(ckanapi.NotFound):
            staff.action.organization_show(id="440300")  # a region, not a department

    def test_group_and_tag_lists(self, staff: ckanapi.RemoteCKAN, ckan: Client) -> None:
        assert sorted(staff.action.group_list()) == ["市场监管", "生态环境", "社会保障", "金融"]
        groups = {g["name"]: g["package_count"] for g in staff.action.group_list(all_fields=True)}
        assert groups["社会保障"] == 2
        assert "空气" in staff.action.tag_list()
        assert "空气" not in ckan().action.tag_list()
        assert staff.action.tag_list(query="养") == ["养老"]

    def test_status_show(self, ckan: Client, server: str) -> None:
        status = ckan().action.status_show()
        assert status["site_url"] == server
        assert status["ckan_version"].startswith("2.")


class TestProtocol:
    def test_envelope_and_both_paths(self, server: str) -> None:
        for path in ("/api/3/action/status_show", "/api/action/status_show"):
            body = requests.get(server + path, timeout=10).json()
            assert body["success"] is True
            assert body["help"] == f"{server}/api/3/action/help_show?name=status_show"

    def test_unknown_action(self, server: str) -> None:
        response = requests.get(f"{server}/api/3/action/package_create", timeout=10)
        assert response.status_code == 400
        body = response.json()
        assert body["success"] is False
        assert body["error"]["__type"] == "Bad request - Action name not known: package_create"

    def test_not_found_envelope(self, server: str, catalog: Platform) -> None:
        response = requests.post(f"{server}/api/3/action/package_show", json={"id": "R-NOPE"}, timeout=10)
        assert response.status_code == 404
        assert response.json()["error"]["__type"] == "Not Found Error"

    def test_form_post(self, server: str, catalog: Platform) -> None:
        response = requests.post(f"{server}/api/3/action/package_show", data={"id": "R-SEC"}, timeout=10)
        assert response.json()["result"]["title"] == "证券代码对照表"

    def test_bearer_and_bare_tokens(self, server: str, catalog: Platform, province: Province) -> None:
        token = province.token("gz_staff")
        for header in (token, f"Bearer {token}"):
            response = requests.get(
                f"{server}/api/3/action/package_show",
                params={"id": "R-AIR"},
                headers={"Authorization": header},
                timeout=10,
            )
            assert response.json()["result"]["name"] == "R-AIR"

    def test_bad_token_is_an_authorization_error(self, ckan: Client) -> None:
        with pytest.raises(ckanapi.NotAuthorized):
            ckan("yw_not-a-token").action.package_search()

    def test_bad_json_body(self, server: str) -> None:
        response = requests.post(
            f"{server}/api/3/action/package_search",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 400
        assert response.json()["error"]["__type"].startswith("Bad request - JSON Error")
