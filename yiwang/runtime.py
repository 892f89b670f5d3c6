"""The running platform: settings, database, platform keyring and audit writer, wired once.

Every entrypoint (the web app, each CLI command, a background job) builds or
receives one :class:`Platform` and opens its transactions through
``platform.db.session_scope()``; the audit writer chains entries at commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from yiwang.config import Settings, get_settings
from yiwang.kit.accesslog import ACCESS
from yiwang.kit.audit import AuditWriter, Principal, record
from yiwang.kit.crypto import Keyring
from yiwang.kit.db import Database
from yiwang.kit.errors import PlatformError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass
class Platform:
    settings: Settings
    db: Database
    keyring: Keyring
    audit: AuditWriter
    access: AuditWriter

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Platform:
        settings = settings or get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url())
        keyring = Keyring.load_or_create(settings.data_dir / "keys", settings.crypto_suite)
        writer = AuditWriter(
            keyring,
            checkpoint_every=settings.audit_checkpoint_every,
            checkpoint_seconds=settings.audit_checkpoint_seconds,
        )
        # The gateway's access log is a second chain with the same writer, signed by the same key.
        access = AuditWriter(
            keyring,
            chain=ACCESS,
            checkpoint_every=settings.audit_checkpoint_every,
            checkpoint_seconds=settings.audit_checkpoint_seconds,
        )
        for factory in db.factories():
            writer.install(factory)
            access.install(factory)
        return cls(settings=settings, db=db, keyring=keyring, audit=writer, access=access)

    @contextmanager
    def session_scope(self, *, read_only: bool = False) -> Iterator[Session]:
        with self.db.session_scope(read_only=read_only) as session:
            yield session

    def record_refusal(
        self, error: PlatformError, actor: Principal, action: str, target_type: str, target_id: str
    ) -> None:
        """Write a denied attempt in a transaction of its own (the request's own rolled back)."""
        with self.session_scope() as session:
            record(
                session,
                actor,
                action,
                target_type=target_type,
                target_id=target_id,
                outcome="denied",
                details={"code": error.code, "message": error.message},
            )

    def database_ready(self) -> bool:
        try:
            with self.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
            return False

    def close(self) -> None:
        self.db.dispose()


def upgrade_database(url: str) -> None:
    """Create or upgrade the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    command.upgrade(config, "head")
