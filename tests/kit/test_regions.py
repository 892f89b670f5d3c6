"""The Guangdong region table (GB/T 2260) and the demo province's department lists.

Expected figures are the published ones, written out here, never derived from
the module under test: Guangdong has 21 prefecture-level cities and 122
county-level divisions (65 市辖区, 20 县级市, 34 县, 3 自治县); 东莞 has 4 街道
and 28 镇, 中山 8 街道 and 15 镇 (统计用区划代码 2023).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yiwang.demo.departments import (
    CITY_DEPARTMENTS,
    CITY_NAME_OVERRIDES,
    PROVINCIAL_DEPARTMENTS,
    city_departments,
    department_code,
)
from yiwang.kit import regions
from yiwang.kit.regions import (
    GUANGDONG,
    PROVINCES,
    children,
    cities,
    is_known,
    level,
    parent_code,
    region_name,
)
from yiwang.kit.validators import validate_region_code

CITIES = {
    "440100": "广州市",
    "440200": "韶关市",
    "440300": "深圳市",
    "440400": "珠海市",
    "440500": "汕头市",
    "440600": "佛山市",
    "440700": "江门市",
    "440800": "湛江市",
    "440900": "茂名市",
    "441200": "肇庆市",
    "441300": "惠州市",
    "441400": "梅州市",
    "441500": "汕尾市",
    "441600": "河源市",
    "441700": "阳江市",
    "441800": "清远市",
    "441900": "东莞市",
    "442000": "中山市",
    "445100": "潮州市",
    "445200": "揭阳市",
    "445300": "云浮市",
}

# County-level divisions per city (东莞 and 中山 have none).
COUNTY_COUNTS = {
    "440100": 11,
    "440200": 10,
    "440300": 9,
    "440400": 3,
    "440500": 7,
    "440600": 5,
    "440700": 7,
    "440800": 9,
    "440900": 5,
    "441200": 8,
    "441300": 5,
    "441400": 8,
    "441500": 4,
    "441600": 6,
    "441700": 4,
    "441800": 8,
    "445100": 3,
    "445200": 5,
    "445300": 5,
}

GUANGZHOU_DISTRICTS = {
    "440103": "荔湾区",
    "440104": "越秀区",
    "440105": "海珠区",
    "440106": "天河区",
    "440111": "白云区",
    "440112": "黄埔区",
    "440113": "番禺区",
    "440114": "花都区",
    "440115": "南沙区",
    "440117": "从化区",
    "440118": "增城区",
}

SHENZHEN_DISTRICTS = {
    "440303": "罗湖区",
    "440304": "福田区",
    "440305": "南山区",
    "440306": "宝安区",
    "440307": "龙岗区",
    "440308": "盐田区",
    "440309": "龙华区",
    "440310": "坪山区",
    "440311": "光明区",
}

COUNTY_CODES = [code for code in GUANGDONG if len(code) == 6 and code[4:] != "00"]
TOWN_CODES = [code for code in GUANGDONG if len(code) == 9]


# ------------------------------------------------------------------ the table


def test_province_and_the_21_cities_have_their_official_names() -> None:
    assert GUANGDONG["440000"] == "广东省"
    assert {code: GUANGDONG[code] for code in CITIES} == CITIES
    assert cities() == sorted(CITIES)
    assert children("440000") == sorted(CITIES)


def test_122_county_level_divisions_by_kind() -> None:
    assert len(COUNTY_CODES) == 122
    names = [GUANGDONG[code] for code in COUNTY_CODES]
    autonomous = [n for n in names if n.endswith("自治县")]
    counties = [n for n in names if n.endswith("县") and not n.endswith("自治县")]
    county_cities = [n for n in names if n.endswith("市")]
    districts = [n for n in names if n.endswith("区")]
    assert (len(districts), len(county_cities), len(counties), len(autonomous)) == (65, 20, 34, 3)


@pytest.mark.parametrize(("city", "count"), sorted(COUNTY_COUNTS.items()))
def test_county_count_per_city(city: str, count: int) -> None:
    kids = children(city)
    assert len(kids) == count
    assert all(len(kid) == 6 for kid in kids)


def test_guangzhou_has_its_11_districts() -> None:
    assert {code: region_name(code) for code in children("440100")} == GUANGZHOU_DISTRICTS


def test_shenzhen_has_its_9_districts_and_no_code_for_shenshan() -> None:
    assert {code: region_name(code) for code in children("440300")} == SHENZHEN_DISTRICTS
    assert "深汕特别合作区" not in GUANGDONG.values()


def test_foshan_districts() -> None:
    assert {code: region_name(code) for code in children("440600")} == {
        "440604": "禅城区",
        "440605": "南海区",
        "440606": "顺德区",
        "440607": "三水区",
        "440608": "高明区",
    }


def test_no_placeholder_rows() -> None:
    assert "市辖区" not in GUANGDONG.values()
    assert "440101" not in GUANGDONG


def test_every_county_sits_under_a_city_of_the_table() -> None:
    for code in COUNTY_CODES:
        parent = parent_code(code)
        assert parent in CITIES, code
        assert parent not in ("441900", "442000"), code


def test_dongguan_and_zhongshan_have_only_towns() -> None:
    dongguan, zhongshan = children("441900"), children("442000")
    assert all(len(code) == 9 for code in dongguan + zhongshan)
    assert len(dongguan) == 32
    assert len(zhongshan) == 23
    assert sum(GUANGDONG[c].endswith("街道") for c in dongguan) == 4
    assert sum(GUANGDONG[c].endswith("镇") for c in dongguan) == 28
    assert sum(GUANGDONG[c].endswith("街道") for c in zhongshan) == 8
    assert sum(GUANGDONG[c].endswith("镇") for c in zhongshan) == 15
    assert region_name("441900003") == "东城街道"
    assert region_name("441900121") == "虎门镇"
    assert region_name("442000001") == "石岐街道"
    assert region_name("442000118") == "小榄镇"
    # Merged or renamed in 2020-2021: no longer divisions of their own.
    assert not {"东升镇", "民众镇", "南朗镇"} & set(GUANGDONG.values())


def test_towns_only_under_dongguan_and_zhongshan() -> None:
    assert {code[:6] for code in TOWN_CODES} == {"441900", "442000"}


def test_names_unique_within_a_parent() -> None:
    by_parent: dict[str | None, list[str]] = {}
    for code, name in GUANGDONG.items():
        by_parent.setdefault(parent_code(code), []).append(name)
    for parent, names in by_parent.items():
        duplicates = [n for n, k in Counter(names).items() if k > 1]
        assert not duplicates, (parent, duplicates)


def test_every_code_passes_the_validator() -> None:
    for code in GUANGDONG:
        assert validate_region_code(code, known=GUANGDONG) == code


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        GUANGDONG["440199"] = "假区"  # type: ignore[index]
    with pytest.raises(TypeError):
        PROVINCES["99"] = "假省"  # type: ignore[index]


def test_34_provinces() -> None:
    assert len(PROVINCES) == 34
    assert PROVINCES["11"] == "北京市"
    assert PROVINCES["44"] == "广东省"
    assert PROVINCES["65"] == "新疆维吾尔自治区"
    assert PROVINCES["71"] == "台湾省"
    assert PROVINCES["81"] == "香港特别行政区"
    assert PROVINCES["82"] == "澳门特别行政区"
    assert all(len(code) == 2 and code.isdigit() for code in PROVINCES)


# ------------------------------------------------------------------ lookups


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("440000", "province"),
        ("110000", "province"),
        ("440100", "city"),
        ("441900", "city"),
        ("440106", "county"),
        ("441882", "county"),
        ("441900003", "town"),
        ("442000118", "town"),
    ],
)
def test_level(code: str, expected: str) -> None:
    assert level(code) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("440106", "440100"),
        ("445381", "445300"),
        ("441900003", "441900"),
        ("442000001", "442000"),
        ("440100", "440000"),
        ("445300", "440000"),
        ("440000", None),
        ("110000", None),
    ],
)
def test_parent_code(code: str, expected: str | None) -> None:
    assert parent_code(code) == expected


@pytest.mark.parametrize(
    "bad", ["", "4401", "44010", "4401060", "4419000030", "44010a", "４４０１００", " 440100"]
)
def test_malformed_codes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="region code"):
        level(bad)
    with pytest.raises(ValueError, match="region code"):
        parent_code(bad)
    assert region_name(bad) is None
    assert not is_known(bad)
    assert children(bad) == []


def test_region_name_and_is_known() -> None:
    assert region_name("440106") == "天河区"
    assert region_name("441502") == "城区"
    assert region_name("110000") == "北京市"
    assert region_name("820000") == "澳门特别行政区"
    assert region_name("440199") is None
    assert region_name("990000") is None
    assert region_name("110101") is None  # other provinces: province level only
    assert is_known("440000")
    assert is_known("441900003")
    assert not is_known("441900401")  # 松山湖: a functional area, not a 镇街
    assert not is_known(None)  # type: ignore[arg-type]


def test_children_of_leaves_and_unknown_codes() -> None:
    assert children("440106") == []
    assert children("441900003") == []
    assert children("110000") == []


def test_children_returns_a_fresh_list() -> None:
    first = children("440100")
    first.clear()
    assert len(children("440100")) == 11
    listed = cities()
    listed.append("999999")
    assert len(cities()) == 21


def test_tree_is_consistent() -> None:
    """Walking down from the province reaches every code exactly once."""
    seen: list[str] = []
    stack = ["440000"]
    while stack:
        code = stack.pop()
        seen.append(code)
        for kid in children(code):
            assert parent_code(kid) == code
            stack.append(kid)
    assert sorted(seen) == sorted(GUANGDONG)


@given(st.sampled_from(sorted(GUANGDONG)))
def test_parent_of_a_known_code_is_known(code: str) -> None:
    parent = parent_code(code)
    assert parent is None or is_known(parent)
    assert (parent is None) == (level(code) == "province")


def test_kit_module_imports_nothing_outside_kit() -> None:
    source = regions.__loader__.get_source(regions.__name__)  # type: ignore[union-attr]
    assert source is not None
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in imports if "yiwang" in line and "yiwang.kit" not in line]


# ------------------------------------------------------------------ demo departments


def test_provincial_departments() -> None:
    assert len(PROVINCIAL_DEPARTMENTS) >= 20
    shorts = [short for short, _ in PROVINCIAL_DEPARTMENTS]
    names = [name for _, name in PROVINCIAL_DEPARTMENTS]
    assert len(set(shorts)) == len(shorts)
    assert len(set(names)) == len(names)
    assert all(name.startswith(("广东省", "国家税务总局广东省")) for name in names)
    as_dict = dict(PROVINCIAL_DEPARTMENTS)
    assert as_dict["amr"] == "广东省市场监督管理局"
    assert as_dict["gat"] == "广东省公安厅"
    assert as_dict["hrss"] == "广东省人力资源和社会保障厅"
    assert as_dict["zsj"] == "广东省政务服务和数据管理局"
    assert as_dict["tax"] == "国家税务总局广东省税务局"


def test_city_department_templates() -> None:
    assert len(CITY_DEPARTMENTS) >= 15
    shorts = [short for short, _ in CITY_DEPARTMENTS]
    templates = [template for _, template in CITY_DEPARTMENTS]
    assert len(set(shorts)) == len(shorts)
    assert len(set(templates)) == len(templates)
    assert all(template.count("{city}") == 1 for template in templates)
    # The same function keeps its short code at both levels.
    assert {"amr", "gat", "hrss", "zsj", "tax"} <= set(shorts) & {s for s, _ in PROVINCIAL_DEPARTMENTS}


def test_short_codes_are_ascii_mnemonics() -> None:
    for short, _ in PROVINCIAL_DEPARTMENTS + CITY_DEPARTMENTS:
        assert re.fullmatch(r"[a-z]+", short), short


@pytest.mark.parametrize("city", sorted(CITIES))
def test_city_departments_names_are_unique(city: str) -> None:
    departments = city_departments(city)
    assert [short for short, _ in departments] == [short for short, _ in CITY_DEPARTMENTS]
    names = [name for _, name in departments]
    assert len(set(names)) == len(names)
    assert all(CITIES[city] in name for name in names)


def test_city_departments_of_guangzhou_and_shenzhen() -> None:
    guangzhou = dict(city_departments("440100"))
    assert guangzhou["gat"] == "广州市公安局"
    assert guangzhou["zsj"] == "广州市政务服务和数据管理局"
    assert guangzhou["nr"] == "广州市规划和自然资源局"
    assert guangzhou["tax"] == "国家税务总局广州市税务局"
    shenzhen = dict(city_departments("440300"))
    assert shenzhen["zsj"] == "深圳市政务服务和数据管理局"
    assert shenzhen["zjt"] == "深圳市住房和建设局"
    assert shenzhen["amr"] == "深圳市市场监督管理局"
    dongguan = dict(city_departments("441900"))
    assert dongguan["hrss"] == "东莞市人力资源和社会保障局"


def test_overrides_name_known_cities_and_short_codes() -> None:
    shorts = {short for short, _ in CITY_DEPARTMENTS}
    for city, overrides in CITY_NAME_OVERRIDES.items():
        assert city in CITIES
        assert set(overrides) <= shorts
        assert all(name.startswith(CITIES[city]) for name in overrides.values())


def test_city_departments_of_an_unknown_city() -> None:
    with pytest.raises(KeyError):
        city_departments("449900")


def test_department_code_convention() -> None:
    assert department_code("440000", "amr") == "440000-amr"
    assert department_code("440100", "gat") == "440100-gat"
