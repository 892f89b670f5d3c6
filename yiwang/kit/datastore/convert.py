"""Row validation and conversion: one precompiled converter per field, errors per cell.

Every converter takes a raw cell (text from CSV, text/number/bool/date from XLSX and JSON)
and returns the value in the form the *target* wants, or raises :class:`Bad` with a
Chinese reason. Targets: ``"python"`` (``date``/``datetime`` objects, for callers),
``"sqlite"`` and ``"postgresql"`` (what the insert path binds: dates as ISO text, which both
databases take for a DATE column; SQLite datetimes as SQLAlchemy's storage text).

Speed matters (a province loads millions of rows): the happy path raises nothing, ID
numbers are checked with one ``int(..., 13)`` call and a set of valid birth dates instead of
the validator's per-character loop, and low-cardinality values (dates, region codes) are
memoised. Anything the fast path does not accept goes to the backbone's validator, so the
fast path can only ever be *stricter*, never more lenient, and every reason comes from one
place.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import islice
from typing import Any

from yiwang.kit.datastore.fields import FieldSpec
from yiwang.kit.errors import InvalidInput
from yiwang.kit.masking import mask_value
from yiwang.kit.validators import (
    ID_ADDRESS_PREFIXES,
    validate_email,
    validate_id_number,
    validate_mobile,
    validate_region_code,
    validate_uscc,
)

__all__ = [
    "MAX_ERRORS",
    "Bad",
    "ErrorList",
    "RowValidator",
    "make_column_converter",
    "make_converter",
    "mask_for_report",
]

MAX_ERRORS = 1000
COLUMN_BLOCK = 500  # rows converted column by column at a time
Converter = Callable[[Any], Any]
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_MEMO_LIMIT = 100_000


class Bad(Exception):
    """A cell that does not convert; ``reason`` is the Chinese explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ErrorList(list[dict[str, Any]]):
    """The first :data:`MAX_ERRORS` error records; ``total`` counts all of them."""

    total: int = 0


# ----------------------------------------------------------------- masking


def mask_for_report(pi_kind: str, value: Any) -> Any:
    """The value as it may appear in an error report: masked when personal, cut when long."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if pi_kind != "none":
        return str(mask_value(pi_kind, text))
    return text if len(text) <= 100 else text[:100] + "…"


# ----------------------------------------------------------------- types

_DATE_RES = (
    re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[ T]0{1,2}:00(?::00(?:\.0+)?)?)?"),
    re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日?"),
    re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"),
)
_DATETIME_RE = re.compile(
    r"([0-9]{4})(?:[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})|年([0-9]{1,2})月([0-9]{1,2})日)"
    r"[ T]?([0-9]{1,2})[:时]([0-9]{1,2})分?(?:[:]?([0-9]{1,2})(?:\.([0-9]{1,6}))?秒?)?"
)
_INT_RE = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
_BOOLEANS = {
    "是": True,
    "否": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "t": True,
    "f": False,
    "真": True,
    "假": False,
}
_DATE_REASON = "应为日期，如 2024-01-05、2024/1/5 或 2024年1月5日"
_DATETIME_REASON = "应为日期时间，如 2024-01-05T08:30:00 或 2024-01-05 08:30"


def _parse_date(text: str) -> date:
    for pattern in _DATE_RES:
        match = pattern.fullmatch(text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                raise Bad(f"日期 {text} 不存在") from None
    raise Bad(_DATE_REASON)


def _naive_beijing(value: datetime) -> datetime:
    # Data tables keep times as written (北京时间 in practice); an explicit offset is converted to it.
    return value.astimezone(BEIJING).replace(tzinfo=None) if value.tzinfo is not None else value


def _parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        match = _DATETIME_RE.fullmatch(text)
        if not match:
            raise Bad(_DATETIME_REASON) from None
        month, day = (match[2], match[3]) if match[2] else (match[4], match[5])
        try:
            value = datetime(
                int(match[1]),
                int(month),
                int(day),
                int(match[6]),
                int(match[7]),
                int(match[8] or 0),
                int((match[9] or "0").ljust(6, "0")),
            )
        except ValueError:
            raise Bad(f"日期时间 {text} 不存在") from None
    return _naive_beijing(value)


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's storage format for DateTime on SQLite, so reads through it get datetimes back.
    return value.isoformat(" ", "microseconds")


def _type_parsers(field_type: str, target: str) -> tuple[Converter | None, Converter]:
    """(parse non-empty stripped text, convert a non-text value); ``None`` parse means identity."""
    if field_type == "string":

        def string_from(value: Any) -> str:
            if isinstance(value, bool):
                raise Bad("应为文本")
            if isinstance(value, int):
                return str(value)
            if isinstance(value, float):
                # Spreadsheets store phone numbers and codes as numbers: 13800138000.0 means the digits.
                return str(int(value)) if value.is_integer() else repr(value)
            if isinstance(value, datetime):
                return value.isoformat(" ")
            if isinstance(value, date):
                return value.isoformat()
            raise Bad("应为文本")

        return None, string_from

    if field_type == "integer":

        def integer(text: str) -> int:
            if text.isdigit() and text.isascii() and len(text) < 19:
                return int(text)
            if not _INT_RE.fullmatch(text):
                raise Bad("应为整数")
            return integer_from(int(text.split(".", 1)[0]))

        def integer_from(value: Any) -> int:
            if isinstance(value, bool):
                raise Bad("应为整数")
            if isinstance(value, float):
                if not value.is_integer():
                    raise Bad("应为整数")
                value = int(value)
            if not isinstance(value, int):
                raise Bad("应为整数")
            if not _INT_MIN <= value <= _INT_MAX:
                raise Bad("整数超出范围（±9223372036854775807）")
            return value

        return integer, integer_from

    if field_type == "number":

        def number(text: str) -> float:
            try:
                value = float(text)
            except ValueError:
                raise Bad("应为数值") from None
            # float() also takes "1_0", "nan", "inf" and non-ASCII digits: none is a number in a table.
            if not text.isascii() or "_" in text or value - value != 0:
                raise Bad("应为数值")
            return value

        def number_from(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Bad("应为数值")
            result = float(value)
            if result - result != 0:
                raise Bad("应为数值")
            return result

        return number, number_from

    if field_type == "date":
        as_text = target != "python"
        memo: dict[str, Any] = {}

        def date_(text: str) -> Any:
            value = memo.get(text)
            if value is None:
                parsed = _parse_date(text)
                value = parsed.isoformat() if as_text else parsed
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[text] = value
            return value

        def date_from(value: Any) -> Any:
            if isinstance(value, datetime):
                if value.time() != datetime.min.time():
                    raise Bad("应为日期（不含时刻）")
                value = value.date()
            if not isinstance(value, date):
                raise Bad(_DATE_REASON)
            return value.isoformat() if as_text else value

        return date_, date_from

    if field_type == "datetime":
        store: Callable[[datetime], Any] = _sqlite_datetime if target == "sqlite" else (lambda v: v)

        def datetime_(text: str) -> Any:
            return store(_parse_datetime(text))

        def datetime_from(value: Any) -> Any:
            if isinstance(value, datetime):
                return store(_naive_beijing(value))
            if isinstance(value, date):
                return store(datetime(value.year, value.month, value.day))
            raise Bad(_DATETIME_REASON)

        return datetime_, datetime_from

    if field_type == "boolean":

        def boolean(text: str) -> bool:
            value = _BOOLEANS.get(text.lower())
            if value is None:
                raise Bad("应为是/否（也可写 true/false、1/0）")
            return value

        def boolean_from(value: Any) -> bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            raise Bad("应为是/否（也可写 true/false、1/0）")

        return boolean, boolean_from

    raise ValueError(f"unknown field type {field_type}")


# ----------------------------------------------------------------- formats


@lru_cache(maxsize=2)
def _birth_dates(today: date) -> frozenset[str]:
    """Every YYYYMMDD from 1900-01-01 to ``today``: the birth dates a valid ID number can hold."""
    start = date(1900, 1, 1).toordinal()
    return frozenset(date.fromordinal(n).strftime("%Y%m%d") for n in range(start, today.toordinal() + 1))


_ID_REASONS = {
    # The validator's own messages quote the birth-date digits; an error report must not.
    "birth_date": "居民身份证号码出生日期无效",
    "region_code": "居民身份证号码地区码无效（前两位不是省级行政区代码）",
    "check_char": "居民身份证号码校验码错误",
}


def _id_number_checker() -> Converter:
    births = _birth_dates(date.today())
    prefixes = ID_ADDRESS_PREFIXES
    check_chars = "10X98765432"

    def id_number(text: str) -> str:
        # ISO 7064 MOD 11-2: weight of digit j (from the left) is 2**(17-j) mod 11, and 13 ≡ 2 (mod 11),
        # so the weighted sum is 2 * int(first17, base 13) mod 11: one C call instead of 17 multiplications.
        if len(text) == 18:
            body = text[:17]
            if (
                body.isdigit()
                and body.isascii()
                and text[6:14] in births
                and text[:2] in prefixes
                and check_chars[(2 * int(body, 13)) % 11] == text[17]
            ):
                return text
        try:
            return validate_id_number(text).number
        except InvalidInput as exc:
            reason = str((exc.details or {}).get("reason", ""))
            raise Bad(_ID_REASONS.get(reason, exc.message)) from None

    return id_number


def _phone_checker() -> Converter:
    def phone(text: str) -> str:
        if len(text) == 11 and text.isdigit() and text.isascii() and text[0] == "1" and text[1] > "2":
            return text
        try:
            return validate_mobile(text)
        except InvalidInput as exc:
            raise Bad(exc.message) from None

    return phone


def _memoised(validate: Callable[[str], str]) -> Converter:
    """Region codes repeat endlessly in a table: remember each code's verdict."""
    memo: dict[str, str | Bad] = {}

    def check(text: str) -> str:
        verdict = memo.get(text)
        if verdict is None:
            try:
                verdict = validate(text)
            except InvalidInput as exc:
                verdict = Bad(exc.message)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[text] = verdict
        if isinstance(verdict, Bad):
            raise Bad(verdict.reason)
        return verdict

    return check


def _plain(validate: Callable[[str], str]) -> Converter:
    def check(text: str) -> str:
        try:
            return validate(text)
        except InvalidInput as exc:
            raise Bad(exc.message) from None

    return check


def _format_checker(field_format: str | None) -> Converter | None:
    if field_format is None:
        return None
    if field_format == "id_number":
        return _id_number_checker()
    if field_format == "phone":
        return _phone_checker()
    if field_format == "region_code":
        return _memoised(validate_region_code)
    if field_format == "uscc":
        return _plain(validate_uscc)
    if field_format == "email":
        return _plain(validate_email)
    raise ValueError(f"unknown format {field_format}")


# ----------------------------------------------------------------- converters

REQUIRED_REASON = "必填项为空"


def make_converter(field: FieldSpec, target: str = "python") -> Converter:
    """The converter of one field: raw cell → stored value, or :class:`Bad`.

    Text is stripped; empty text and ``None`` are a missing value (an error when the field
    is required). A format check runs on the text before the type conversion.
    """
    parse, from_value = _type_parsers(field.type, target)
    check = _format_checker(field.format)
    required = field.required
    obj = from_value

    if check is not None:
        text_of = _type_parsers("string", target)[1]
        fmt = check

        def formatted(value: Any) -> Any:
            text = fmt(text_of(value))
            return parse(text) if parse is not None else text

        obj = formatted

    def missing() -> None:
        if required:
            raise Bad(REQUIRED_REASON)
        return None

    # Four shapes, so that the common cases make no call they do not need.
    if parse is None and check is None:

        def convert(value: Any) -> Any:
            if value.__class__ is str:
                value = value.strip()
                if value:
                    return value
            elif value is not None:
                return obj(value)
            return missing()

        return convert

    if check is None:
        assert parse is not None
        typed: Converter = parse

        def convert_typed(value: Any) -> Any:
            if value.__class__ is str:
                value = value.strip()
                if value:
                    return typed(value)
            elif value is not None:
                return obj(value)
            return missing()

        return convert_typed

    checked: Converter = check
    if parse is None:

        def convert_checked(value: Any) -> Any:
            if value.__class__ is str:
                value = value.strip()
                if value:
                    return checked(value)
            elif value is not None:
                return obj(value)
            return missing()

        return convert_checked

    typed2: Converter = parse

    def convert_both(value: Any) -> Any:
        if value.__class__ is str:
            value = value.strip()
            if value:
                return typed2(checked(value))
        elif value is not None:
            return obj(value)
        return missing()

    return convert_both


_MISS = object()
_LOW_CARDINALITY_TYPES = frozenset({"date", "boolean"})
_LOW_CARDINALITY_FORMATS = frozenset({"region_code"})


def memo_first(convert: Converter) -> Converter:
    """``convert`` with a memo of raw cell → result in front: one dict lookup for values seen
    before. Only for hashable cells (CSV and XLSX give nothing else) and for fields whose
    values repeat (dates, booleans, region codes); failures are not remembered."""
    memo: dict[Any, Any] = {}
    get = memo.get

    def convert_memo(value: Any) -> Any:
        hit = get(value, _MISS)
        if hit is not _MISS:
            return hit
        result = convert(value)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[value] = result
        return result

    return convert_memo


# ----------------------------------------------------------------- columns


class Slow(Exception):
    """A column the column-wise path will not convert (a bad or unusual cell): the caller converts
    its chunk row by row instead, which names every error."""


ColumnConverter = Callable[[Sequence[Any]], list[Any]]


def _each(convert: Converter, cells: Sequence[Any]) -> list[Any]:
    try:
        return list(map(convert, cells))
    except Bad:
        raise Slow from None


def make_column_converter(field: FieldSpec, target: str = "python") -> ColumnConverter:
    """The converter of a whole column of cells (one chunk of rows) for ``field``: exactly the list
    :func:`make_converter` gives cell by cell, or :class:`Slow` whenever it would raise
    :class:`Bad` for any cell.

    Faster because it works in C-level passes where the column is all text (CSV always is): text
    is stripped by ``map(str.strip, ...)``; numbers are parsed by ``map(float, ...)`` once the
    column is known to be plain ASCII without underscores; formats are checked by their checker
    alone; and values that repeat (dates, times, flags, region codes) are converted once, kept
    from chunk to chunk, and looked up. Anything else goes through the cell converter.
    """
    convert = make_converter(field, target)
    parse, _ = _type_parsers(field.type, target)
    check = _format_checker(field.format)
    required = field.required
    kind = field.type if field.format is None else "formatted"
    repeats = field.type in _LOW_CARDINALITY_TYPES or field.type == "datetime"
    repeats = repeats or field.format in _LOW_CARDINALITY_FORMATS
    known: dict[str, Any] = {}  # raw text → converted value, for the columns whose values repeat

    def column(cells: Sequence[Any]) -> list[Any]:
        if set(map(type, cells)) != {str}:
            return _each(convert, cells)  # not all text (XLSX numbers and dates, absent columns)
        if repeats:
            new = set(cells).difference(known)
            if new:
                if len(known) + len(new) > _MEMO_LIMIT:
                    known.clear()
                    new = set(cells)
                try:
                    known.update({text: convert(text) for text in new})
                except Bad:
                    raise Slow from None
            return list(map(known.__getitem__, cells))
        values: list[Any] = list(map(str.strip, cells))
        if "" in values:
            if kind != "string":
                return _each(convert, cells)
            if required:
                raise Slow
            return [v or None for v in values]
        if kind == "string":
            return values
        try:
            if kind == "formatted":
                assert check is not None
                values = list(map(check, values))
                return values if parse is None else list(map(parse, values))
            joined = "".join(values)
            if "_" in joined or not joined.isascii():
                return _each(convert, cells)
            if kind == "number":
                numbers = list(map(float, values))
                if not all(map(math.isfinite, numbers)):
                    raise Slow
                return numbers
            if kind == "integer":
                integers = list(map(int, values))
                if min(integers) < _INT_MIN or max(integers) > _INT_MAX:
                    raise Slow
                return integers
        except Bad:
            raise Slow from None
        except ValueError:  # "1.0" is an integer too, "1,5" no number: cell by cell says which
            return _each(convert, cells)
        return _each(convert, cells)

    return column


# ----------------------------------------------------------------- rows


def _identity(cells: Sequence[Any]) -> Sequence[Any]:
    return cells


def _picker(positions: list[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    if len(positions) == 1:
        position = positions[0]
        return lambda cells: (cells[position],)
    return operator.itemgetter(*positions)


class RowValidator:
    """Converts rows to tuples in field order, yielding the good ones and recording errors.

    Row numbers count data rows as a person does: the first row after the header is row 1
    (a spreadsheet shows it on its line 2); blank rows are skipped but still counted, so
    the numbers match the file. Only the first ``max_errors`` errors are kept; ``errors.total``
    counts them all. Keys repeated within the input are errors on the later row.
    """

    def __init__(
        self, fields: Sequence[FieldSpec], target: str = "python", *, max_errors: int = MAX_ERRORS
    ) -> None:
        self.fields = list(fields)
        self.converters = [make_converter(f, target) for f in self.fields]
        # Cell sources (CSV, XLSX) only hold hashable values, so they may use memos.
        self.cell_converters = [
            memo_first(c) if f.type in _LOW_CARDINALITY_TYPES or f.format in _LOW_CARDINALITY_FORMATS else c
            for f, c in zip(self.fields, self.converters, strict=True)
        ]
        self.column_converters = [make_column_converter(f, target) for f in self.fields]
        self._blank_rows_possible = not any(f.required for f in self.fields)  # key fields are required
        self.names = [f.name for f in self.fields]
        self.name_set = frozenset(self.names)
        self.by_title = {f.title: f.name for f in self.fields}
        self.max_errors = max_errors
        self.errors = ErrorList()
        self.rows_read = 0  # data rows seen (blank ones included)
        self.rows_ok = 0
        keys = [i for i, f in enumerate(self.fields) if f.key]
        self._key_positions = keys
        self._seen_keys: dict[Any, int] = {}

    @property
    def error_count(self) -> int:
        return self.errors.total

    # -- recording

    def row_of(self, out: tuple[Any, ...]) -> int:
        """The row number where the key of the converted row ``out`` was read."""
        keys = self._key_positions
        return self._seen_keys[out[keys[0]] if len(keys) == 1 else tuple(out[i] for i in keys)]

    def add_error(self, row: int, field: FieldSpec | None, value: Any, reason: str) -> None:
        """Record an error found outside the validator (e.g. a key already in the table)."""
        self._error(row, field, value, reason)

    def _error(self, row: int, field: FieldSpec | None, value: Any, reason: str) -> None:
        self.errors.total += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(
                {
                    "row": row,
                    "field": field.name if field else None,
                    "title": field.title if field else None,
                    "value": mask_for_report(field.pi_kind, value) if field else None,
                    "reason": reason,
                }
            )

    def _check_key(self, row: int, out: tuple[Any, ...]) -> bool:
        keys = self._key_positions
        key = out[keys[0]] if len(keys) == 1 else tuple(out[i] for i in keys)
        first = self._seen_keys.setdefault(key, row)
        if first == row:
            return True
        field = self.fields[keys[0]]
        shown = out[keys[0]] if len(keys) == 1 else None
        titles = "、".join(self.fields[i].title for i in keys)
        self._error(row, field, shown, f"主键（{titles}）与第{first}行重复")
        return False

    def _slow(self, row: int, values: Sequence[Any]) -> tuple[Any, ...] | None:
        """Convert cell by cell to name every bad field of the row (only for rows that failed)."""
        out: list[Any] = []
        ok = True
        for field, convert, value in zip(self.fields, self.converters, values, strict=True):
            try:
                out.append(convert(value))
            except Bad as bad:
                ok = False
                self._error(row, field, value, bad.reason)
        return tuple(out) if ok else None

    @staticmethod
    def _blank(values: Iterable[Any]) -> bool:
        return all(v is None or (v.__class__ is str and not v.strip()) for v in values)

    # -- sources

    def tuples(
        self, rows: Iterable[Sequence[Any]], columns: Sequence[str | None]
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of cells in ``columns`` order (field names; ``None`` for ignored columns)."""
        width = len(columns)
        index = {name: i for i, name in enumerate(columns) if name is not None}
        absent = width  # a cell index past the end: rows are padded with one None for it
        positions = [index.get(name, absent) for name in self.names]
        padded = absent in positions
        # One C-level pass per row: pick the cells in field order, call each field's converter.
        pick: Callable[[Sequence[Any]], Sequence[Any]] = (
            _identity if positions == list(range(width)) else _picker(positions)
        )
        converters = self.cell_converters
        call = operator.call
        nfields = len(self.fields)
        keys = self._key_positions
        single_key = keys[0] if len(keys) == 1 else None
        seen = self._seen_keys.setdefault
        number = self.rows_read
        try:
            for cells in rows:
                number += 1
                self.rows_read = number  # read by progress reports between chunks
                if padded or len(cells) != width:
                    fitted = self._fit(number, cells, width)
                    if fitted is None:
                        continue
                    cells = fitted
                try:
                    out = tuple(map(call, converters, pick(cells)))
                except Bad:
                    if not self._blank(cells):
                        # [:nfields]: a padded short row holds one more cell than the fields
                        self._slow(number, pick(cells)[:nfields])
                    continue
                if out.count(None) == nfields:
                    continue  # a blank row
                if single_key is not None:
                    if seen(out[single_key], number) != number:
                        self._check_key(number, out)
                        continue
                elif keys and not self._check_key(number, out):
                    continue
                self.rows_ok += 1
                yield out
        finally:
            self.rows_read = number

    def tuple_chunks(
        self, rows: Iterable[Sequence[Any]], columns: Sequence[str | None], size: int = 1000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """:meth:`tuples`, ``size`` rows at a time (a chunk may hold fewer good rows, or none).

        Rows are converted column by column (:func:`make_column_converter`), :data:`COLUMN_BLOCK`
        at a time: a few C-level passes per column instead of a Python call per cell. A block with
        anything unusual in it (a bad cell, a blank or ragged row, a key seen before) is converted
        row by row by :meth:`tuples` instead, so rows, errors and row numbers are exactly the same.
        """
        width = len(columns)
        index = {name: i for i, name in enumerate(columns) if name is not None}
        positions = [index.get(name) for name in self.names]
        source = iter(rows)
        while True:
            out: list[tuple[Any, ...]] = []
            taken = 0
            # Read and convert a few hundred rows at a time: they stay in the CPU's caches
            # (measured: converting 5,000 rows at once is twice as slow as 500 at a time).
            while taken < size and (block := list(islice(source, min(COLUMN_BLOCK, size - taken)))):
                taken += len(block)
                converted = self._columnwise(block, width, positions)
                if converted is None:
                    out += self.tuples(block, columns)
                else:
                    self.rows_read += len(block)
                    self.rows_ok += len(converted)
                    out += converted
            if not taken:
                return
            yield out

    def _columnwise(
        self, chunk: list[Sequence[Any]], width: int, positions: list[int | None]
    ) -> list[tuple[Any, ...]] | None:
        if set(map(len, chunk)) != {width}:
            return None  # ragged or empty rows
        cells_by_column = list(zip(*chunk, strict=True))
        absent = (None,) * len(chunk)
        try:
            converted = [
                convert(absent if position is None else cells_by_column[position])
                for convert, position in zip(self.column_converters, positions, strict=True)
            ]
        except Slow:
            return None
        if self._blank_rows_possible and all(None in values for values in converted):
            # Some row might be blank (every field missing): the row path skips those.
            if any(row.count(None) == len(converted) for row in zip(*converted, strict=True)):
                return None
        keys = self._key_positions
        if keys:
            values = (
                converted[keys[0]]
                if len(keys) == 1
                else list(zip(*(converted[i] for i in keys), strict=True))
            )
            first = self.rows_read + 1
            new = dict(zip(values, range(first, first + len(chunk)), strict=True))
            if len(new) != len(chunk) or not self._seen_keys.keys().isdisjoint(new):
                return None  # a key repeated: the row path names the rows
            self._seen_keys.update(new)
        return list(zip(*converted, strict=True))

    def _fit(self, number: int, cells: Sequence[Any], width: int) -> list[Any] | None:
        """A ragged row padded to the header's width plus the absent-column slot; None to skip it."""
        cells = list(cells)
        if len(cells) > width:
            extra = cells[width:]
            if not self._blank(extra):
                self._error(number, None, None, f"此行有{len(cells)}列，多于表头的{width}列")
                return None
            del cells[width:]
        if not cells:
            return None
        cells.extend([None] * (width + 1 - len(cells)))
        return cells

    def mappings(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Any, ...]]:
        """Rows as mappings keyed by field names (titles are accepted too)."""
        pairs = list(zip(self.converters, self.names, strict=True))
        names = self.name_set
        nfields = len(self.fields)
        has_keys = bool(self._key_positions)
        number = self.rows_read
        try:
            for row in rows:
                number += 1
                self.rows_read = number
                if not row:
                    continue
                if not names.issuperset(row):
                    fixed = self._rename(number, row)
                    if fixed is None:
                        continue
                    row = fixed
                get = row.get
                try:
                    out = tuple([convert(get(name)) for convert, name in pairs])
                except Bad:
                    if self._blank(row.values()):
                        continue
                    self._slow(number, [get(name) for name in self.names])
                    continue
                if out.count(None) == nfields:
                    continue
                if has_keys and not self._check_key(number, out):
                    continue
                self.rows_ok += 1
                yield out
        finally:
            self.rows_read = number

    def _rename(self, number: int, row: Mapping[str, Any]) -> dict[str, Any] | None:
        renamed: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in row.items():
            title = key.strip() if isinstance(key, str) else key
            name = key if key in self.name_set else self.by_title.get(title)
            if name is None:
                unknown.append(str(key))
            elif name in renamed:
                self._error(number, None, None, f"列「{key}」与同一信息项的另一列重复")
                return None
            else:
                renamed[name] = value
        if unknown:
            self._error(number, None, None, f"未知的列：{'、'.join(unknown)}")
            return None
        return renamed
