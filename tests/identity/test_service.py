"""Identity rules through the service verbs, on each database backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, Province
from yiwang.identity import repository as repo
from yiwang.identity import service
from yiwang.identity.authz import AccessDenied, Actor
from yiwang.identity.errors import (
    BadCredentials,
    InvalidToken,
    OrgExists,
    OrgNotFound,
    TooManyLogins,
    UserExists,
    WeakPassword,
)
from yiwang.identity.models import Org, User
from yiwang.kit.audit import AuditEntry
from yiwang.kit.db import utcnow
from yiwang.kit.errors import InvalidInput
from yiwang.runtime import Platform


def count(db: Session, model: type) -> int:
    return db.execute(select(func.count()).select_from(model)).scalar_one()


class TestCreateOrg:
    def test_region_parent_is_inferred_from_its_code(self, province: Province, session: Session) -> None:
        org = service.create_org(
            session, Actor.system(), code="440106", name="天河区", parent=None, kind="region"
        )
        assert org.path == "/440000/440100/440106/"

    def test_department_needs_a_parent(self, province: Province, session: Session) -> None:
        with pytest.raises(InvalidInput, match="上级"):
            service.create_org(
                session, Actor.system(), code="x-dept", name="某局", parent=None, kind="department"
            )

    def test_unknown_parent_is_named(self, province: Province, session: Session) -> None:
        with pytest.raises(OrgNotFound, match="上级单位 999999 不存在"):
            service.create_org(
                session, Actor.system(), code="999999-a", name="某局", parent="999999", kind="department"
            )

    def test_duplicate_code_is_refused(self, province: Province, session: Session) -> None:
        with pytest.raises(OrgExists, match="440100"):
            service.create_org(
                session, Actor.system(), code="440100", name="广州", parent="440000", kind="region"
            )

    def test_invalid_region_code_is_refused(self, province: Province, session: Session) -> None:
        with pytest.raises(InvalidInput):
            service.create_org(
                session, Actor.system(), code="449999x", name="某区", parent="440000", kind="region"
            )

    def test_staff_may_not_create_orgs(self, province: Province, session: Session) -> None:
        with pytest.raises(AccessDenied):
            service.create_org(
                session,
                province.actor("gz_staff"),
                code="440100-x",
                name="某局",
                parent="440100",
                kind="department",
            )


class TestCreateUser:
    def test_cdo_creates_accounts_in_its_region_only(self, province: Province, session: Session) -> None:
        cdo = province.actor("gz_cdo")
        user = service.create_user(
            session, cdo, username="gz_new", org_code="440100-amr", roles=["staff"], password=PASSWORD
        )
        assert user.id
        with pytest.raises(AccessDenied, match="管辖范围"):
            service.create_user(
                session, cdo, username="sz_new", org_code="440300-amr", roles=["staff"], password=PASSWORD
            )

    def test_only_admin_grants_admin(self, province: Province, session: Session) -> None:
        with pytest.raises(AccessDenied, match="管理员"):
            service.create_user(
                session,
                province.actor("gz_cdo"),
                username="boss",
                org_code="440100",
                roles=["admin"],
                password=PASSWORD,
            )

    def test_duplicate_username_weak_password_and_bad_role(
        self, province: Province, session: Session
    ) -> None:
        sys = Actor.system()
        with pytest.raises(UserExists, match="gz_staff"):
            service.create_user(
                session, sys, username="gz_staff", org_code="440100", roles=["staff"], password=PASSWORD
            )
        with pytest.raises(WeakPassword):
            service.create_user(
                session, sys, username="weak", org_code="440100", roles=["staff"], password="short"
            )
        with pytest.raises(InvalidInput, match="角色"):
            service.create_user(
                session, sys, username="odd", org_code="440100", roles=["king"], password=PASSWORD
            )
        with pytest.raises(OrgNotFound):
            service.create_user(
                session, sys, username="lost", org_code="nowhere", roles=["staff"], password=PASSWORD
            )

    def test_password_is_stored_hashed(self, province: Province, session: Session) -> None:
        user = repo.user_by_username(session, "gz_staff")
        assert user is not None
        assert PASSWORD not in user.password_hash
        assert user.password_hash.startswith("$argon2")


class TestListUsers:
    def test_scope_by_role(self, province: Province, session: Session) -> None:
        names = lambda who: {u.username for u in service.list_users(session, province.actor(who))}  # noqa: E731
        assert names("gz_cdo") == {"gz_cdo", "gz_staff"}
        assert names("gz_staff") == {"gz_staff"}
        assert "sz_staff" in names("auditor")


class TestLogin:
    def test_success_and_failure_are_recorded(self, province: Province, platform: Platform) -> None:
        with platform.session_scope() as db:
            assert service.check_login(db, "gz_staff", PASSWORD).user is not None
        with platform.session_scope() as db:
            outcome = service.check_login(db, "gz_staff", "wrong-password1")
            assert isinstance(outcome.error, BadCredentials)
        with platform.session_scope(read_only=True) as db:
            outcomes = (
                db.execute(
                    select(AuditEntry.outcome)
                    .where(AuditEntry.action == "auth.login")
                    .order_by(AuditEntry.seq)
                )
                .scalars()
                .all()
            )
        assert outcomes == ["ok", "denied"]

    def test_unknown_user_gets_the_same_message(self, province: Province, session: Session) -> None:
        outcome = service.check_login(session, "nobody", PASSWORD)
        assert isinstance(outcome.error, BadCredentials)
        assert outcome.error.message == "用户名或密码错误"

    def test_throttled_after_max_failures_even_with_the_right_password(
        self, province: Province, platform: Platform
    ) -> None:
        for _ in range(3):
            with platform.session_scope() as db:
                service.check_login(db, "sz_staff", "nope-nope-1", max_failures=3)
        with platform.session_scope() as db:
            outcome = service.check_login(db, "sz_staff", PASSWORD, max_failures=3)
        assert isinstance(outcome.error, TooManyLogins)
        assert outcome.user is None


class TestTokens:
    def test_token_authenticates_as_its_user(self, province: Province, session: Session) -> None:
        raw = province.token("gz_staff", "zhengwu-app")
        actor = service.authenticate_token(session, raw)
        assert (actor.username, actor.kind, actor.token_name, actor.org_code) == (
            "gz_staff",
            "token",
            "zhengwu-app",
            "440100-amr",
        )

    def test_revoked_expired_and_unknown_tokens_are_refused(
        self, province: Province, platform: Platform
    ) -> None:
        raw = province.token("gz_staff", "a")
        expired = province.token("gz_staff", "b")
        with platform.session_scope() as db:
            tokens = {t.name: t for t in service.list_tokens(db, Actor.system())}
            service.revoke_token(db, province.actor("gz_staff"), tokens["a"].id)
            tokens["b"].expires_at = utcnow() - timedelta(seconds=1)
        with platform.session_scope() as db:
            with pytest.raises(InvalidToken, match="吊销"):
                service.authenticate_token(db, raw)
            with pytest.raises(InvalidToken, match="过期"):
                service.authenticate_token(db, expired)
            with pytest.raises(InvalidToken, match="无效"):
                service.authenticate_token(db, "yw_not-a-token")

    def test_token_is_stored_hashed(self, province: Province, session: Session) -> None:
        raw = province.token("gz_staff")
        stored = [t.token_hash for t in repo.list_tokens(session)]
        assert raw not in stored
        assert all(len(h) == 64 for h in stored)

    def test_another_users_token_cannot_be_revoked_by_staff(
        self, province: Province, session: Session
    ) -> None:
        province.token("sz_staff")
        token = repo.list_tokens(session)[0]
        with pytest.raises(AccessDenied):
            service.revoke_token(session, province.actor("gz_staff"), token.id)

    def test_bad_input_changes_nothing(self, province: Province, platform: Platform) -> None:
        with platform.session_scope(read_only=True) as db:
            before = (count(db, Org), count(db, User), count(db, AuditEntry))
        for attempt in (
            lambda db: service.create_user(
                db, Actor.system(), username="gz_staff", org_code="440100", roles=["staff"], password=PASSWORD
            ),
            lambda db: service.create_org(
                db, Actor.system(), code="440100-amr", name="x", parent="440100", kind="department"
            ),
            lambda db: service.create_token(db, Actor.system(), username="ghost", name="x"),
        ):
            with pytest.raises(Exception), platform.session_scope() as db:  # noqa: B017, PT011
                attempt(db)
        with platform.session_scope(read_only=True) as db:
            assert (count(db, Org), count(db, User), count(db, AuditEntry)) == before
