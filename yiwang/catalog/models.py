"""Catalog tables: resources, their fields (信息项), versions, activity and data loads."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yiwang.kit.db import Base, utcnow


class Resource(Base):
    """A described data resource of a department.

    The columns hold the current metadata (the published version once published). A
    change proposed to a published resource waits in ``pending`` (the full JSON shape)
    until the provider's CDO or the operator approves it, so the catalog never shows
    unreviewed metadata.
    """

    __tablename__ = "catalog_resource"
    __table_args__ = (Index("ix_catalog_resource_status_provider", "status", "provider_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)  # the provider's region (facet)
    summary: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(100))
    themes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    keywords: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    format: Mapped[str] = mapped_column(String(10))
    share_type: Mapped[str] = mapped_column(String(20), index=True)
    share_condition: Mapped[str] = mapped_column(Text, default="")
    share_basis: Mapped[str] = mapped_column(Text, default="")
    share_method: Mapped[str] = mapped_column(String(10))
    open_type: Mapped[str] = mapped_column(String(20), index=True)
    update_cycle: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(20))
    released: Mapped[date | None] = mapped_column(Date)
    related: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of codes

    status: Mapped[str] = mapped_column(String(20), index=True)  # draft|submitted|published|rejected|revoked
    status_reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[str | None] = mapped_column(Text)  # JSON of a proposed change
    pending_status: Mapped[str | None] = mapped_column(String(20))  # draft|submitted|rejected
    pending_reason: Mapped[str] = mapped_column(Text, default="")

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    request_count: Mapped[int] = mapped_column(Integer, default=0)

    data_table: Mapped[str | None] = mapped_column(String(80))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    last_load_at: Mapped[datetime | None] = mapped_column()

    fields: Mapped[list[Field]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="Field.position"
    )


class Field(Base):
    """信息项: one column of a resource."""

    __tablename__ = "catalog_field"
    __table_args__ = (UniqueConstraint("resource_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_resource.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))
    format: Mapped[str | None] = mapped_column(String(20))
    pi: Mapped[str] = mapped_column(String(20), default="none")
    key: Mapped[bool] = mapped_column(Boolean, default=False)
    required: Mapped[bool] = mapped_column(Boolean, default=False)


class Version(Base):
    """A published version: the full metadata and its diff against the previous one."""

    __tablename__ = "catalog_version"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_resource.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[str] = mapped_column(Text)  # JSON
    diff: Mapped[str] = mapped_column(Text)  # JSON {field: [old, new]}
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(64))


class Activity(Base):
    """The resource's history as people read it (the audit log holds the proof)."""

    __tablename__ = "catalog_activity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_resource.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class Load(Base):
    """One successful data load: how many rows, their content hash, who and when."""

    __tablename__ = "catalog_load"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_resource.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(200), default="")
    row_count: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(128))
    hash_suite: Mapped[str] = mapped_column(String(20))


class Tag(Base):
    """Themes (groups) and keywords (tags) of published resources, one row each, for facets."""

    __tablename__ = "catalog_tag"
    __table_args__ = (Index("ix_catalog_tag_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_resource.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # theme | keyword
    value: Mapped[str] = mapped_column(String(100))


class CategorySequence(Base):
    """Next sequence number per (category code, provider): resource codes never repeat."""

    __tablename__ = "catalog_sequence"

    prefix: Mapped[str] = mapped_column(String(80), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
