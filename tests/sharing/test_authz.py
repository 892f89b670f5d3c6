"""The sharing network's authorization table, role by role, through the service verbs.

Accounts (tests/conftest.py Province): gz_staff works in the provider department
(广州市场监管局), gz_cdo is 广州's CDO (the provider's region), sz_staff and sz_cdo are the
consumer side (深圳), operator/auditor/admin sit in the provincial data bureau.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from tests.sharing.conftest import World
from yiwang.identity.authz import AccessDenied, Actor
from yiwang.kit.errors import PlatformError
from yiwang.sharing import calls, console, lists, service
from yiwang.sharing.schemas import DecisionIn, DutyIn, RequestIn

EVERYONE = ("gz_staff", "gz_cdo", "sz_staff", "sz_cdo", "operator", "auditor", "admin")


def request_body(system: str) -> RequestIn:
    return RequestIn(
        resource="R-PEOPLE",
        fields=["id_number", "name", "phone"],
        purpose="核验",
        basis="依据",
        valid_until=date.today() + timedelta(days=30),
        system=system,
    )


def allowed(world: World, username: str, verb: Callable[[Any, Actor], object]) -> bool:
    """Run ``verb`` as ``username`` in a transaction that is rolled back either way."""
    db = world.platform.db.session()
    try:
        verb(db, world.province.actor(username))
        return True
    except AccessDenied:
        return False
    except PlatformError as other:
        raise AssertionError(
            f"{username}: expected allowed or denied, got {other.code}: {other.message}"
        ) from None
    finally:
        db.rollback()
        db.close()


def pending_request(world: World) -> int:
    return int(world.request().json()["id"])


class TestTable:
    def test_who_may_request(self, world: World) -> None:
        def verb(db: Any, actor: Actor) -> object:
            return service.submit_request(db, actor, request_body(f"sys-{actor.username}"))

        # Staff of a department ask; the bureau's operator and auditor may not. (The provider's own
        # staff is told it need not ask, and a region's CDO that it belongs to no department: 422s.)
        result = {u: allowed(world, u, verb) for u in ("sz_staff", "operator", "auditor", "admin")}
        assert result == {"sz_staff": True, "operator": False, "auditor": False, "admin": False}

    def test_who_may_decide(self, world: World) -> None:
        req = pending_request(world)

        def verb(db: Any, actor: Actor) -> object:
            return service.decide_request(db, actor, req, DecisionIn(approve=True))

        result = {u: allowed(world, u, verb) for u in EVERYONE}
        assert result == {
            "gz_staff": True,
            "gz_cdo": True,
            "sz_staff": False,
            "sz_cdo": False,
            "operator": True,
            "auditor": False,
            "admin": True,
        }

    def test_who_may_serve_personal_fields_in_clear(self, world: World) -> None:
        req = pending_request(world)

        def verb(db: Any, actor: Actor) -> object:
            return service.decide_request(db, actor, req, DecisionIn(approve=True, clear_fields=["phone"]))

        result = {u: allowed(world, u, verb) for u in ("gz_staff", "gz_cdo", "operator", "admin")}
        assert result == {"gz_staff": False, "gz_cdo": True, "operator": False, "admin": True}

    def test_who_may_revoke(self, world: World) -> None:
        grant = world.decide(pending_request(world)).json()["grant"]

        def verb(db: Any, actor: Actor) -> object:
            return service.revoke_grant(db, actor, grant, "测试")

        result = {u: allowed(world, u, verb) for u in EVERYONE}
        assert result == {
            "gz_staff": True,
            "gz_cdo": True,
            "sz_staff": False,
            "sz_cdo": False,
            "operator": True,
            "auditor": False,
            "admin": True,
        }

    def test_who_sees_the_console_and_exports_the_access_log(self, world: World) -> None:
        def see(db: Any, actor: Actor) -> object:
            return console.overview(db, actor)

        def export(db: Any, actor: Actor) -> object:
            return list(calls.export(db, actor, world.platform.keyring))

        assert {u: allowed(world, u, see) for u in EVERYONE} == {
            "gz_staff": False,
            "gz_cdo": True,
            "sz_staff": False,
            "sz_cdo": True,
            "operator": True,
            "auditor": True,
            "admin": True,
        }
        assert {u for u in EVERYONE if allowed(world, u, export)} == {"auditor", "admin"}

    def test_who_may_assign_duties(self, world: World) -> None:
        def verb(db: Any, actor: Actor) -> object:
            return lists.assign_duty(db, actor, DutyIn(org="440100-amr", resource="R-PEOPLE"))

        assert {u for u in EVERYONE if allowed(world, u, verb)} == {"gz_cdo", "operator", "admin"}


@pytest.mark.parametrize("username", ["sz_staff", "gz_staff", "auditor"])
def test_access_log_is_scoped_to_the_sides(world: World, username: str) -> None:
    world.decide(world.request().json()["id"])
    assert world.call(limit=1).status_code == 200
    with world.platform.session_scope(read_only=True) as db:
        rows, _next = calls.list_calls(db, world.province.actor(username), calls.CallFilter())
    assert len(rows) == 1, "both sides and the auditor see the call"
    with world.platform.session_scope(read_only=True) as db:
        outsider = Actor(
            username="x",
            org_code="440000-zsj",
            org_path="/440000/440000-zsj/",
            roles=frozenset({"staff"}),
            org_id=1,
        )
        assert calls.list_calls(db, outsider, calls.CallFilter())[0] == []
