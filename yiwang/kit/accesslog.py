"""The access log: one entry for every call through the data gateway, allowed or denied.

X-Road keeps a signed message log per security server; ours is one chain for the
platform, built exactly like the audit log (:mod:`yiwang.kit.audit`): entries are
queued on the session with :func:`record_call`, chained and hashed in the
committing transaction, and the head is signed in checkpoints. The request's own
transaction commits the entry before the response leaves, so no answered call
goes unlogged. No payload is stored: the entry holds the response body's hash,
and query values of personal-information fields are masked (with a hash of the
raw query kept, so an auditor can still ask "was this ID number looked up?").

Exchange deliveries (later networks) write here too: the log belongs to the
platform, not to one network.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from yiwang.kit.audit import Chain, canonical_json, clean_text, register_chain
from yiwang.kit.db import Base
from yiwang.kit.errors import PlatformError

CHECKPOINT_CONTEXT = "yiwang-access-checkpoint"


class AccessEntry(Base):
    __tablename__ = "access_entry"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[str] = mapped_column(String(27), index=True)
    call_id: Mapped[str] = mapped_column(String(32), unique=True)
    caller: Mapped[str] = mapped_column(String(200))  # the token's account
    system: Mapped[str] = mapped_column(String(100))  # the token's name: the consuming system
    consumer: Mapped[str] = mapped_column(String(100), index=True)  # the caller's department code
    provider: Mapped[str] = mapped_column(String(100), index=True)  # the resource's department code
    resource: Mapped[str] = mapped_column(String(80), index=True)
    grant_id: Mapped[int] = mapped_column(Integer, index=True)  # 0: no grant applied
    purpose: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)  # canonical JSON, personal values masked
    query_hash: Mapped[str] = mapped_column(String(128))
    status: Mapped[int] = mapped_column(Integer, index=True)  # the HTTP status answered
    reason: Mapped[str] = mapped_column(String(60))  # "" when served; the refusal's reason code
    records: Mapped[int] = mapped_column(Integer)
    masked: Mapped[str] = mapped_column(Text)  # comma-separated field names
    clear: Mapped[str] = mapped_column(Text)  # personal fields served in clear by the grant
    body_hash: Mapped[str] = mapped_column(String(128))
    latency_us: Mapped[int] = mapped_column(Integer)
    suite: Mapped[str] = mapped_column(String(20))
    prev_hash: Mapped[str] = mapped_column(String(128))
    hash: Mapped[str] = mapped_column(String(128))


class AccessHead(Base):
    __tablename__ = "access_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(128))
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger)
    checkpoint_at: Mapped[datetime | None] = mapped_column()


class AccessCheckpoint(Base):
    __tablename__ = "access_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hash: Mapped[str] = mapped_column(String(128))
    at: Mapped[str] = mapped_column(String(27))
    signature: Mapped[str] = mapped_column(Text)


FIELDS = (
    "seq",
    "at",
    "call_id",
    "caller",
    "system",
    "consumer",
    "provider",
    "resource",
    "grant_id",
    "purpose",
    "query",
    "query_hash",
    "status",
    "reason",
    "records",
    "masked",
    "clear",
    "body_hash",
    "latency_us",
    "suite",
    "prev_hash",
)

ACCESS = register_chain(
    Chain(
        name="access",
        entry=AccessEntry.__table__,  # type: ignore[arg-type]
        head=AccessHead.__table__,  # type: ignore[arg-type]
        checkpoint=AccessCheckpoint.__table__,  # type: ignore[arg-type]
        fields=FIELDS,
        context=CHECKPOINT_CONTEXT,
        export_format="yiwang-access-export/1",
    )
)


def record_call(
    session: Session,
    *,
    call_id: str,
    caller: str,
    system: str,
    consumer: str,
    provider: str,
    resource: str,
    grant_id: int,
    purpose: str,
    query: Mapping[str, Any],
    query_hash: str,
    status: int,
    reason: str,
    records: int,
    masked: list[str],
    clear: list[str],
    body_hash: str,
    latency_us: int,
) -> None:
    """Queue one access entry; it is chained and written when ``session`` commits."""
    session.info.setdefault(ACCESS.pending_key, []).append(
        {
            "call_id": call_id,
            "caller": clean_text(caller),
            "system": clean_text(system),
            "consumer": clean_text(consumer),
            "provider": clean_text(provider),
            "resource": clean_text(resource),
            "grant_id": int(grant_id),
            "purpose": clean_text(purpose),
            "query": canonical_json(dict(query)),
            "query_hash": query_hash,
            "status": int(status),
            "reason": clean_text(reason),
            "records": int(records),
            "masked": ",".join(masked),
            "clear": ",".join(clear),
            "body_hash": body_hash,
            "latency_us": int(latency_us),
        }
    )


def error_body(refusal: PlatformError) -> bytes:
    """The error a refused call answers, as the access log hashes it (its ``body_hash``)."""
    return canonical_json({"error": {"code": refusal.code, "message": refusal.message}}).encode()


def refusal_reason(refusal: PlatformError) -> str:
    """The reason code logged for a refusal: its ``reason`` detail (a gateway's), else its code."""
    details = refusal.details if isinstance(refusal.details, dict) else {}
    return str(details.get("reason") or refusal.code)
