"""Authorization: who may do what, on which org's things. Default deny.

Every service verb calls :func:`authorize` with the acting :class:`Actor`, the
action name, and the org (or user) it acts on. The :data:`PERMISSIONS` table maps
each action to the roles allowed and, for each role, how far its reach goes:

- ``all``      anywhere in the platform
- ``subtree``  the actor's org and every org below it (a CDO's reach)
- ``own_org``  the actor's own org only
- ``self``     only things of the actor's own account

An action missing from the table, or a role missing from an action's row, is
denied. Networks add their rows with :func:`register_actions` when imported.
A refusal raises :class:`AccessDenied`; entrypoints record it in the audit log
in a transaction of its own (the request's own transaction rolls back).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from yiwang.kit.errors import PermissionDenied

Role = Literal["admin", "operator", "cdo", "staff", "auditor", "citizen", "enterprise", "assessor", "bank"]
Scope = Literal["all", "subtree", "own_org", "self"]

ROLES: dict[str, str] = {
    "admin": "系统管理员",
    "operator": "平台运营（政务大数据中心）",
    "cdo": "首席数据官",
    "staff": "部门工作人员",
    "auditor": "审计员",
    "citizen": "公众（预留）",
    "enterprise": "企业（数据持有方、数商）",
    "assessor": "第三方服务机构（合规、质量、评估）",
    "bank": "银行（质押）",
}
ASSIGNABLE_ROLES = ("admin", "operator", "cdo", "staff", "auditor", "enterprise", "assessor", "bank")

# The backbone's rows. Keep the comment on each action: it is the spec the table test reads.
PERMISSIONS: dict[str, dict[str, Scope]] = {
    # see the organisation directory (names and codes are not secret inside government)
    "org.view": {"admin": "all", "operator": "all", "cdo": "all", "staff": "all", "auditor": "all"},
    # add a region or department
    "org.create": {"admin": "all", "operator": "all"},
    # list accounts and their roles
    "user.view": {"admin": "all", "operator": "all", "cdo": "subtree", "auditor": "all", "staff": "own_org"},
    # create an account
    "user.create": {"admin": "all", "cdo": "subtree"},
    # issue a bearer token for a system
    "token.create": {"admin": "all", "operator": "self", "cdo": "self", "staff": "self", "auditor": "self"},
    # list tokens
    "token.view": {"admin": "all", "operator": "self", "cdo": "self", "staff": "self", "auditor": "self"},
    # revoke a token
    "token.revoke": {"admin": "all", "operator": "self", "cdo": "self", "staff": "self", "auditor": "self"},
    # read the audit log and its checkpoints
    "audit.view": {"admin": "all", "auditor": "all"},
    # export the audit log and verify it
    "audit.export": {"admin": "all", "auditor": "all"},
    # rotate the platform signing key
    "keys.rotate": {"admin": "all"},
}


def register_actions(rows: Mapping[str, Mapping[str, Scope]]) -> None:
    """Add a network's actions to the table; an action name may be registered once."""
    for action, row in rows.items():
        if action in PERMISSIONS and PERMISSIONS[action] != dict(row):
            raise ValueError(f"action {action!r} registered twice with different rules")
        PERMISSIONS[action] = dict(row)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, a system's token, or the platform console (CLI)."""

    username: str
    org_code: str
    org_path: str
    roles: frozenset[str]
    kind: Literal["user", "token", "system"] = "user"
    user_id: int | None = None
    org_id: int | None = None
    display_name: str = ""
    token_name: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def system(cls, request_id: str | None = None) -> Actor:
        """The operator at the server console: full reach, recorded as ``system``."""
        return cls(
            username="system",
            org_code="platform",
            org_path="/",
            roles=frozenset({"admin"}),
            kind="system",
            display_name="平台控制台",
            request_id=request_id or uuid.uuid4().hex,
        )

    @classmethod
    def anonymous(
        cls, username: str = "", *, kind: Literal["user", "token"] = "user", request_id: str = ""
    ) -> Actor:
        """Someone not (yet) identified: a sign-in attempt, a bad token. No roles, no org."""
        return cls(
            username=username or "anonymous",
            org_code="",
            org_path="",
            roles=frozenset(),
            kind=kind,
            request_id=request_id or uuid.uuid4().hex,
        )

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


class AccessDenied(PermissionDenied):
    """Refused by the authorization table; carries what the audit entry needs."""

    def __init__(self, actor: Actor, action: str, target_type: str, target_id: str, reason: str) -> None:
        super().__init__(
            f"无权执行此操作（{action}）：{reason}",
            details={"action": action, "reason": reason},
        )
        self.actor = actor
        self.action = action
        self.target_type = target_type
        self.target_id = target_id


def reach(actor: Actor, action: str) -> Scope | None:
    """The widest scope any of the actor's roles has for ``action``; ``None`` when denied."""
    row = PERMISSIONS.get(action, {})
    order: tuple[Scope, ...] = ("all", "subtree", "own_org", "self")
    granted = {row[r] for r in actor.roles if r in row}
    return next((scope for scope in order if scope in granted), None)


def in_scope(scope: Scope, actor: Actor, *, org_path: str | None, user_id: int | None) -> bool:
    if scope == "all":
        return True
    if scope == "subtree":
        return org_path is not None and org_path.startswith(actor.org_path)
    if scope == "own_org":
        return org_path is not None and org_path == actor.org_path
    return user_id is not None and user_id == actor.user_id


def authorize(
    actor: Actor,
    action: str,
    *,
    org_path: str | None = None,
    user_id: int | None = None,
    target_type: str = "",
    target_id: object = "",
) -> Scope:
    """Allow or raise :class:`AccessDenied`. Returns the scope that allowed it.

    ``org_path`` is the path of the org the target belongs to, ``user_id`` its owner, when the
    action is on one target; leave both out for "may this actor do this at all" (lists), and
    filter the list with :func:`reach`.
    """
    if action not in PERMISSIONS:
        raise AccessDenied(actor, action, target_type, str(target_id), "未登记的操作（默认拒绝）")
    scope = reach(actor, action)
    if scope is None:
        raise AccessDenied(actor, action, target_type, str(target_id), "当前角色没有此权限")
    targeted = org_path is not None or user_id is not None
    if targeted and not any(
        in_scope(s, actor, org_path=org_path, user_id=user_id)
        for s in {PERMISSIONS[action][r] for r in actor.roles if r in PERMISSIONS[action]}
    ):
        raise AccessDenied(actor, action, target_type, str(target_id), "目标不在本单位的管辖范围内")
    return scope
