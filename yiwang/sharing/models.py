"""Sharing tables: requests, grants and their usage counters, objections, demands, duties, notices."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.kit.db import Base, utcnow


class SharingRequest(Base):
    """共享申请: one consumer department's request for one resource, for one purpose and system."""

    __tablename__ = "sharing_request"
    __table_args__ = (Index("ix_sharing_request_status_deadline", "status", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resource.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    resource_name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    requester: Mapped[str] = mapped_column(String(64))
    fields: Mapped[str] = mapped_column(Text)  # JSON list of field names
    purpose: Mapped[str] = mapped_column(Text)
    scenario: Mapped[str] = mapped_column(Text, default="")
    basis: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[date] = mapped_column(Date)
    system: Mapped[str] = mapped_column(String(100))
    # pending | granted | refused | withdrawn
    status: Mapped[str] = mapped_column(String(20), index=True)
    deadline: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    escalation_reason: Mapped[str] = mapped_column(Text, default="")
    reminded_at: Mapped[datetime | None] = mapped_column()
    renewal_of: Mapped[int | None] = mapped_column(Integer)  # the grant this request renews
    grant_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Grant(Base):
    """授权: what one consumer system may read of one resource, until when, how much."""

    __tablename__ = "sharing_grant"
    __table_args__ = (Index("ix_sharing_grant_lookup", "resource_id", "consumer_id", "system"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(Integer, index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resource.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    resource_name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    system: Mapped[str] = mapped_column(String(100))
    fields: Mapped[str] = mapped_column(Text)  # JSON list
    clear_fields: Mapped[str] = mapped_column(Text, default="[]")  # personal fields served unmasked
    row_scope: Mapped[str] = mapped_column(Text, default="{}")  # JSON {field: value or prefix*}
    purpose: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[date] = mapped_column(Date)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    rate_limit: Mapped[int | None] = mapped_column(Integer)  # calls per second
    status: Mapped[str] = mapped_column(String(20), index=True)  # active | revoked
    granted_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str] = mapped_column(String(64), default="")
    revoke_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GrantUsage(Base):
    """Calls served under a grant on one (Beijing) day: the daily quota's counter."""

    __tablename__ = "sharing_grant_usage"

    grant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class GrantRate(Base):
    """Calls served under a grant in the current one-second window: the rate limit's counter."""

    __tablename__ = "sharing_grant_rate"

    grant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    window: Mapped[int] = mapped_column(Integer)  # Unix second
    calls: Mapped[int] = mapped_column(Integer)


class Objection(Base):
    """数据异议: a consumer disputes records of a resource; the provider must answer in time."""

    __tablename__ = "sharing_objection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resource.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    provider_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    raised_by: Mapped[str] = mapped_column(String(64))
    record_keys: Mapped[str] = mapped_column(Text)  # JSON list of key values
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)  # open | corrected | rejected
    deadline: Mapped[date] = mapped_column(Date)
    answer: Mapped[str] = mapped_column(Text, default="")
    load_id: Mapped[int | None] = mapped_column(Integer)
    answered_by: Mapped[str] = mapped_column(String(64), default="")
    answered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Demand(Base):
    """需求清单: what a department needs; a provider answers with a resource or declines."""

    __tablename__ = "sharing_demand"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    items: Mapped[str] = mapped_column(Text)  # JSON list of the data items wanted
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)  # open | answered | declined
    resource_code: Mapped[str] = mapped_column(String(80), default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    posted_by: Mapped[str] = mapped_column(String(64))
    answered_by: Mapped[str] = mapped_column(String(64), default="")
    answered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Duty(Base):
    """责任清单: a resource a department must keep published and current."""

    __tablename__ = "sharing_duty"
    __table_args__ = (UniqueConstraint("org_id", "resource_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resource.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")
    assigned_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An in-app notice to the people of a department who hold one of ``roles``."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"))  # None: everyone with the role
    roles: Mapped[str] = mapped_column(String(100))  # comma-separated
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
