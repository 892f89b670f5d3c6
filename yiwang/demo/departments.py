"""Departments of the demo province: Guangdong's provincial departments and the
usual departments of a prefecture-level city, with their official names.

Org code convention: a department's code is ``<region code>-<short_code>``,
e.g. ``440000-amr`` 广东省市场监督管理局 or ``440100-gat`` 广州市公安局. The
short code is an ASCII mnemonic of the department's function and is the same
at every level, so ``440000-amr`` and ``440300-amr`` (深圳市市场监督管理局) are
counterparts; it stays ``zsj`` for the 政务服务和数据管理局 of the province and
of each city. Short codes are unique within a list, names are unique too.

``CITY_DEPARTMENTS`` holds name templates: ``{city}`` is the city's official
name ("广州市"). Most Guangdong cities follow them, but not all:
``CITY_NAME_OVERRIDES`` lists the known exceptions of 广州 and 深圳 (for
example 深圳市住房和建设局, 广州市规划和自然资源局), and
:func:`city_departments` applies them; use it rather than formatting the
templates yourself. Names follow the 2024 institutional reform (e.g.
广东省政务服务和数据管理局, formerly 广东省政务服务数据管理局).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from yiwang.kit.regions import region_name

__all__ = [
    "CITY_DEPARTMENTS",
    "CITY_NAME_OVERRIDES",
    "PROVINCIAL_DEPARTMENTS",
    "city_departments",
    "department_code",
]

# 广东省人民政府 组成部门、直属机构、部门管理机构 and the provincial tax bureau
# (under 国家税务总局, but a data provider of every province).
PROVINCIAL_DEPARTMENTS: Final[list[tuple[str, str]]] = [
    ("fgw", "广东省发展和改革委员会"),
    ("edu", "广东省教育厅"),
    ("kjt", "广东省科学技术厅"),
    ("gxt", "广东省工业和信息化厅"),
    ("mzzjw", "广东省民族宗教事务委员会"),
    ("gat", "广东省公安厅"),
    ("mz", "广东省民政厅"),
    ("sft", "广东省司法厅"),
    ("czt", "广东省财政厅"),
    ("hrss", "广东省人力资源和社会保障厅"),
    ("nr", "广东省自然资源厅"),
    ("ee", "广东省生态环境厅"),
    ("zjt", "广东省住房和城乡建设厅"),
    ("jtt", "广东省交通运输厅"),
    ("slt", "广东省水利厅"),
    ("nync", "广东省农业农村厅"),
    ("swt", "广东省商务厅"),
    ("whly", "广东省文化和旅游厅"),
    ("wsjkw", "广东省卫生健康委员会"),
    ("tyjrt", "广东省退役军人事务厅"),
    ("yjgl", "广东省应急管理厅"),
    ("sjt", "广东省审计厅"),
    ("gzw", "广东省人民政府国有资产监督管理委员会"),
    ("amr", "广东省市场监督管理局"),
    ("gdj", "广东省广播电视局"),
    ("tyj", "广东省体育局"),
    ("tjj", "广东省统计局"),
    ("yb", "广东省医疗保障局"),
    ("zsj", "广东省政务服务和数据管理局"),
    ("lyj", "广东省林业局"),
    ("mpa", "广东省药品监督管理局"),
    ("nyj", "广东省能源局"),
    ("xfj", "广东省信访局"),
    ("tax", "国家税务总局广东省税务局"),
]

# The departments of a prefecture-level city, as name templates.
CITY_DEPARTMENTS: Final[list[tuple[str, str]]] = [
    ("fgw", "{city}发展和改革委员会"),
    ("edu", "{city}教育局"),
    ("gxt", "{city}工业和信息化局"),
    ("gat", "{city}公安局"),
    ("mz", "{city}民政局"),
    ("sft", "{city}司法局"),
    ("czt", "{city}财政局"),
    ("hrss", "{city}人力资源和社会保障局"),
    ("nr", "{city}自然资源局"),
    ("ee", "{city}生态环境局"),
    ("zjt", "{city}住房和城乡建设局"),
    ("jtt", "{city}交通运输局"),
    ("slt", "{city}水务局"),
    ("swt", "{city}商务局"),
    ("whly", "{city}文化广电旅游体育局"),
    ("wsjkw", "{city}卫生健康委员会"),
    ("tyjrt", "{city}退役军人事务局"),
    ("yjgl", "{city}应急管理局"),
    ("sjt", "{city}审计局"),
    ("gzw", "{city}人民政府国有资产监督管理委员会"),
    ("amr", "{city}市场监督管理局"),
    ("tjj", "{city}统计局"),
    ("yb", "{city}医疗保障局"),
    ("zsj", "{city}政务服务和数据管理局"),
    ("cgj", "{city}城市管理和综合执法局"),
    ("tax", "国家税务总局{city}税务局"),
]

# Where a city's department is named differently from the template (city code →
# short code → official name).
CITY_NAME_OVERRIDES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "440100": MappingProxyType(
            {
                "nr": "广州市规划和自然资源局",
                "whly": "广州市文化广电旅游局",
            }
        ),
        "440300": MappingProxyType(
            {
                "nr": "深圳市规划和自然资源局",
                "zjt": "深圳市住房和建设局",
            }
        ),
    }
)


def department_code(region_code: str, short_code: str) -> str:
    """The org code of a department: ``department_code("440100", "gat")`` → ``"440100-gat"``."""
    return f"{region_code}-{short_code}"


def city_departments(city_code: str) -> list[tuple[str, str]]:
    """The (short_code, official name) of the departments of one city.

    Fills :data:`CITY_DEPARTMENTS` with the city's name and applies
    :data:`CITY_NAME_OVERRIDES`; raises :class:`KeyError` for a code that is
    not a known region.
    """
    city_name = region_name(city_code)
    if city_name is None:
        raise KeyError(city_code)
    overrides = CITY_NAME_OVERRIDES.get(city_code, {})
    return [
        (short, overrides.get(short, template.format(city=city_name))) for short, template in CITY_DEPARTMENTS
    ]
