"""Database engine, sessions and the declarative base shared by every network.

SQLite (embedded, the default) runs in WAL mode and opens every write
transaction with ``BEGIN IMMEDIATE``: the write lock is taken up front, so a
transaction that reads and then writes can never fail half-way with
``SQLITE_BUSY_SNAPSHOT`` when several worker processes share the file.
PostgreSQL (psycopg 3) is used as it is; rows that must be serialised (the
audit chain head) are locked with ``SELECT ... FOR UPDATE``.

Entrypoints own the transaction (``session_scope``); services only flush.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

READ_ONLY = "yiwang_read_only"


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are stable across databases."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


T = TypeVar("T")


def utcnow() -> datetime:
    """Naive UTC now: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that we decide how BEGIN is issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode except on power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the platform's settings for that database."""
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """An engine and its session factory: one per process and database URL."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self.group = GroupCommitter(self)

    def factories(self) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
        """The write and the read-only session factories (for session event hooks)."""
        return self._sessions, self._read_sessions

    def session(self, *, read_only: bool = False) -> Session:
        return (self._read_sessions if read_only else self._sessions)()

    @contextmanager
    def session_scope(self, *, read_only: bool = False) -> Iterator[Session]:
        """One transaction: commit when the block ends normally, roll back on any exception."""
        session = self.session(read_only=read_only)
        try:
            yield session
            # A read-only scope just closes: the connection's transaction is rolled back on release,
            # and objects loaded in it stay readable (rollback() would expire them).
            if not read_only:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def insert_ignoring_conflict(session: Session, table: Any, values: dict[str, Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's database (SQLite or PostgreSQL):
    creates a counter or head row once, however many workers race to create it."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing()


class GroupCommitter:
    """Run short write jobs from many threads in shared transactions: one commit for a batch.

    A hot path that writes a little on every request (the gateway's quota counters and
    access-log entries) spends most of its write time on BEGIN, the log head and COMMIT.
    Jobs that arrive while a batch is committing wait and go together in the next one:
    the first waiting thread to get the turn runs everyone's job, each in a SAVEPOINT so a
    refusal (over quota, revoked) undoes only its own changes, commits once, and hands
    each caller its own result or error. A caller returns only after the commit that holds
    its job, so nothing is reported done before it is durable.
    """

    def __init__(self, database: Database, max_batch: int = 64) -> None:
        self._database = database
        self._max_batch = max_batch
        self._queue: list[tuple[Callable[[Session], Any], Future[Any]]] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def run(self, job: Callable[[Session], T]) -> T:
        """Run ``job(session)`` in the next batch and return its result (or raise its error)."""
        future: Future[T] = Future()
        with self._queue_lock:
            self._queue.append((job, future))
        while not future.done():
            with self._turn:
                if future.done():
                    break
                with self._queue_lock:
                    batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                self._execute(batch)
        return future.result()

    def _execute(self, batch: list[tuple[Callable[[Session], Any], Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with self._database.session_scope() as session:
                for job, future in batch:
                    queued = _queued_lengths(session)
                    try:
                        with session.begin_nested():
                            outcomes.append((future, job(session), None))
                    except Exception as error:  # noqa: BLE001 - handed to the job's caller
                        _drop_queued_since(session, queued)
                        outcomes.append((future, None, error))
        except BaseException as failure:
            # The commit failed: nobody's job happened.
            for _job, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(failure, Exception):
                raise
            return
        for future, result, problem in outcomes:
            if problem is not None:
                future.set_exception(problem)
            else:
                future.set_result(result)


def _queued_lengths(session: Session) -> dict[str, int]:
    # Log entries wait in session.info until commit (kit.audit, kit.accesslog): a savepoint does
    # not take them back, so a failed job's entries are cut off here by hand.
    return {key: len(value) for key, value in session.info.items() if isinstance(value, list)}


def _drop_queued_since(session: Session, lengths: dict[str, int]) -> None:
    for key, value in list(session.info.items()):
        if isinstance(value, list):
            del value[lengths.get(key, 0) :]
