"""The gateways' records query (kit.datastore.query): what is accepted, and the 400 otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yiwang.kit.datastore import FieldSpec
from yiwang.kit.datastore.query import (
    MAX_LIMIT,
    BadQuery,
    asked_columns,
    key_filters,
    page_cursor,
    page_limit,
)
from yiwang.kit.validators import whole_number

FIELDS = [
    FieldSpec(name="uscc", title="统一社会信用代码", key=True),
    FieldSpec(name="name", title="名称"),
    FieldSpec(name="kwh", title="用电量", type="number"),
]
NAMES = [f.name for f in FIELDS]


class TestLimit:
    @given(st.integers(min_value=-10, max_value=MAX_LIMIT + 10))
    def test_whole_numbers_from_1_to_the_maximum(self, n: int) -> None:
        if 1 <= n <= MAX_LIMIT:
            assert page_limit(str(n)) == n
        else:
            with pytest.raises(BadQuery) as refused:
                page_limit(str(n))
            assert refused.value.status == 400
            assert refused.value.details == {"field": "limit"}

    @given(st.text(max_size=8))
    def test_any_text_is_a_limit_of_ascii_digits_or_a_400(self, text: str) -> None:
        plain = text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT
        if plain:
            assert page_limit(text) == int(text)
        else:  # "¹" and "٣" are digits to str.isdigit(), not to a query string
            with pytest.raises(BadQuery):
                page_limit(text)

    def test_default(self) -> None:
        assert page_limit(None) == 100


class TestCursor:
    @given(st.text(max_size=25))
    def test_a_cursor_is_ascii_digits_or_a_400_naming_it(self, text: str) -> None:
        if not text:
            assert page_cursor(text) is None
        elif text.isascii() and text.isdigit() and len(text) <= 18:
            assert page_cursor(text) == int(text)
        else:
            with pytest.raises(BadQuery) as refused:
                page_cursor(text)
            assert refused.value.details == {"field": "cursor"}

    def test_over_long_numbers_are_refused(self) -> None:
        with pytest.raises(BadQuery):
            page_cursor("9" * 19)


class TestColumnsAndFilters:
    def test_asked_columns_keep_the_callers_order_once_each(self) -> None:
        assert asked_columns("资源 R", NAMES, " kwh, uscc ,kwh,") == ["kwh", "uscc"]
        assert asked_columns("资源 R", NAMES, None) is None
        assert asked_columns("资源 R", NAMES, " , ") is None

    def test_an_unknown_column_is_named(self) -> None:
        with pytest.raises(BadQuery, match="资源 R 没有信息项 salary") as refused:
            asked_columns("资源 R", NAMES, "uscc,salary")
        assert refused.value.details == {"field": "salary"}

    def test_filters_are_on_key_fields_only(self) -> None:
        query = {"uscc": "9144*", "limit": "5", "fields": "name", "cursor": "3"}
        assert key_filters("资源 R", FIELDS, query) == {"uscc": "9144*"}
        with pytest.raises(BadQuery, match="只能按关键信息项筛选：uscc"):
            key_filters("资源 R", FIELDS, {"name": "张三"})
        with pytest.raises(BadQuery, match="没有这个信息项") as refused:
            key_filters("资源 R", FIELDS, {"owner": "x"})
        assert refused.value.details == {"field": "owner"}

    def test_a_network_may_reserve_more_parameters(self) -> None:
        assert key_filters("资源 R", FIELDS, {"grant": "7"}, reserved=("grant",)) == {}


class TestWholeNumber:
    @given(st.text(max_size=22), st.integers(min_value=1, max_value=20))
    def test_ascii_digits_only_within_the_length(self, text: str, most: int) -> None:
        expected = int(text) if text.isascii() and text.isdigit() and len(text) <= most else None
        assert whole_number(text, most_digits=most) == expected

    def test_none_and_lookalikes(self) -> None:
        assert whole_number(None) is None
        assert whole_number("¹") is None
        assert whole_number("٣") is None
        assert whole_number(" 7") is None
        assert whole_number("007") == 7
