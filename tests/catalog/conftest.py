"""Catalog fixtures: resource shapes in the CONTRACT form."""

from __future__ import annotations

from typing import Any

import pytest


def resource_data(
    name: str = "企业登记基本信息", provider: str = "440100-amr", **overrides: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "provider": provider,
        "summary": "全市企业的登记注册基本信息，含统一社会信用代码、名称、法定代表人。",
        "category": "基础信息资源/法人单位",
        "themes": ["市场监管"],
        "keywords": ["企业", "登记"],
        "format": "table",
        "share_type": "conditional",
        "share_condition": "仅用于行政审批与监管",
        "share_method": "api",
        "open_type": "none",
        "update_cycle": "daily",
        "level": "important",
        "released": "2024-01-01",
        "fields": [
            {
                "name": "uscc",
                "title": "统一社会信用代码",
                "type": "string",
                "format": "uscc",
                "key": True,
                "required": True,
            },
            {"name": "name", "title": "企业名称", "type": "string", "required": True},
            {"name": "legal_person", "title": "法定代表人", "type": "string", "pi": "name"},
            {"name": "registered", "title": "成立日期", "type": "date"},
        ],
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_resource_data() -> Any:
    return resource_data
