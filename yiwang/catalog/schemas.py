"""The catalog's JSON shapes. ``ResourceIn`` is the CONTRACT shape of import, export and the API."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yiwang.kit.types import UtcDateTime

ShareType = Literal["unconditional", "conditional", "none"]
FieldType = Literal["string", "integer", "number", "date", "datetime", "boolean"]
FieldFormat = Literal["id_number", "uscc", "phone", "region_code", "email"]
PiKind = Literal["none", "name", "id_number", "phone", "address", "bank_card", "email", "other"]
UpdateCycle = Literal["realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular"]
Level = Literal["core", "important", "general"]


class FieldIn(BaseModel):
    """信息项 (a column) of a resource."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="列名（小写英文、数字、下划线）")
    title: str = Field(min_length=1, max_length=100, description="中文名称")
    type: FieldType = "string"
    format: FieldFormat | None = None
    pi: PiKind = Field("none", description="个人信息类别")
    key: bool = False
    required: bool = False


class ResourceIn(BaseModel):
    """A data resource as departments describe it (《政务信息资源目录编制指南》 core metadata)."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$", description="留空则自动生成")
    name: str = Field(min_length=1, max_length=200)
    provider: str = Field(min_length=1, max_length=64, description="提供部门代码")
    summary: str = Field("", max_length=4000)
    category: str = Field(min_length=1, max_length=100, description="如 基础信息资源/法人单位")
    themes: list[str] = Field(default_factory=list, max_length=20)
    keywords: list[str] = Field(default_factory=list, max_length=30)
    format: Literal["table", "file", "api"] = "table"
    share_type: ShareType
    share_condition: str = Field("", max_length=2000)
    share_basis: str = Field("", max_length=2000)
    share_method: Literal["api", "table", "file"] = "api"
    open_type: ShareType = "none"
    update_cycle: UpdateCycle = "irregular"
    level: Level = "general"
    released: date | None = None
    related: list[str] = Field(default_factory=list, max_length=50)
    fields: list[FieldIn] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _conditions(self) -> ResourceIn:
        if self.share_type == "conditional" and not self.share_condition.strip():
            raise ValueError("有条件共享的资源必须填写共享条件（share_condition）")
        if self.share_type == "none" and not self.share_basis.strip():
            raise ValueError("不予共享的资源必须填写法律依据（share_basis）")
        names = [f.name for f in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"信息项名称重复：{', '.join(duplicates)}")
        if self.format == "table" and not self.fields:
            raise ValueError("表格类资源至少需要一个信息项（fields）")
        return self


class FieldOut(FieldIn):
    model_config = ConfigDict(extra="ignore", from_attributes=True)


class ResourceOut(ResourceIn):
    """A resource as read back: the contract shape plus its state."""

    model_config = ConfigDict(extra="ignore")

    code: str
    provider_name: str
    status: str
    status_reason: str = ""
    version: int
    pending_status: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    published_at: UtcDateTime | None = None
    row_count: int = 0
    last_load_at: UtcDateTime | None = None
    overdue: bool = False
    request_count: int = 0


class Decision(BaseModel):
    approve: bool
    reason: str = Field("", max_length=2000)


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class LoadOut(BaseModel):
    resource: str
    mode: str
    row_count: int
    inserted: int
    updated: int
    content_hash: str
    hash_suite: str
    at: UtcDateTime
    actor: str
