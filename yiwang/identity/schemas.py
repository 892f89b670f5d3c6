"""Pydantic shapes of the identity API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from yiwang.kit.types import UtcDateTime

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"
ORG_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$"


class OrgCreate(BaseModel):
    code: str = Field(
        pattern=ORG_CODE_PATTERN, description="行政区划代码（区域）或 <区划代码>-<简称>（部门）"
    )
    name: str = Field(min_length=1, max_length=200)
    parent: str | None = Field(None, description="上级单位代码")
    kind: Literal["region", "department"] = "department"


class Org(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    kind: str
    parent: str | None = None
    path: str


class UserCreate(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field("", max_length=100)
    org: str
    roles: list[Literal["admin", "operator", "cdo", "staff", "auditor"]] = Field(min_length=1)
    password: str = Field(min_length=1, max_length=200)


class User(BaseModel):
    username: str
    display_name: str
    org: str
    org_name: str
    roles: list[str]
    is_active: bool


class Me(BaseModel):
    username: str
    display_name: str
    kind: str
    org: str
    org_name: str
    roles: list[str]
    token_name: str | None = None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="使用此令牌的系统名称")
    expires_days: int | None = Field(None, ge=1, le=3650)


class Token(BaseModel):
    id: int
    name: str
    username: str
    prefix: str
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    last_used_at: UtcDateTime | None


class TokenCreated(Token):
    token: str = Field(description="只显示这一次，请妥善保存")
