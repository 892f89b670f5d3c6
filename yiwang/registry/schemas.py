"""The registry's JSON shapes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Right = Literal["holding", "processing", "operating"]
Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
AttachmentKind = Literal["source_proof", "authorization", "compliance_self_assessment", "sample", "other"]
Frequency = Literal["realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationIn(Strict):
    name: Short
    kind: Literal["data_resource", "data_product"]
    description: Text
    rights: Annotated[list[Right], Field(min_length=1, max_length=3)]
    source: Text
    collection_method: Text
    personal_info: bool = False
    personal_info_basis: OptionalText = ""
    records: Annotated[int, Field(ge=0, le=10**15)] = 0
    size_bytes: Annotated[int, Field(ge=0, le=10**18)] = 0
    field_summary: OptionalText = ""
    update_frequency: Frequency = "irregular"
    time_range: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    scenarios: Annotated[list[Short], Field(min_length=1, max_length=50)]
    fingerprint: Hex
    catalog_resource: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] = ""


class DecisionIn(Strict):
    approve: bool
    reason: OptionalText = ""


class ReportIn(Strict):
    opinion: Literal["pass", "fail"]
    report: Text


class ObjectionIn(Strict):
    grounds: Text
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""


class ReasonIn(Strict):
    reason: Text


class TransferIn(Strict):
    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    reason: Text


class ChangeIn(Strict):
    """A change registration: the registered fields to change (leave out what stays), and why."""

    name: Short | None = None
    description: Text | None = None
    records: Annotated[int, Field(ge=0, le=10**15)] | None = None
    size_bytes: Annotated[int, Field(ge=0, le=10**18)] | None = None
    update_frequency: Frequency | None = None
    time_range: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    scenarios: Annotated[list[Short], Field(min_length=1, max_length=50)] | None = None
    fingerprint: Hex | None = None
    reason: Text


class LicenceIn(Strict):
    """A licence registration: a usage right licensed to another org, for a scope and a period."""

    licensee: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    right: Literal["processing", "operating"]
    scope: Text
    valid_from: date | None = None  # default: today
    valid_until: date
