"""The sharing network's JSON shapes (CONTRACT: requests, decisions, revocations)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=63)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
System = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ScopeValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestIn(Strict):
    resource: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    fields: Annotated[list[Name], Field(min_length=1, max_length=200)]
    purpose: Text
    basis: Text
    valid_until: date
    system: System
    scenario: OptionalText = ""
    renews: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None


class DecisionIn(Strict):
    approve: bool
    reason: OptionalText = ""
    fields: Annotated[list[Name], Field(min_length=1, max_length=200)] | None = None
    row_scope: Annotated[dict[Name, ScopeValue], Field(max_length=20)] | None = None
    daily_quota: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    rate_limit: Annotated[int, Field(ge=1, le=100_000)] | None = None
    clear_fields: Annotated[list[Name], Field(max_length=200)] | None = None


class ReasonIn(Strict):
    reason: Text


class RequestOut(BaseModel):
    id: int
    status: Literal["pending", "granted", "refused", "withdrawn"]
    grant: int | None
    deadline: date | None
    resource: str
    resource_name: str
    provider: str
    consumer: str
    requester: str
    fields: list[str]
    purpose: str
    scenario: str
    basis: str
    valid_until: date
    system: str
    reason: str
    overdue: bool
    escalated: bool
    renews: int | None
    created_at: datetime
    decided_at: datetime | None


class GrantOut(BaseModel):
    id: int
    request: int
    resource: str
    resource_name: str
    provider: str
    consumer: str
    system: str
    fields: list[str]
    clear_fields: list[str]
    row_scope: dict[str, str]
    purpose: str
    valid_until: date
    daily_quota: int | None
    rate_limit: int | None
    status: Literal["active", "expired", "revoked"]
    revoke_reason: str
    created_at: datetime


class ObjectionIn(Strict):
    resource: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    keys: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=200)]], Field(min_length=1)
    ]
    description: Text


class ObjectionAnswerIn(Strict):
    outcome: Literal["corrected", "rejected"]
    answer: Text
    load: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None


class DemandIn(Strict):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    items: Annotated[list[Text], Field(min_length=1, max_length=200)]
    purpose: Text
    provider: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class DemandAnswerIn(Strict):
    resource: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    reason: OptionalText = ""


class DutyIn(Strict):
    org: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    resource: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    note: OptionalText = ""
