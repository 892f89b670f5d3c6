"""Registry tables: applications, notice objections, certificates and their logged events."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.kit.db import Base, utcnow


class Application(Base):
    """An application for initial registration of a data asset (资产登记申请)."""

    __tablename__ = "registry_application"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # data_resource | data_product
    description: Mapped[str] = mapped_column(Text)
    rights: Mapped[str] = mapped_column(Text)  # JSON list: holding | processing | operating
    source: Mapped[str] = mapped_column(Text)
    collection_method: Mapped[str] = mapped_column(Text)
    personal_info: Mapped[bool] = mapped_column(Boolean, default=False)
    personal_info_basis: Mapped[str] = mapped_column(Text, default="")
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    field_summary: Mapped[str] = mapped_column(Text, default="")
    update_frequency: Mapped[str] = mapped_column(String(20), default="irregular")
    time_range: Mapped[str] = mapped_column(String(100), default="")
    scenarios: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    fingerprint: Mapped[str] = mapped_column(String(128))
    catalog_resource: Mapped[str] = mapped_column(String(80), default="")
    # submitted | compliance | notice | paused | issued | refused | withdrawn
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    accept_by: Mapped[date | None] = mapped_column(Date)
    report: Mapped[str] = mapped_column(Text, default="")  # the assessor's compliance report
    report_opinion: Mapped[str] = mapped_column(String(20), default="")  # pass | fail
    assessor: Mapped[str] = mapped_column(String(64), default="")
    notice_start: Mapped[date | None] = mapped_column(Date)
    notice_end: Mapped[date | None] = mapped_column(Date)
    paused_at: Mapped[date | None] = mapped_column(Date)
    applicant: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeObjection(Base):
    """An objection lodged during public notice (公示异议); an open one pauses the notice."""

    __tablename__ = "registry_objection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("registry_application.id"), index=True)
    lodged_by: Mapped[str] = mapped_column(String(200))  # an account, or the name a member of the public gave
    grounds: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # open | upheld | dismissed | closed
    decision: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class Certificate(Base):
    """数据资产凭证: the signed registration, and its current status."""

    __tablename__ = "registry_certificate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # GD-DA-<year>-<6 digits>
    application_id: Mapped[int] = mapped_column(ForeignKey("registry_application.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)  # active | pledged | cancelled | revoked
    pledgee_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"))
    valid_until: Mapped[date] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON of what was certified
    signature: Mapped[str] = mapped_column(Text)  # Signature.to_dict() as JSON
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)


class CertificateEvent(Base):
    """One event of a certificate (issue, change, transfer, pledge, release, cancel, revoke): a leaf."""

    __tablename__ = "registry_event"
    __table_args__ = (UniqueConstraint("leaf_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("registry_certificate.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    leaf: Mapped[str] = mapped_column(Text)  # the canonical JSON appended to the log
    leaf_index: Mapped[int] = mapped_column(Integer)
    leaf_hash: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CertificateSequence(Base):
    """The last certificate number used in a year."""

    __tablename__ = "registry_sequence"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class ChangeRequest(Base):
    """A change registration (变更登记): the holder asks to change registered fields of a certificate."""

    __tablename__ = "registry_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("registry_certificate.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("org.id"))  # the holder when it applied
    changes: Mapped[str] = mapped_column(Text)  # JSON object: field → new value (only fields that differ)
    before: Mapped[str] = mapped_column(Text)  # JSON object: field → value when applied
    reason: Mapped[str] = mapped_column(Text)
    # submitted | approved | refused | withdrawn | lapsed (transferred, cancelled or revoked meanwhile)
    status: Mapped[str] = mapped_column(String(20), index=True)
    decision: Mapped[str] = mapped_column(Text, default="")
    applicant: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class Licence(Base):
    """A licence registration (授权许可登记): usage rights of a certificate licensed to another org."""

    __tablename__ = "registry_licence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("registry_certificate.id"), index=True)
    licensor_id: Mapped[int] = mapped_column(ForeignKey("org.id"))  # the holder that granted it
    licensee_id: Mapped[int] = mapped_column(ForeignKey("org.id"), index=True)
    right: Mapped[str] = mapped_column(String(20))  # processing | operating
    scope: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))  # active | ended (expiry is by date, not a status)
    end_reason: Mapped[str] = mapped_column(Text, default="")
    granted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class Attachment(Base):
    """A supporting document of an application (数据来源证明, 授权书, 合规自评报告, 样例数据 …).

    The bytes live under ``<data_dir>/attachments``, named by their hash (two uploads of the same
    file share one copy); the row says which application they support and how they came in."""

    __tablename__ = "registry_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("registry_application.id"), index=True)
    # source_proof | authorization | compliance_self_assessment | sample | other
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))  # the uploaded file's name, sanitised
    content_type: Mapped[str] = mapped_column(String(100))  # found from the bytes, not the client's word
    size: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(128), index=True)  # SHA-256 or SM3 (the platform's suite)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
