"""Shared fixtures: a real database per backend (SQLite always, PostgreSQL when
``YIWANG_TEST_DATABASE_URL`` is set), a platform around it, and account factories.

Each backend's schema is migrated once per run; every test gets the tables
emptied after it, so tests stay independent and fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from yiwang.config import Settings
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit.db import Base
from yiwang.runtime import Platform, upgrade_database

PG_URL = os.environ.get("YIWANG_TEST_DATABASE_URL", "")
PASSWORD = "Passw0rd!test"

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not PG_URL, reason="YIWANG_TEST_DATABASE_URL not set: PostgreSQL run skipped"
        ),
    ),
]


@pytest.fixture(scope="session", autouse=True)
def _light_password_hashing() -> Iterator[None]:
    """Argon2 with light parameters for the suite, which creates thousands of accounts (seven per
    Province): the same algorithm and code paths, a fraction of the memory and time."""
    from argon2 import PasswordHasher

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(identity, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


def _settings(tmp: Path, url: str, suite: str = "standard") -> Settings:
    return Settings(
        data_dir=tmp,
        database_url=url,
        crypto_suite=suite,
        audit_checkpoint_every=50,
        audit_checkpoint_seconds=3600,
        secret_key="test-secret",
    )


def empty_tables(platform: Platform) -> None:
    from yiwang.kit import caches
    from yiwang.kit.search import clear_search_index

    caches.clear_all()  # ids start again after TRUNCATE … RESTART IDENTITY
    with platform.db.engine.begin() as conn:
        clear_search_index(conn)
        _drop_data_tables(conn)
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        if platform.db.engine.dialect.name == "postgresql":
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            )
        else:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))


APPEND_ONLY = (
    "audit_entry",
    "audit_checkpoint",
    "access_entry",
    "access_checkpoint",
    "ledger_transaction",
    "ledger_posting",
)


def tamper(platform: Platform, sql: str, **params: object) -> None:
    """Change audit or access-log rows as someone with the database owner's rights would (PostgreSQL: past the
    append-only trigger), to check that verification finds it."""
    postgres = platform.db.engine.dialect.name == "postgresql"
    with platform.db.engine.begin() as conn:
        for table in APPEND_ONLY if postgres else ():
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        conn.execute(text(sql), params)
        for table in APPEND_ONLY if postgres else ():
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def _drop_data_tables(conn: Any) -> None:
    """The datastore's runtime tables (ds_*) are not in the metadata: drop them by name."""
    from sqlalchemy import inspect

    for name in inspect(conn).get_table_names():
        if name.startswith("ds_"):
            conn.execute(text(f'DROP TABLE "{name}"'))


@pytest.fixture(scope="session", params=BACKENDS)
def backend_platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp(f"platform-{request.param}")
    url = f"sqlite:///{tmp / 'yiwang.db'}" if request.param == "sqlite" else PG_URL
    if request.param == "postgresql":
        _reset_postgres(url)
    upgrade_database(url)
    platform = Platform.from_settings(_settings(tmp, url))
    yield platform
    platform.close()


def _reset_postgres(url: str) -> None:
    from yiwang.kit.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def platform(backend_platform: Platform) -> Iterator[Platform]:
    """A migrated, empty database on each backend, with the platform key and audit writer."""
    yield backend_platform
    empty_tables(backend_platform)


@pytest.fixture
def session(platform: Platform) -> Iterator[Session]:
    """A session for arranging and checking; commit it yourself where the test needs to."""
    db = platform.db.session()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


@pytest.fixture
def system() -> Actor:
    return Actor.system()


class Province:
    """A small province to test against: 广东, 广州 and 深圳, a department in each, accounts."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        with platform.session_scope() as db:
            sys_actor = Actor.system()
            for code, name, parent, kind in [
                ("440000", "广东省", None, "region"),
                ("440100", "广州市", "440000", "region"),
                ("440300", "深圳市", "440000", "region"),
                ("440000-zsj", "广东省政务服务和数据管理局", "440000", "department"),
                ("440100-amr", "广州市市场监督管理局", "440100", "department"),
                ("440300-amr", "深圳市市场监督管理局", "440300", "department"),
            ]:
                identity.create_org(db, sys_actor, code=code, name=name, parent=parent, kind=kind)
            for username, org, role in [
                ("admin", "440000-zsj", "admin"),
                ("operator", "440000-zsj", "operator"),
                ("auditor", "440000-zsj", "auditor"),
                ("gz_cdo", "440100", "cdo"),
                ("gz_staff", "440100-amr", "staff"),
                ("sz_cdo", "440300", "cdo"),
                ("sz_staff", "440300-amr", "staff"),
            ]:
                identity.create_user(
                    db,
                    sys_actor,
                    username=username,
                    org_code=org,
                    roles=[role],
                    password=PASSWORD,
                    display_name=username,
                )

    def actor(self, username: str) -> Actor:
        with self.platform.session_scope(read_only=True) as db:
            from yiwang.identity import repository

            user = repository.user_by_username(db, username)
            assert user is not None
            return identity.actor_for_user(user)

    def token(self, username: str, name: str = "test-system") -> str:
        with self.platform.session_scope() as db:
            _row, raw = identity.create_token(db, Actor.system(), username=username, name=name)
        return raw


@pytest.fixture
def province(platform: Platform) -> Province:
    return Province(platform)


def pytest_report_header() -> str:
    if PG_URL:
        return "databases: SQLite and PostgreSQL (YIWANG_TEST_DATABASE_URL)"
    return "databases: SQLite only; PostgreSQL runs are skipped (YIWANG_TEST_DATABASE_URL not set)"
