"""Field specs (信息项) and the SQL table built from them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from yiwang.kit.errors import InvalidInput

FieldType = Literal["string", "integer", "number", "date", "datetime", "boolean"]
FieldFormat = Literal["id_number", "uscc", "phone", "region_code", "email"]
PiKind = Literal["none", "name", "id_number", "phone", "address", "bank_card", "email", "other"]

FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
FIELD_FORMATS: tuple[str, ...] = get_args(FieldFormat)
PI_KINDS: tuple[str, ...] = get_args(PiKind)

ROW_COLUMN = "_row"
TABLE_PREFIX = "ds_"
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
# 63 is PostgreSQL's identifier limit; index names add a few characters to the table name.
_TABLE_RE = re.compile(r"[a-z0-9_]{1,56}")

# Fields whose format makes their values personal even when the spec forgot to say so:
# an ID number must never be echoed whole, whatever ``pi`` claims.
_PI_BY_FORMAT = {"id_number": "id_number", "phone": "phone", "email": "email"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One column of a data resource: its name, Chinese title, type, format and PI kind.

    ``format`` ("" counts as none) adds a check with the backbone's validators; a key field
    is always required (a row without its key cannot be found again, and SQL unique
    indexes let any number of NULL keys through). Invalid specs raise
    :class:`~yiwang.kit.errors.InvalidInput` with a Chinese message.
    """

    name: str
    title: str = ""
    type: FieldType = "string"
    format: FieldFormat | None = None
    pi: PiKind = "none"
    key: bool = False
    required: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise InvalidInput(
                f"信息项名称 {self.name!r} 无效：应以小写字母开头，只含小写字母、数字和下划线，最长63个字符",
                details={"field": self.name},
            )
        if self.type not in FIELD_TYPES:
            raise InvalidInput(
                f"信息项 {self.name} 的类型 {self.type!r} 无效：可选 {'、'.join(FIELD_TYPES)}",
                details={"field": self.name},
            )
        if self.format == "":
            object.__setattr__(self, "format", None)
        if self.format is not None and self.format not in FIELD_FORMATS:
            raise InvalidInput(
                f"信息项 {self.name} 的格式 {self.format!r} 无效：可选 {'、'.join(FIELD_FORMATS)}",
                details={"field": self.name},
            )
        if self.pi not in PI_KINDS:
            raise InvalidInput(
                f"信息项 {self.name} 的个人信息类别 {self.pi!r} 无效：可选 {'、'.join(PI_KINDS)}",
                details={"field": self.name},
            )
        if not self.title:
            object.__setattr__(self, "title", self.name)
        if self.key and not self.required:
            object.__setattr__(self, "required", True)

    @property
    def label(self) -> str:
        """How people see the field in messages: 「身份证号」(id_number)."""
        return f"「{self.title}」" if self.title == self.name else f"「{self.title}」({self.name})"

    @property
    def pi_kind(self) -> str:
        """The personal-information kind used for masking (from ``pi``, else implied by ``format``)."""
        if self.pi != "none":
            return self.pi
        return _PI_BY_FORMAT.get(self.format or "", "none")


def check_fields(fields: Sequence[FieldSpec]) -> None:
    """A field list must be non-empty with unique names and unique titles."""
    if not fields:
        raise InvalidInput("数据表至少需要一个信息项")
    for attr, what in (("name", "名称"), ("title", "中文名称")):
        counts = Counter(getattr(f, attr) for f in fields)
        dups = sorted(v for v, n in counts.items() if n > 1)
        if dups:
            raise InvalidInput(f"信息项{what}重复：{'、'.join(dups)}", details={"duplicates": dups})


def table_name_of(name: str) -> str:
    """The physical table name: ``ds_`` + ``name`` (a name already starting with ``ds_`` is kept)."""
    physical = name if name.startswith(TABLE_PREFIX) else TABLE_PREFIX + name
    if not _TABLE_RE.fullmatch(physical) or not physical[3:]:
        raise InvalidInput(
            f"数据表名 {name!r} 无效：只能含小写字母、数字和下划线，最长56个字符", details={"table": name}
        )
    return physical


def column_type(field_type: str) -> TypeEngine[Any]:
    types: dict[str, TypeEngine[Any]] = {
        "string": Text(),
        "integer": BigInteger(),
        # Binary floating point: SQLite has no exact decimal type, and both backends agree on doubles.
        "number": Double(),
        "date": Date(),
        "datetime": DateTime(),
        "boolean": Boolean(),
    }
    return types[field_type]


_ROW_TYPE = BigInteger().with_variant(Integer(), "sqlite")


def build_table(physical: str, fields: Sequence[FieldSpec]) -> Table:
    """The SQLAlchemy table of ``fields`` (in its own MetaData: data tables are not migrated)."""
    table = Table(
        physical,
        MetaData(),
        # INTEGER PRIMARY KEY is SQLite's rowid: the cheapest surrogate there is.
        Column(ROW_COLUMN, _ROW_TYPE, primary_key=True, autoincrement=True),
        *(Column(f.name, column_type(f.type), nullable=not f.required) for f in fields),
    )
    keys = [f.name for f in fields if f.key]
    if keys:
        Index(f"{physical}_key", *(table.c[k] for k in keys), unique=True)
        # The unique index already serves lookups by its leading column.
        for position, key in enumerate(keys[1:], start=2):
            Index(f"{physical}_k{position}", table.c[key])
    return table
