"""The authorization table: every role against every backbone action, on targets
in the actor's own org, below it, in another city, and its own account.

The EXPECTED matrix here is the written spec; when a network adds actions it adds
its rows to this test's table too (see docs/architecture.md).
"""

from __future__ import annotations

import pytest

from yiwang.identity.authz import PERMISSIONS, ROLES, AccessDenied, Actor, authorize, reach, register_actions

# Where the actor sits: 广州市 (a region); targets relative to it.
GZ = "/440000/440100/"
TARGETS = {
    "own": {"org_path": GZ},
    "below": {"org_path": GZ + "440100-amr/"},
    "other": {"org_path": "/440000/440300/440300-amr/"},
    "self": {"user_id": 7, "org_path": GZ},
}
Y, N = True, False
# action: role: (untargeted, own, below, other, self)
EXPECTED: dict[str, dict[str, tuple[bool, bool, bool, bool, bool]]] = {
    "org.view": {
        "admin": (Y, Y, Y, Y, Y),
        "operator": (Y, Y, Y, Y, Y),
        "cdo": (Y, Y, Y, Y, Y),
        "staff": (Y, Y, Y, Y, Y),
        "auditor": (Y, Y, Y, Y, Y),
    },
    "org.create": {"admin": (Y, Y, Y, Y, Y), "operator": (Y, Y, Y, Y, Y)},
    "user.view": {
        "admin": (Y, Y, Y, Y, Y),
        "operator": (Y, Y, Y, Y, Y),
        "auditor": (Y, Y, Y, Y, Y),
        "cdo": (Y, Y, Y, N, Y),
        "staff": (Y, Y, N, N, Y),
    },
    "user.create": {"admin": (Y, Y, Y, Y, Y), "cdo": (Y, Y, Y, N, Y)},
    **{
        action: {
            "admin": (Y, Y, Y, Y, Y),
            **{role: (Y, N, N, N, Y) for role in ("operator", "cdo", "staff", "auditor")},
        }
        for action in ("token.create", "token.view", "token.revoke")
    },
    "audit.view": {"admin": (Y, Y, Y, Y, Y), "auditor": (Y, Y, Y, Y, Y)},
    "audit.export": {"admin": (Y, Y, Y, Y, Y), "auditor": (Y, Y, Y, Y, Y)},
    "keys.rotate": {"admin": (Y, Y, Y, Y, Y)},
}
BACKBONE_ACTIONS = sorted(EXPECTED)


def actor_with(role: str) -> Actor:
    return Actor(username="u", org_code="440100", org_path=GZ, roles=frozenset({role}), user_id=7)


def allowed(actor: Actor, action: str, **target: object) -> bool:
    try:
        authorize(actor, action, **target)  # type: ignore[arg-type]
    except AccessDenied:
        return False
    return True


class TestAuthorizationTable:
    def test_every_backbone_action_is_specified(self) -> None:
        backbone = {a for a in PERMISSIONS if a.split(".")[0] in {"org", "user", "token", "audit", "keys"}}
        assert backbone == set(EXPECTED)

    @pytest.mark.parametrize("action", BACKBONE_ACTIONS)
    @pytest.mark.parametrize("role", sorted(ROLES))
    def test_role_against_action(self, action: str, role: str) -> None:
        expected = EXPECTED[action].get(role, (N, N, N, N, N))
        actor = actor_with(role)
        actual = (
            allowed(actor, action),
            allowed(actor, action, **TARGETS["own"]),
            allowed(actor, action, **TARGETS["below"]),
            allowed(actor, action, **TARGETS["other"]),
            allowed(actor, action, **TARGETS["self"]),
        )
        assert actual == expected

    def test_unknown_action_is_denied_even_for_admin(self) -> None:
        with pytest.raises(AccessDenied, match="未登记"):
            authorize(actor_with("admin"), "nothing.here")

    def test_an_actor_without_roles_is_denied_everything(self) -> None:
        nobody = Actor(username="n", org_code="x", org_path="/x/", roles=frozenset())
        assert all(reach(nobody, action) is None for action in PERMISSIONS)

    def test_system_console_has_full_reach(self) -> None:
        assert all(allowed(Actor.system(), a, **TARGETS["other"]) for a in BACKBONE_ACTIONS)

    def test_cdo_subtree_does_not_leak_to_a_sibling_with_a_common_prefix(self) -> None:
        # "/440000/440100/" must not match "/440000/4401000/" style siblings.
        assert not allowed(actor_with("cdo"), "user.create", org_path="/440000/4401000/")


class TestRegisterActions:
    def test_same_rules_twice_is_fine_and_conflicting_rules_are_refused(self) -> None:
        register_actions({"test.thing": {"staff": "own_org"}})
        register_actions({"test.thing": {"staff": "own_org"}})
        with pytest.raises(ValueError, match="twice"):
            register_actions({"test.thing": {"staff": "all"}})
        del PERMISSIONS["test.thing"]
