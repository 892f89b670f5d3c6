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

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from yiwang.identity.authz import Actor
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
    """The newest notices addressed to the actor's department and roles, or to its roles platform-wide."""
    if actor.org_id is None or not actor.roles:
        return []
    role_match = or_(*(Notification.roles.contains(role) for role in sorted(actor.roles)))
    query = (
        select(Notification)
        .where(or_(Notification.org_id == actor.org_id, Notification.org_id.is_(None)), role_match)
        .order_by(Notification.id.desc())
        .limit(max(1, min(limit, 200)))
    )
    return list(session.execute(query).scalars())
