"""In-app notifications, with a plug for other channels (email, SMS) that send after commit.

A notice goes to the people of one department who hold one of the given roles (or, with
no department, to everyone holding a role, e.g. the platform operators). It is stored in
the committing transaction; external channels get it only once that transaction has
committed, never for a change that rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import event, literal, or_, select
from sqlalchemy.orm import Session

from yiwang.identity.authz import Actor
from yiwang.identity.models import Org
from yiwang.sharing.models import Notification

QUEUE_KEY = "yiwang_notices"


@dataclass(frozen=True)
class Notice:
    org_id: int | None
    roles: tuple[str, ...]
    kind: str
    message: str
    link: str


class Channel(Protocol):
    """Somewhere notices go besides the in-app list: implement ``send`` and register it."""

    def send(self, notice: Notice) -> None: ...


CHANNELS: list[Channel] = []


def register_channel(channel: Channel) -> None:
    CHANNELS.append(channel)


def notify(
    session: Session, org_id: int | None, roles: Sequence[str], kind: str, message: str, link: str = ""
) -> None:
    """Tell the holders of ``roles`` in department ``org_id`` (everyone with the role when None)."""
    notice = Notice(org_id, tuple(roles), kind, message, link)
    session.add(Notification(org_id=org_id, roles=",".join(roles), kind=kind, message=message, link=link))
    if CHANNELS:
        session.info.setdefault(QUEUE_KEY, []).append(notice)


def notify_role(session: Session, role: str, kind: str, message: str, link: str = "") -> None:
    notify(session, None, (role,), kind, message, link)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    for notice in session.info.pop(QUEUE_KEY, []):
        for channel in CHANNELS:
            channel.send(notice)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(QUEUE_KEY, None)


def for_actor(session: Session, actor: Actor, *, limit: int = 50) -> list[Notification]:
    """The newest notices for the actor's roles: sent to its department (a CDO: to any
    department under its region), or platform-wide to its role."""
    if actor.org_id is None or not actor.roles:
        return []
    # Exact role match on the comma-joined list: "cdo" must not match a role merely containing it.
    padded = literal(",").op("||")(Notification.roles).op("||")(literal(","))
    role_match = or_(*(padded.contains(f",{role},") for role in sorted(actor.roles)))
    if actor.has_role("cdo"):
        below = select(Org.id).where(Org.path.startswith(actor.org_path, autoescape=True))
        where_to = or_(Notification.org_id.in_(below), Notification.org_id.is_(None))
    else:
        where_to = or_(Notification.org_id == actor.org_id, Notification.org_id.is_(None))
    query = (
        select(Notification)
        .where(where_to, role_match)
        .order_by(Notification.id.desc())
        .limit(max(1, min(limit, 200)))
    )
    return list(session.execute(query).scalars())
