"""The gateways' records query: ``fields=a,b``, ``<key field>=<value or prefix*>``, ``limit``,
``cursor`` — parsed and checked the same way wherever records are served (the sharing gateway,
the exchange's contract delivery). A caller's mistake is a 400 naming the parameter at fault.

What a caller may see (granted fields) is the serving network's business: these functions only
know the data's own fields.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from yiwang.kit.datastore.fields import FieldSpec
from yiwang.kit.errors import InvalidInput
from yiwang.kit.validators import whole_number

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
RESERVED = ("fields", "limit", "cursor")  # every other parameter is a filter


class BadQuery(InvalidInput):
    """A records query the caller got wrong (unknown field, bad limit or cursor): 400."""

    code = "bad_query"
    status = 400


def asked_columns(subject: str, names: Sequence[str], asked: str | None) -> list[str] | None:
    """The fields named by ``fields=`` (in the caller's order, once each), or ``None`` when the
    caller named none. ``subject`` names the data in messages ("资源 R-1")."""
    wanted = [n.strip() for n in (asked or "").split(",") if n.strip()]
    if not wanted:
        return None
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise BadQuery(f"fields：{subject} 没有信息项 {'、'.join(unknown)}", details={"field": unknown[0]})
    return list(dict.fromkeys(wanted))


def key_filters(
    subject: str, fields: Sequence[FieldSpec], query: Mapping[str, str], reserved: Collection[str] = RESERVED
) -> dict[str, str]:
    """The query's filters: every parameter not in ``reserved``, each on a key field (the ones
    with an index: anything else would scan the whole table)."""
    by_name = {f.name: f for f in fields}
    filters = {k: v for k, v in query.items() if k not in reserved}
    for name in filters:
        spec = by_name.get(name)
        if spec is None:
            raise BadQuery(f"{name}：{subject} 没有这个信息项，不能按它筛选", details={"field": name})
        if not spec.key:
            keys = "、".join(f.name for f in fields if f.key) or "（没有关键信息项）"
            raise BadQuery(f"{name}：只能按关键信息项筛选：{keys}", details={"field": name})
    return filters


def page_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    limit = whole_number(text, most_digits=4)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit：应为 1 到 {MAX_LIMIT} 的整数", details={"field": "limit"})
    return limit


def page_cursor(text: str | None) -> int | None:
    if not text:
        return None
    cursor = whole_number(text)
    if cursor is None:
        raise BadQuery("cursor：无效的翻页游标（请使用上一页返回的 next）", details={"field": "cursor"})
    return cursor
