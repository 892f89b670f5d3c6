"""Reading, exporting and verifying the gateway's access log, each side seeing its own calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import DateTime, Select, case, cast, func, or_, select, text
from sqlalchemy.orm import Session

from yiwang.identity import service as identity
from yiwang.identity.authz import Actor, authorize, register_actions
from yiwang.identity.models import Org
from yiwang.kit import audit
from yiwang.kit.accesslog import ACCESS, AccessEntry
from yiwang.kit.audit import VerifyResult
from yiwang.kit.crypto import Keyring

register_actions(
    {
        # export the whole access log and verify it (auditors)
        "sharing.access_export": {"admin": "all", "auditor": "all"},
    }
)

MAX_PAGE = 500


@dataclass
class CallFilter:
    resource: str | None = None
    grant: int | None = None
    side: str | None = None  # provider | consumer | None (both)
    status: int | None = None
    denied: bool = False
    since: str | None = None  # ISO date or time (entries store ISO UTC text)
    until: str | None = None
    before_seq: int | None = None
    limit: int = 100


def _visible(query: Select[Any], actor: Actor, side: str | None) -> Select[Any]:
    reach_ids = identity.orgs_in_reach(actor, "sharing.access_log")
    if reach_ids is None:
        return query
    codes = select(Org.code).where(Org.id.in_(reach_ids))
    if side == "provider":
        return query.where(AccessEntry.provider.in_(codes))
    if side == "consumer":
        return query.where(AccessEntry.consumer.in_(codes))
    return query.where(or_(AccessEntry.provider.in_(codes), AccessEntry.consumer.in_(codes)))


def list_calls(session: Session, actor: Actor, flt: CallFilter) -> tuple[list[AccessEntry], int | None]:
    """Newest first: the provider sees calls on its resources, the consumer its own, auditors all."""
    query = _visible(select(AccessEntry), actor, flt.side).order_by(AccessEntry.seq.desc())
    if flt.resource:
        query = query.where(AccessEntry.resource == flt.resource)
    if flt.grant:
        query = query.where(AccessEntry.grant_id == flt.grant)
    if flt.status:
        query = query.where(AccessEntry.status == flt.status)
    if flt.denied:
        query = query.where(AccessEntry.status >= 400)
    if flt.since:
        query = query.where(AccessEntry.at >= flt.since)
    if flt.until:
        until = flt.until + "T99" if len(flt.until) == 10 else flt.until
        query = query.where(AccessEntry.at <= until)
    if flt.before_seq:
        query = query.where(AccessEntry.seq < flt.before_seq)
    limit = max(1, min(flt.limit, MAX_PAGE))
    rows = list(session.execute(query.limit(limit + 1)).scalars())
    next_cursor = rows[limit - 1].seq if len(rows) > limit else None
    return rows[:limit], next_cursor


def beijing_day(session: Session, at: Any) -> Any:
    """The Beijing calendar day (YYYY-MM-DD) of a stored UTC time text, in SQL for either database.

    The fraction of a second is cut first: SQLite rounds it, which can carry 23:59:59.9999
    into the next day."""
    whole_seconds = func.substr(at, 1, 19)
    if session.get_bind().dialect.name == "postgresql":
        shifted = cast(whole_seconds, DateTime) + text("interval '8 hours'")
        return func.to_char(shifted, "YYYY-MM-DD")
    return func.date(whole_seconds, "+8 hours")


def utc_start_of(day: date) -> str:
    """The stored UTC time text at which a Beijing day begins (16:00 UTC the day before)."""
    start = datetime.combine(day, time.min) - timedelta(hours=8)
    return start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def daily_counts(
    session: Session, actor: Actor, *, since: str, side: str | None = None
) -> list[tuple[str, int, int]]:
    """Calls per Beijing day since ``since`` (a UTC time text): (day, served, refused)."""
    day = beijing_day(session, AccessEntry.at).label("day")
    served = func.sum(case((AccessEntry.status < 400, 1), else_=0))
    query = _visible(select(day, func.count(), served), actor, side).where(AccessEntry.at >= since)
    rows = session.execute(query.group_by(day).order_by(day)).all()
    return [(d, int(ok or 0), int(total) - int(ok or 0)) for d, total, ok in rows]


def export(session: Session, actor: Actor, keyring: Keyring, *, since: str | None = None) -> Iterator[str]:
    """The access log as JSON lines with its checkpoints and public keys, verifiable offline."""
    authorize(actor, "sharing.access_export", target_type="access_log")
    audit.record(session, actor, "sharing.access_export", target_type="access_log", details={"since": since})
    return audit.export_lines(session, keyring.public_keys(), since=since, chain=ACCESS)


def verify(session: Session, actor: Actor, keyring: Keyring) -> VerifyResult:
    authorize(actor, "sharing.access_export", target_type="access_log")
    result = audit.verify_database(session, keyring.public_keys(), chain=ACCESS)
    audit.record(
        session,
        actor,
        "sharing.access_verify",
        target_type="access_log",
        details={"intact": result.ok, "entries": result.entries},
    )
    return result
