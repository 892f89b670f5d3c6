"""Reading, exporting and verifying the audit log, behind the authorization table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yiwang.identity.authz import Actor, authorize
from yiwang.kit import audit
from yiwang.kit.audit import AuditCheckpoint, AuditEntry, VerifyResult
from yiwang.kit.crypto import Keyring

MAX_PAGE = 500


@dataclass
class EntryFilter:
    actor: str | None = None
    org: str | None = None
    action: str | None = None
    outcome: str | None = None
    target: str | None = None
    since: str | None = None  # ISO date or time, compared as text (entries store ISO UTC)
    until: str | None = None
    before_seq: int | None = None  # cursor: entries older than this
    limit: int = 50


def list_entries(session: Session, actor: Actor, flt: EntryFilter) -> tuple[list[AuditEntry], int | None]:
    """Newest first; returns the page and the cursor of the next (older) page."""
    authorize(actor, "audit.view")
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if flt.actor:
        query = query.where(AuditEntry.actor == flt.actor)
    if flt.org:
        query = query.where(AuditEntry.org == flt.org)
    if flt.action:
        query = query.where(AuditEntry.action.startswith(flt.action))
    if flt.outcome:
        query = query.where(AuditEntry.outcome == flt.outcome)
    if flt.target:
        query = query.where(AuditEntry.target_id == flt.target)
    if flt.since:
        query = query.where(AuditEntry.at >= flt.since)
    if flt.until:
        # A bare date means "through the end of that day".
        until = flt.until + "T99" if len(flt.until) == 10 else flt.until
        query = query.where(AuditEntry.at <= until)
    if flt.before_seq:
        query = query.where(AuditEntry.seq < flt.before_seq)
    limit = max(1, min(flt.limit, MAX_PAGE))
    rows = list(session.execute(query.limit(limit + 1)).scalars())
    next_cursor = rows[limit - 1].seq if len(rows) > limit else None
    return rows[:limit], next_cursor


def summary(session: Session, actor: Actor) -> dict[str, int]:
    authorize(actor, "audit.view")
    entries = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    checkpoints = session.execute(select(func.count()).select_from(AuditCheckpoint)).scalar_one()
    return {"entries": entries, "checkpoints": checkpoints}


def verify(session: Session, actor: Actor, keyring: Keyring) -> VerifyResult:
    authorize(actor, "audit.export")
    result = audit.verify_database(session, keyring.public_keys())
    audit.record(
        session,
        actor,
        "audit.verify",
        target_type="audit_log",
        outcome="ok",
        details={"intact": result.ok, "entries": result.entries},
    )
    return result


def export(session: Session, actor: Actor, keyring: Keyring, since: str | None = None) -> Iterator[str]:
    authorize(actor, "audit.export")
    return audit.export_lines(session, keyring.public_keys(), since=since)
