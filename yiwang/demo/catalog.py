"""Demo catalog: realistic resources for the demo departments, and data for some of them.

Resource templates are per department function (the short code of yiwang.demo.departments);
every department that has templates gets them, at the provincial level and in each demo city,
so the catalog has the breadth of a real province (≥ 300 resources). Deterministic for a seed.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from faker import Faker

from yiwang.kit.validators import make_id_number, make_uscc_from

# Field sets (信息项) by the kind of thing a resource describes.
F = dict[str, Any]
PERSON: list[F] = [
    {
        "name": "id_number",
        "title": "公民身份号码",
        "format": "id_number",
        "pi": "id_number",
        "key": True,
        "required": True,
    },
    {"name": "name", "title": "姓名", "pi": "name", "required": True},
    {"name": "phone", "title": "联系电话", "format": "phone", "pi": "phone"},
    {"name": "region_code", "title": "户籍地行政区划代码", "format": "region_code"},
    {"name": "address", "title": "居住地址", "pi": "address"},
    {"name": "start_date", "title": "起始日期", "type": "date"},
    {"name": "amount", "title": "金额（元）", "type": "number"},
    {"name": "active", "title": "是否有效", "type": "boolean"},
]
FIRM: list[F] = [
    {"name": "uscc", "title": "统一社会信用代码", "format": "uscc", "key": True, "required": True},
    {"name": "name", "title": "单位名称", "required": True},
    {"name": "legal_person", "title": "法定代表人", "pi": "name"},
    {"name": "region_code", "title": "注册地行政区划代码", "format": "region_code"},
    {"name": "address", "title": "住所", "pi": "address"},
    {"name": "established", "title": "成立日期", "type": "date"},
    {"name": "capital", "title": "注册资本（万元）", "type": "number"},
    {"name": "status", "title": "登记状态"},
]
MONITOR: list[F] = [
    {"name": "station", "title": "监测点编号", "key": True, "required": True},
    {"name": "observed_at", "title": "监测时间", "type": "datetime", "key": True, "required": True},
    {"name": "region_code", "title": "所在区划代码", "format": "region_code"},
    {"name": "value", "title": "监测值", "type": "number", "required": True},
    {"name": "level", "title": "等级", "type": "integer"},
]
PLACE: list[F] = [
    {"name": "code", "title": "编号", "key": True, "required": True},
    {"name": "name", "title": "名称", "required": True},
    {"name": "region_code", "title": "所在区划代码", "format": "region_code"},
    {"name": "address", "title": "地址"},
    {"name": "capacity", "title": "规模", "type": "integer"},
    {"name": "opened", "title": "启用日期", "type": "date"},
]
FIELD_SETS = {"person": PERSON, "firm": FIRM, "monitor": MONITOR, "place": PLACE}

BASIC_PERSON, BASIC_FIRM = "基础信息资源/人口", "基础信息资源/法人单位"
TOPIC, DEPT = "主题信息资源", "部门信息资源"

# short code: [(name, category, theme, kind, share_type, open_type, update_cycle, level, keywords)]
# One entry a line: a table to read across, so the formatter leaves it alone.
# fmt: off
TEMPLATES: dict[str, list[tuple[str, str, str, str, str, str, str, str, list[str]]]] = {
    "amr": [
        ("企业登记基本信息", BASIC_FIRM, "市场监管", "firm", "conditional", "none", "daily", "important", ["企业", "登记", "营业执照"]),
        ("个体工商户登记信息", BASIC_FIRM, "市场监管", "firm", "conditional", "none", "daily", "important", ["个体户", "登记"]),
        ("食品经营许可信息", DEPT + "/许可", "市场监管", "firm", "unconditional", "unconditional", "weekly", "general", ["食品", "许可"]),
        ("企业经营异常名录", DEPT + "/信用", "社会信用", "firm", "unconditional", "unconditional", "daily", "general", ["经营异常", "信用"]),
    ],
    "hrss": [
        ("养老保险参保信息", BASIC_PERSON, "社会保障", "person", "conditional", "none", "monthly", "important", ["养老", "社保", "参保"]),
        ("社会保险参保缴费信息", BASIC_PERSON, "社会保障", "person", "conditional", "none", "monthly", "important", ["社保", "缴费"]),
        ("就业登记信息", BASIC_PERSON, "就业创业", "person", "conditional", "none", "monthly", "important", ["就业", "失业"]),
        ("职业技能培训机构名录", DEPT + "/名录", "就业创业", "place", "unconditional", "unconditional", "quarterly", "general", ["培训", "技能"]),
    ],
    "yb": [
        ("基本医疗保险参保信息", BASIC_PERSON, "医疗保障", "person", "conditional", "none", "monthly", "important", ["医保", "参保"]),
        ("定点医药机构名录", DEPT + "/名录", "医疗保障", "place", "unconditional", "unconditional", "monthly", "general", ["定点医院", "药店"]),
    ],
    "gat": [
        ("户籍人口基本信息", BASIC_PERSON, "公共安全", "person", "conditional", "none", "daily", "core", ["户籍", "人口"]),
        ("居住证办理信息", BASIC_PERSON, "公共安全", "person", "conditional", "none", "daily", "important", ["居住证", "流动人口"]),
        ("机动车驾驶人信息", BASIC_PERSON, "交通出行", "person", "none", "none", "daily", "core", ["驾驶证", "驾驶人"]),
    ],
    "mz": [
        ("婚姻登记信息", BASIC_PERSON, "民生保障", "person", "conditional", "none", "daily", "important", ["婚姻", "结婚", "离婚"]),
        ("最低生活保障对象信息", BASIC_PERSON, "民生保障", "person", "conditional", "none", "monthly", "important", ["低保", "救助"]),
        ("养老机构名录", DEPT + "/名录", "养老服务", "place", "unconditional", "unconditional", "quarterly", "general", ["养老院", "养老机构"]),
        ("社会组织登记信息", BASIC_FIRM, "社会组织", "firm", "unconditional", "unconditional", "weekly", "general", ["社会组织", "社团"]),
    ],
    "edu": [
        ("学校名录", DEPT + "/名录", "教育", "place", "unconditional", "unconditional", "yearly", "general", ["学校", "中小学"]),
        ("学籍信息", BASIC_PERSON, "教育", "person", "conditional", "none", "quarterly", "important", ["学籍", "学生"]),
        ("幼儿园名录", DEPT + "/名录", "教育", "place", "unconditional", "unconditional", "yearly", "general", ["幼儿园"]),
    ],
    "wsjkw": [
        ("医疗机构执业登记信息", BASIC_FIRM, "医疗卫生", "firm", "unconditional", "unconditional", "weekly", "general", ["医院", "诊所"]),
        ("出生医学证明信息", BASIC_PERSON, "医疗卫生", "person", "conditional", "none", "daily", "important", ["出生", "新生儿"]),
        ("预防接种门诊名录", DEPT + "/名录", "医疗卫生", "place", "unconditional", "unconditional", "quarterly", "general", ["疫苗", "接种"]),
    ],
    "ee": [
        ("空气质量监测数据", TOPIC + "/生态环境", "生态环境", "monitor", "unconditional", "unconditional", "realtime", "general", ["空气质量", "AQI", "PM2.5"]),
        ("地表水水质监测数据", TOPIC + "/生态环境", "生态环境", "monitor", "unconditional", "unconditional", "daily", "general", ["水质", "河流"]),
        ("排污许可信息", DEPT + "/许可", "生态环境", "firm", "unconditional", "unconditional", "monthly", "general", ["排污", "许可"]),
    ],
    "jtt": [
        ("公交线路信息", TOPIC + "/交通出行", "交通出行", "place", "unconditional", "unconditional", "monthly", "general", ["公交", "线路"]),
        ("道路运输经营许可信息", DEPT + "/许可", "交通出行", "firm", "unconditional", "unconditional", "weekly", "general", ["运输", "许可"]),
        ("高速公路车流量监测数据", TOPIC + "/交通出行", "交通出行", "monitor", "conditional", "none", "realtime", "general", ["车流量", "高速"]),
    ],
    "zjt": [
        ("建筑业企业资质信息", BASIC_FIRM, "城乡建设", "firm", "unconditional", "unconditional", "weekly", "general", ["资质", "建筑"]),
        ("商品房预售许可信息", DEPT + "/许可", "住房保障", "place", "unconditional", "unconditional", "weekly", "general", ["预售", "商品房"]),
        ("住房公积金缴存信息", BASIC_PERSON, "住房保障", "person", "conditional", "none", "monthly", "important", ["公积金"]),
    ],
    "nr": [
        ("不动产登记信息", TOPIC + "/自然资源", "自然资源", "person", "conditional", "none", "daily", "important", ["不动产", "房产", "登记"]),
        ("国有建设用地供应信息", DEPT + "/供地", "自然资源", "place", "unconditional", "unconditional", "monthly", "general", ["土地", "供地"]),
    ],
    "tax": [
        ("纳税信用等级信息", DEPT + "/信用", "社会信用", "firm", "unconditional", "unconditional", "yearly", "general", ["纳税", "信用"]),
        ("重大税收违法失信案件信息", DEPT + "/信用", "社会信用", "firm", "unconditional", "unconditional", "monthly", "general", ["失信", "税收"]),
    ],
    "yjgl": [
        ("应急避难场所名录", DEPT + "/名录", "应急管理", "place", "unconditional", "unconditional", "yearly", "general", ["避难场所", "应急"]),
        ("危险化学品经营许可信息", DEPT + "/许可", "应急管理", "firm", "conditional", "none", "monthly", "important", ["危化品", "许可"]),
    ],
    "nync": [
        ("农民专业合作社信息", BASIC_FIRM, "农业农村", "firm", "unconditional", "unconditional", "monthly", "general", ["合作社", "农业"]),
    ],
    "whly": [
        ("A级旅游景区名录", DEPT + "/名录", "文化旅游", "place", "unconditional", "unconditional", "quarterly", "general", ["景区", "旅游"]),
    ],
    "slt": [
        ("水文站监测数据", TOPIC + "/水利", "水利", "monitor", "unconditional", "unconditional", "realtime", "general", ["水位", "雨量"]),
    ],
    "tjj": [
        ("地区生产总值统计数据", TOPIC + "/经济运行", "经济运行", "monitor", "unconditional", "unconditional", "quarterly", "general", ["GDP", "统计"]),
    ],
    "zsj": [
        ("政务服务事项目录", DEPT + "/政务服务", "政务服务", "place", "unconditional", "unconditional", "weekly", "general", ["事项", "办事指南"]),
        ("电子证照目录", DEPT + "/政务服务", "政务服务", "place", "conditional", "none", "weekly", "important", ["电子证照"]),
    ],
}
# fmt: on


def resources_for(departments: list[tuple[str, str]], seed: int) -> list[dict[str, Any]]:
    """Resource entries (CONTRACT shape) for ``departments`` = [(org code, name)]."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for org_code, org_name in departments:
        short = org_code.split("-", 1)[1]
        for name, category, theme, kind, share, open_type, cycle, level, keywords in TEMPLATES.get(short, []):
            city = org_name[:3] if not org_name.startswith("广东省") else "全省"
            items.append(
                {
                    "name": name,
                    "provider": org_code,
                    "summary": f"{org_name}掌握的{city}{name}，按《政务信息资源目录编制指南》编目，"
                    f"{'无条件共享' if share == 'unconditional' else '依申请共享' if share == 'conditional' else '不予共享'}。",
                    "category": category,
                    "themes": [theme],
                    "keywords": keywords,
                    "format": "table",
                    "share_type": share,
                    "share_condition": "用于行政审批、监管执法或公共服务，须说明具体场景"
                    if share == "conditional"
                    else "",
                    "share_basis": "《中华人民共和国个人信息保护法》第十三条、第三十四条"
                    if share == "none"
                    else "",
                    "share_method": "api",
                    "open_type": open_type,
                    "update_cycle": cycle,
                    "level": level,
                    "released": (date(2022, 1, 1) + timedelta(days=rng.randrange(1000))).isoformat(),
                    "fields": [
                        {"type": "string", "pi": "none", "key": False, "required": False, **f}
                        for f in FIELD_SETS[kind]
                    ],
                }
            )
    return items


def field_kind(item: dict[str, Any]) -> str:
    names = [f["name"] for f in item["fields"]]
    return next(kind for kind, fields in FIELD_SETS.items() if [f["name"] for f in fields] == names)


def rows_for(kind: str, count: int, region: str, fake: Faker, rng: random.Random) -> list[dict[str, Any]]:
    """Valid rows of a field set: people with real-format ID numbers, firms with valid credit codes."""
    makers: dict[str, Callable[[int], dict[str, Any]]] = {
        "person": lambda i: {
            "id_number": make_id_number(
                region, date(1950, 1, 1) + timedelta(days=rng.randrange(25000)), i % 999 + 1
            ),
            "name": fake.name(),
            "phone": fake.phone_number(),
            "region_code": region,
            "address": fake.address(),
            "start_date": (date(2015, 1, 1) + timedelta(days=rng.randrange(3000))).isoformat(),
            "amount": round(rng.uniform(100, 20000), 2),
            "active": rng.random() > 0.1,
        },
        "firm": lambda i: {
            "uscc": make_uscc_from("9", "1", region, f"{rng.randrange(10**8):08d}" + "0"),
            "name": fake.company(),
            "legal_person": fake.name(),
            "region_code": region,
            "address": fake.address(),
            "established": (date(1995, 1, 1) + timedelta(days=rng.randrange(10000))).isoformat(),
            "capital": rng.randrange(10, 100000),
            "status": rng.choice(["存续", "在业", "注销", "吊销"]),
        },
        "monitor": lambda i: {
            "station": f"S{i % 20:03d}",
            "observed_at": f"2026-11-{1 + (i // 480) % 27:02d}T{(i // 20) % 24:02d}:00:00",
            "region_code": region,
            "value": round(rng.uniform(5, 160), 1),
            "level": rng.randrange(1, 6),
        },
        "place": lambda i: {
            "code": f"P{i:06d}",
            "name": f"{fake.city_name()}{fake.street_name()}{rng.choice(['站', '中心', '点', '馆'])}",
            "region_code": region,
            "address": fake.street_address(),
            "capacity": rng.randrange(10, 5000),
            "opened": (date(2000, 1, 1) + timedelta(days=rng.randrange(9000))).isoformat(),
        },
    }
    return [makers[kind](i) for i in range(count)]


def as_json_stream(rows: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(json.dumps(rows, ensure_ascii=False).encode())
