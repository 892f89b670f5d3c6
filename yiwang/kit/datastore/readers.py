"""Reading CSV, XLSX and JSON into rows, with the header checked against the fields.

CSV is read as UTF-8 (with or without BOM); when its first megabyte is not UTF-8 it is
read as GB18030 (which covers GBK and GB2312, what Chinese Excel saves by default). A
header cell may be a field's name or its Chinese title. Unknown columns and missing
required columns are refused before any row is read; blank header cells are ignored.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from yiwang.kit.datastore.fields import FieldSpec
from yiwang.kit.errors import InvalidInput

__all__ = ["FORMATS", "RowStream", "read_rows"]

FORMATS = ("csv", "xlsx", "json")
_SNIFF = 1 << 20

Source = str | Path | bytes | IO[bytes] | IO[str]


class RowStream:
    """Rows read from a file. Iterating gives dicts keyed by field name; the datastore's
    own validator uses :meth:`cells` (lists in :attr:`columns` order), which is faster.

    ``columns`` is ``None`` for JSON, whose objects carry their own keys.
    """

    def __init__(
        self,
        columns: list[str | None] | None,
        cells: Iterator[Sequence[Any]] | None = None,
        mappings: Iterator[dict[str, Any]] | None = None,
    ) -> None:
        self.columns = columns
        self._cells = cells
        self._mappings = mappings

    def cells(self) -> Iterator[Sequence[Any]]:
        if self._cells is None:
            raise TypeError("this stream holds mappings; iterate it instead")
        return self._cells

    def mappings(self) -> Iterator[dict[str, Any]]:
        if self._mappings is not None:
            return self._mappings
        return iter(self)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._mappings is not None:
            yield from self._mappings
            return
        columns = self.columns or []
        for cells in self.cells():
            if not any(c not in (None, "") for c in cells):
                yield {}  # a blank row: skipped by the validator, but still counted
                continue
            yield {name: cell for name, cell in zip(columns, cells, strict=False) if name is not None}


def read_rows(source: Source, format: str, fields: Sequence[FieldSpec] | None = None) -> RowStream:
    """Open ``source`` (a path, bytes, or a binary or text stream) as rows of ``format``.

    With ``fields``, header cells are mapped to field names (a cell may hold the name or
    the Chinese title) and checked: unknown or repeated columns and missing required
    columns raise :class:`~yiwang.kit.errors.InvalidInput` at once. Without ``fields`` the
    header is taken as it is.
    """
    if format == "csv":
        header, body = _csv(source)
    elif format == "xlsx":
        header, body = _xlsx(source)
    elif format == "json":
        return RowStream(None, mappings=_json(source, fields))
    else:
        raise InvalidInput(f"不支持的文件格式 {format!r}：可选 csv、xlsx、json", details={"field": "format"})
    columns = map_header(header, fields) if fields is not None else [h.strip() or None for h in header]
    return RowStream(columns, cells=body)


def map_header(header: Sequence[Any], fields: Sequence[FieldSpec]) -> list[str | None]:
    """Field names for the header cells (``None`` for blank cells); unknown/missing columns refused."""
    by_name = {f.name: f.name for f in fields}
    by_title = {f.title: f.name for f in fields}
    columns: list[str | None] = []
    unknown: list[str] = []
    repeated: list[str] = []
    for cell in header:
        text = ("" if cell is None else str(cell)).strip().lstrip("\ufeff")
        if not text:
            columns.append(None)
            continue
        name = by_name.get(text) or by_title.get(text) or by_name.get(text.lower())
        if name is None:
            unknown.append(text)
        elif name in columns:
            repeated.append(text)
        columns.append(name)
    if unknown:
        known = "、".join(f"{f.title}({f.name})" for f in fields)
        raise InvalidInput(
            f"文件含未知的列：{'、'.join(unknown)}。可用的列（中文名称或英文名均可）：{known}",
            details={"unknown_columns": unknown},
        )
    if repeated:
        raise InvalidInput(f"文件中的列重复：{'、'.join(repeated)}", details={"repeated_columns": repeated})
    missing = [f for f in fields if f.required and f.name not in columns]
    if missing:
        raise InvalidInput(
            f"文件缺少必填的列：{'、'.join(f.title for f in missing)}",
            details={"missing_columns": [f.name for f in missing]},
        )
    return columns


# ----------------------------------------------------------------- CSV


def _binary(source: Source) -> tuple[IO[bytes] | IO[str], bool]:
    """A stream for ``source`` and whether we opened it (and must close it)."""
    if isinstance(source, str | Path):
        return open(source, "rb"), True  # noqa: SIM115 - closed when the rows are exhausted
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source), True
    return source, False


def _text_stream(stream: IO[bytes] | IO[str]) -> IO[str]:
    head = stream.read(0)
    if isinstance(head, str):
        return stream  # type: ignore[return-value]
    binary: IO[bytes] = stream  # type: ignore[assignment]
    buffered = binary if isinstance(binary, io.BufferedReader) else io.BufferedReader(_Raw(binary), _SNIFF)
    sample = buffered.peek(_SNIFF)[:_SNIFF]
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        encoding = "gb18030"
    return io.TextIOWrapper(buffered, encoding=encoding, newline="")


class _Raw(io.RawIOBase):
    """Adapts any object with ``read`` (an upload's spooled file) to a raw stream for buffering."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _csv(source: Source) -> tuple[list[str], Iterator[list[str]]]:
    stream, owned = _binary(source)
    try:
        text = _text_stream(stream)
        reader = csv.reader(text)
        header = next(reader, None)
    except UnicodeDecodeError:
        if owned:
            stream.close()
        raise InvalidInput("文件编码无法识别：请保存为 UTF-8 或 GB18030（GBK）编码的 CSV") from None
    except BaseException:
        if owned:
            stream.close()
        raise
    if header is None:
        if owned:
            stream.close()
        raise InvalidInput("文件为空：第一行应为表头")
    return header, _csv_body(reader, stream if owned else None)


def _csv_body(reader: Any, owned: IO[Any] | None) -> Iterator[list[str]]:
    try:
        yield from reader
    except UnicodeDecodeError:
        raise InvalidInput(
            f"文件编码错误：第{reader.line_num}行附近不是有效的 UTF-8，请整份保存为 UTF-8 或 GB18030"
        ) from None
    except csv.Error as exc:
        raise InvalidInput(f"CSV 格式错误（第{reader.line_num}行附近）：{exc}") from None
    finally:
        if owned is not None:
            owned.close()


# ----------------------------------------------------------------- XLSX


def _xlsx(source: Source) -> tuple[list[str], Iterator[list[Any]]]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        if isinstance(source, str | Path):
            book = CalamineWorkbook.from_path(str(source))
        else:
            data = source if isinstance(source, bytes | bytearray) else source.read()
            if isinstance(data, str):
                raise InvalidInput("XLSX 文件应以二进制方式读取")
            book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise InvalidInput("XLSX 文件没有工作表")
        rows = book.get_sheet_by_index(0).iter_rows()
    except CalamineError as exc:
        raise InvalidInput(f"无法读取 XLSX 文件：{exc}") from None
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"无法读取 XLSX 文件：{exc}") from None
    header = next(rows, None)
    if header is None:
        raise InvalidInput("工作表为空：第一行应为表头")
    return [str(h) for h in header], rows


# ----------------------------------------------------------------- JSON


def _json(source: Source, fields: Sequence[FieldSpec] | None) -> Iterator[dict[str, Any]]:
    """An array of objects, or JSON lines (one object a line). Keys may be names or titles."""
    stream, owned = _binary(source)
    try:
        raw = stream.read()
    finally:
        if owned:
            stream.close()
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("JSON 文件应为 UTF-8 编码") from None
    else:
        text = raw
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"JSON 格式错误（第{exc.lineno}行第{exc.colno}列）：{exc.msg}") from None
        return _objects(items, "第{n}个元素", fields)
    return _objects(_lines(text), "第{n}行", fields)


def _lines(text: str) -> Iterator[Any]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            yield {}
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"JSON Lines 格式错误（第{number}行）：{exc.msg}") from None


def _objects(items: Any, where: str, fields: Sequence[FieldSpec] | None) -> Iterator[dict[str, Any]]:
    if isinstance(items, dict):
        raise InvalidInput("JSON 应为对象数组，或每行一个对象（JSON Lines）")
    names = {f.name for f in fields} if fields is not None else None
    titles = {f.title: f.name for f in fields} if fields is not None else {}
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InvalidInput(f"JSON {where.format(n=n)}应为对象（{{...}}）")
        if names is not None and not names.issuperset(item):
            # Titles as keys are fine; anything else is left for the validator to name.
            item = {titles.get(k, k) if k not in names else k: v for k, v in item.items()}
        yield item
