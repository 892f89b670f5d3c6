"""Administrative divisions of Guangdong (GB/T 2260), shipped as Python data.

``GUANGDONG`` maps every code of the reference deployment to its official name:

- ``440000`` 广东省;
- the 21 prefecture-level cities (地级市), e.g. ``440100`` 广州市;
- all 122 county-level divisions (65 市辖区, 20 县级市, 34 县, 3 自治县),
  e.g. ``440106`` 天河区. The placeholder rows such as ``440101`` "市辖区" that GB/T 2260
  lists under each city are not units of their own and are left out;
- the towns and sub-districts (镇街, 9-digit codes) of 东莞 (``441900``) and
  中山 (``442000``), the two cities without county-level districts: their 镇街
  sit directly under the city, e.g. ``441900003`` 东城街道.

The 9-digit codes are the township part (GB/T 10114) of the National Bureau of
Statistics' 统计用区划代码 (2023 edition: 东莞 4 街道 + 28 镇, 中山 8 街道 + 15 镇,
after 中山 merged 东升镇 into 小榄镇 in 2020 and turned 民众 and 南朗 into
街道 in 2021). That list also has "类似乡级单位" for 东莞's 松山湖, 东莞港,
东莞生态园 and 滨海湾新区 (``441900401``-``441900404``); they are functional
areas, not 镇街, and are left out. 深汕特别合作区 has no GB/T 2260 code of its
own (it is administered by 深圳 on land of 汕尾's 海丰县) and is not listed.

``PROVINCES`` holds the 34 province-level divisions (2-digit code → name);
:func:`region_name` and :func:`is_known` also answer for their 6-digit form
(``110000`` → 北京市), so that an organisation outside Guangdong can still be
named. The tree functions (:func:`children`, :func:`cities`) cover Guangdong.

Codes are strings of ASCII digits: 6 digits (province ``pp0000``, city
``ppcc00``, county ``ppccdd``) or 9 digits (a town: its city's or county's
code plus a 3-digit number).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "GUANGDONG",
    "PROVINCES",
    "Level",
    "children",
    "cities",
    "is_known",
    "level",
    "parent_code",
    "region_name",
]

Level = Literal["province", "city", "county", "town"]

PROVINCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "11": "北京市",
        "12": "天津市",
        "13": "河北省",
        "14": "山西省",
        "15": "内蒙古自治区",
        "21": "辽宁省",
        "22": "吉林省",
        "23": "黑龙江省",
        "31": "上海市",
        "32": "江苏省",
        "33": "浙江省",
        "34": "安徽省",
        "35": "福建省",
        "36": "江西省",
        "37": "山东省",
        "41": "河南省",
        "42": "湖北省",
        "43": "湖南省",
        "44": "广东省",
        "45": "广西壮族自治区",
        "46": "海南省",
        "50": "重庆市",
        "51": "四川省",
        "52": "贵州省",
        "53": "云南省",
        "54": "西藏自治区",
        "61": "陕西省",
        "62": "甘肃省",
        "63": "青海省",
        "64": "宁夏回族自治区",
        "65": "新疆维吾尔自治区",
        "71": "台湾省",
        "81": "香港特别行政区",
        "82": "澳门特别行政区",
    }
)

GUANGDONG: Final[Mapping[str, str]] = MappingProxyType(
    {
        "440000": "广东省",
        # 广州市: 11 市辖区
        "440100": "广州市",
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
        # 韶关市: 3 区, 2 县级市, 4 县, 1 自治县
        "440200": "韶关市",
        "440203": "武江区",
        "440204": "浈江区",
        "440205": "曲江区",
        "440222": "始兴县",
        "440224": "仁化县",
        "440229": "翁源县",
        "440232": "乳源瑶族自治县",
        "440233": "新丰县",
        "440281": "乐昌市",
        "440282": "南雄市",
        # 深圳市: 9 市辖区 (深汕特别合作区 has no code of its own)
        "440300": "深圳市",
        "440303": "罗湖区",
        "440304": "福田区",
        "440305": "南山区",
        "440306": "宝安区",
        "440307": "龙岗区",
        "440308": "盐田区",
        "440309": "龙华区",
        "440310": "坪山区",
        "440311": "光明区",
        # 珠海市: 3 区
        "440400": "珠海市",
        "440402": "香洲区",
        "440403": "斗门区",
        "440404": "金湾区",
        # 汕头市: 6 区, 1 县
        "440500": "汕头市",
        "440507": "龙湖区",
        "440511": "金平区",
        "440512": "濠江区",
        "440513": "潮阳区",
        "440514": "潮南区",
        "440515": "澄海区",
        "440523": "南澳县",
        # 佛山市: 5 区
        "440600": "佛山市",
        "440604": "禅城区",
        "440605": "南海区",
        "440606": "顺德区",
        "440607": "三水区",
        "440608": "高明区",
        # 江门市: 3 区, 4 县级市
        "440700": "江门市",
        "440703": "蓬江区",
        "440704": "江海区",
        "440705": "新会区",
        "440781": "台山市",
        "440783": "开平市",
        "440784": "鹤山市",
        "440785": "恩平市",
        # 湛江市: 4 区, 3 县级市, 2 县
        "440800": "湛江市",
        "440802": "赤坎区",
        "440803": "霞山区",
        "440804": "坡头区",
        "440811": "麻章区",
        "440823": "遂溪县",
        "440825": "徐闻县",
        "440881": "廉江市",
        "440882": "雷州市",
        "440883": "吴川市",
        # 茂名市: 2 区, 3 县级市
        "440900": "茂名市",
        "440902": "茂南区",
        "440904": "电白区",
        "440981": "高州市",
        "440982": "化州市",
        "440983": "信宜市",
        # 肇庆市: 3 区, 1 县级市, 4 县
        "441200": "肇庆市",
        "441202": "端州区",
        "441203": "鼎湖区",
        "441204": "高要区",
        "441223": "广宁县",
        "441224": "怀集县",
        "441225": "封开县",
        "441226": "德庆县",
        "441284": "四会市",
        # 惠州市: 2 区, 3 县
        "441300": "惠州市",
        "441302": "惠城区",
        "441303": "惠阳区",
        "441322": "博罗县",
        "441323": "惠东县",
        "441324": "龙门县",
        # 梅州市: 2 区, 1 县级市, 5 县
        "441400": "梅州市",
        "441402": "梅江区",
        "441403": "梅县区",
        "441422": "大埔县",
        "441423": "丰顺县",
        "441424": "五华县",
        "441426": "平远县",
        "441427": "蕉岭县",
        "441481": "兴宁市",
        # 汕尾市: 1 区, 1 县级市, 2 县
        "441500": "汕尾市",
        "441502": "城区",
        "441521": "海丰县",
        "441523": "陆河县",
        "441581": "陆丰市",
        # 河源市: 1 区, 5 县
        "441600": "河源市",
        "441602": "源城区",
        "441621": "紫金县",
        "441622": "龙川县",
        "441623": "连平县",
        "441624": "和平县",
        "441625": "东源县",
        # 阳江市: 2 区, 1 县级市, 1 县
        "441700": "阳江市",
        "441702": "江城区",
        "441704": "阳东区",
        "441721": "阳西县",
        "441781": "阳春市",
        # 清远市: 2 区, 2 县级市, 2 县, 2 自治县
        "441800": "清远市",
        "441802": "清城区",
        "441803": "清新区",
        "441821": "佛冈县",
        "441823": "阳山县",
        "441825": "连山壮族瑶族自治县",
        "441826": "连南瑶族自治县",
        "441881": "英德市",
        "441882": "连州市",
        # 东莞市: no county level; 4 街道 and 28 镇 (统计用区划代码)
        "441900": "东莞市",
        "441900003": "东城街道",
        "441900004": "南城街道",
        "441900005": "万江街道",
        "441900006": "莞城街道",
        "441900101": "石碣镇",
        "441900102": "石龙镇",
        "441900103": "茶山镇",
        "441900104": "石排镇",
        "441900105": "企石镇",
        "441900106": "横沥镇",
        "441900107": "桥头镇",
        "441900108": "谢岗镇",
        "441900109": "东坑镇",
        "441900110": "常平镇",
        "441900111": "寮步镇",
        "441900112": "樟木头镇",
        "441900113": "大朗镇",
        "441900114": "黄江镇",
        "441900115": "清溪镇",
        "441900116": "塘厦镇",
        "441900117": "凤岗镇",
        "441900118": "大岭山镇",
        "441900119": "长安镇",
        "441900121": "虎门镇",
        "441900122": "厚街镇",
        "441900123": "沙田镇",
        "441900124": "道滘镇",
        "441900125": "洪梅镇",
        "441900126": "麻涌镇",
        "441900127": "望牛墩镇",
        "441900128": "中堂镇",
        "441900129": "高埗镇",
        # 中山市: no county level; 8 街道 and 15 镇 (统计用区划代码)
        "442000": "中山市",
        "442000001": "石岐街道",
        "442000002": "东区街道",
        "442000003": "中山港街道",
        "442000004": "西区街道",
        "442000005": "南区街道",
        "442000006": "五桂山街道",
        "442000007": "民众街道",
        "442000008": "南朗街道",
        "442000101": "黄圃镇",
        "442000103": "东凤镇",
        "442000105": "古镇镇",
        "442000106": "沙溪镇",
        "442000107": "坦洲镇",
        "442000108": "港口镇",
        "442000109": "三角镇",
        "442000110": "横栏镇",
        "442000111": "南头镇",
        "442000112": "阜沙镇",
        "442000114": "三乡镇",
        "442000115": "板芙镇",
        "442000116": "大涌镇",
        "442000117": "神湾镇",
        "442000118": "小榄镇",
        # 潮州市: 2 区, 1 县
        "445100": "潮州市",
        "445102": "湘桥区",
        "445103": "潮安区",
        "445122": "饶平县",
        # 揭阳市: 2 区, 1 县级市, 2 县
        "445200": "揭阳市",
        "445202": "榕城区",
        "445203": "揭东区",
        "445222": "揭西县",
        "445224": "惠来县",
        "445281": "普宁市",
        # 云浮市: 2 区, 1 县级市, 2 县
        "445300": "云浮市",
        "445302": "云城区",
        "445303": "云安区",
        "445321": "新兴县",
        "445322": "郁南县",
        "445381": "罗定市",
    }
)

_CODE_RE: Final = re.compile(r"[0-9]{6}(?:[0-9]{3})?")


def _checked(code: str) -> str:
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        raise ValueError(f"not a 6- or 9-digit region code: {code!r}")
    return code


def level(code: str) -> Level:
    """The level of a region code, from its shape alone.

    ``440000`` → ``"province"``, ``440100`` → ``"city"``, ``440106`` →
    ``"county"``, ``441900003`` → ``"town"``. The code need not be in the
    table; raises :class:`ValueError` when it is not 6 or 9 ASCII digits.
    """
    _checked(code)
    if len(code) == 9:
        return "town"
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "city"
    return "county"


def parent_code(code: str) -> str | None:
    """The code of the division directly above ``code`` (``None`` for a province).

    ``440106`` → ``440100``, ``441900003`` → ``441900``, ``440100`` →
    ``440000``, ``440000`` → ``None``. Computed from the shape of the code;
    raises :class:`ValueError` when it is not 6 or 9 ASCII digits.
    """
    kind = level(code)
    if kind == "province":
        return None
    if kind == "city":
        return code[:2] + "0000"
    if kind == "county":
        return code[:4] + "00"
    return code[:6]


def _province_name(code: str) -> str | None:
    if len(code) == 6 and code[2:] == "0000":
        return PROVINCES.get(code[:2])
    return None


def region_name(code: str) -> str | None:
    """The official name of a Guangdong division or of any province-level one.

    ``440106`` → ``"天河区"``, ``110000`` → ``"北京市"``; ``None`` for a code
    that is not in the tables (malformed input included).
    """
    if not isinstance(code, str):
        return None
    name = GUANGDONG.get(code)
    return name if name is not None else _province_name(code)


def is_known(code: str) -> bool:
    """Whether :func:`region_name` knows ``code``."""
    return region_name(code) is not None


def _build_children() -> Mapping[str, tuple[str, ...]]:
    tree: dict[str, list[str]] = {}
    for code in GUANGDONG:
        parent = parent_code(code)
        if parent is not None:
            tree.setdefault(parent, []).append(code)
    return MappingProxyType({parent: tuple(sorted(kids)) for parent, kids in tree.items()})


_CHILDREN: Final = _build_children()


def children(code: str) -> list[str]:
    """The codes directly below ``code`` in the Guangdong table, sorted.

    ``440000`` gives the 21 cities, ``440100`` the 11 districts of 广州,
    ``441900`` the 镇街 of 东莞; a county, a town or an unknown code gives ``[]``.
    """
    return list(_CHILDREN.get(code, ()))


def cities() -> list[str]:
    """The codes of Guangdong's 21 prefecture-level cities, sorted."""
    return children("440000")
