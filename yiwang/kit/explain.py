"""Pydantic validation errors, explained in Chinese with the field at fault."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_REASONS = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识的字段",
    "string_too_short": "内容过短或为空",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不符合要求",
    "string_type": "应为文本",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为是/否（true/false）",
    "bool_type": "应为是/否（true/false）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_type": "应为日期（YYYY-MM-DD）",
    "list_type": "应为列表",
    "too_long": "条目过多",
    "too_short": "条目过少",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "json_invalid": "不是有效的 JSON",
}


def field_path(loc: Sequence[Any]) -> str:
    """``("fields", 2, "name")`` → ``fields[2].name``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def explain(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Each pydantic error as ``{"field", "reason"}`` with a Chinese reason."""
    explained = []
    for err in errors:
        kind = err.get("type", "")
        if kind == "value_error":
            # Our own validators raise ValueError with a Chinese message; pydantic prefixes it.
            reason = str(err.get("msg", "")).removeprefix("Value error, ")
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            reason = f"取值无效，可选：{expected}".replace("'", "")
        else:
            reason = _REASONS.get(kind, str(err.get("msg", "")))
        loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        explained.append({"field": field_path(loc), "reason": reason})
    return explained
