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

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

READ_ONLY = "yiwang_read_only"
BUSY_TIMEOUT_MS = 30_000  # SQLite: how long a writer waits for the write lock
QUICK_LOCK_WAIT_MS = 0  # ... and a writer on the event loop, which must not stall: not at all


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are stable across databases."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Naive UTC now: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def _configure_sqlite(
    engine: Engine, *, begin: bool = True, busy_timeout_ms: int = BUSY_TIMEOUT_MS, autocheckpoint: bool = True
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that we decide how BEGIN is issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode except on power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    if not begin:
        return  # the caller issues BEGIN itself (the kept read connections)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str,
    *,
    begin_event: bool = True,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    autocheckpoint: bool = True,
    **kwargs: Any,
) -> Engine:
    """Create an engine for ``url`` with the platform's settings for that database."""
    if is_sqlite(url):
        # Room for every thread of a busy worker (the thread pool, the writer, background jobs):
        # past the pool's size SQLAlchemy opens and closes a connection per checkout.
        if kwargs.get("poolclass") is None:
            kwargs.setdefault("pool_size", 20)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(
            engine, begin=begin_event, busy_timeout_ms=busy_timeout_ms, autocheckpoint=autocheckpoint
        )
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # As for SQLite, room for every thread of a busy worker: a connection opened past the pool's
    # size is closed on return, and PostgreSQL starts a server process for every new one.
    kwargs.setdefault("pool_size", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """An engine and its session factory: one per process and database URL."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self.read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        # SQLite: writers on the event loop get connections of their own that do not wait for a
        # taken write lock ("database is locked" at once, nothing begun): the loop asks again.
        # Nor do they copy the WAL back into the database file when it has grown (SQLite's automatic
        # checkpoint, some milliseconds of I/O in the committing connection, several times a
        # second under load): a thread does that (:meth:`_checkpoint_wal`).
        self._quick_engine = (
            make_engine(url, busy_timeout_ms=QUICK_LOCK_WAIT_MS, autocheckpoint=False, pool_size=2)
            if self.is_sqlite
            else None
        )
        self._wal_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._quick_sessions = sessionmaker(self._quick_engine or self.engine, expire_on_commit=False)
        self._batchers: dict[str, WriteBatcher] = {}
        self._batchers_lock = threading.Lock()
        self._reader = threading.local()
        self._reader_engine: Engine | None = None

    def factories(self) -> tuple[sessionmaker[Session], ...]:
        """Every session factory (for session event hooks): write, read-only, quick write."""
        return self._sessions, self._read_sessions, self._quick_sessions

    def session(self, *, read_only: bool = False, quick: bool = False) -> Session:
        if read_only:
            return self._read_sessions()
        return (self._quick_sessions if quick else self._sessions)()

    @contextmanager
    def session_scope(self, *, read_only: bool = False, quick: bool = False) -> Iterator[Session]:
        """One transaction: commit when the block ends normally, roll back on any exception.

        ``quick``: on SQLite, do not wait for a taken write lock, raising
        OperationalError ("database is locked", see :func:`is_lock_busy`) with nothing begun
        (for the event loop, which must not stall)."""
        session = self.session(read_only=read_only, quick=quick)
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

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection for one short read-only transaction, for hot paths (the gateway) that
        cannot afford a Session (about 0.1 ms) or a pool checkout (about 0.05 ms) per request.

        SQLite: each thread keeps one connection open and begins and ends a transaction on it
        per use (no snapshot is held between uses, so WAL checkpoints are not starved).
        PostgreSQL: a pooled connection per use (a network round trip dwarfs the checkout)."""
        if not self.is_sqlite:
            with self.read_engine.connect() as pooled:
                yield pooled
            return
        kept: Connection | None = getattr(self._reader, "conn", None)
        if kept is None or kept.closed or kept.invalidated:
            kept = self._reader.conn = self._own_reader_engine().connect()
        # BEGIN on the driver's connection: one snapshot for the whole read, without the cost of
        # SQLAlchemy's transaction events (this engine has no BEGIN of its own to issue).
        driver = kept.connection.dbapi_connection
        assert driver is not None
        driver.execute("BEGIN")
        try:
            yield kept
        finally:
            if kept.in_transaction():
                kept.rollback()  # SQLAlchemy's rollback ends the driver's transaction too
            elif driver.in_transaction:
                driver.rollback()

    def _own_reader_engine(self) -> Engine:
        # Outside the pool (each thread's connection stays open for good, so pooling them could
        # starve the pool), configured like every other connection.
        with self._batchers_lock:
            if self._reader_engine is None:
                self._reader_engine = make_engine(self.url, poolclass=NullPool, begin_event=False)
            return self._reader_engine

    def batcher(self, name: str, handler: BatchHandler) -> WriteBatcher:
        """The process's writer for ``name`` (made on first use with ``handler``)."""
        with self._batchers_lock:
            batcher = self._batchers.get(name)
            if batcher is None:
                batcher = WriteBatcher(self, handler, name=name, inline=self.is_sqlite)
                self._batchers[name] = batcher
                if self.is_sqlite and self._wal_thread is None:
                    self._wal_thread = threading.Thread(
                        target=self._checkpoint_wal, name="yiwang-wal-checkpoint", daemon=True
                    )
                    self._wal_thread.start()
            return batcher

    def _checkpoint_wal(self, every_seconds: float = 0.5) -> None:
        """Copy the WAL back into the database file, off the event loop, while writers on the loop
        (which do not do it themselves) are in use. PASSIVE: it never waits for, nor blocks, a
        reader or a writer; what it cannot copy now it copies next time."""
        path = self.engine.url.database
        if not path or path == ":memory:":
            return
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(every_seconds):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.OperationalError:
                    continue  # another worker is checkpointing (or the file is busy): next time
        finally:
            conn.close()

    def dispose(self) -> None:
        self._stopping.set()
        if self._wal_thread is not None:
            self._wal_thread.join(timeout=10)
        with self._batchers_lock:
            batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            batcher.close()
        conn = getattr(self._reader, "conn", None)
        if conn is not None:
            conn.close()
        for own in (self._reader_engine, self._quick_engine):
            if own is not None:
                own.dispose()
        self.engine.dispose()


class FastSelect:
    """A Core SELECT built once, run on SQLite's own cursor when it can be: for the few queries
    of a hot path, SQLAlchemy's execution machinery (events, result objects) costs several times
    what SQLite takes to answer. The statement is compiled once, and parameters and values go
    through SQLAlchemy's own type processors, so the rows are the ones ``execute`` would give
    (dates as dates, booleans as booleans). Other databases run it through ``execute``.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self.keys = [column.key for column in statement.selected_columns]
        self._sqlite: tuple[str, list[tuple[str, Any, Any]], list[Any]] | None = None

    def tuples(self, db: Session | Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        conn = db.connection() if isinstance(db, Session) else db
        if conn.dialect.name != "sqlite":
            return [tuple(row) for row in conn.execute(self.statement, params)]
        sql, binds, results = self._compiled(conn.dialect)
        values = [
            (convert(params[name]) if convert else params[name]) if name in params else default
            for name, default, convert in binds
        ]
        driver = conn.connection.dbapi_connection
        assert driver is not None
        rows = driver.execute(sql, values).fetchall()
        if not any(results):
            return rows
        return [tuple(f(v) if f else v for f, v in zip(results, row, strict=True)) for row in rows]

    def dicts(self, db: Session | Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.tuples(db, params)]

    def _compiled(self, dialect: Any) -> tuple[str, list[tuple[str, Any, Any]], list[Any]]:
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=dialect)
            binds = []
            for name in compiled.positiontup:
                bind = compiled.binds[name]
                convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
                binds.append((name, bind.effective_value, convert))
            results = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            ]
            self._sqlite = (compiled.string, binds, results)
        return self._sqlite


def orm_session(db: Session | Connection) -> Session:
    """``db`` as an ORM session: itself, or a session inside a bare connection's transaction
    (for hot paths that read with Core and need the ORM only on a cache miss)."""
    return db if isinstance(db, Session) else Session(bind=db, join_transaction_mode="rollback_only")


def insert_ignoring_conflict(db: Session | Connection, table: Any, values: dict[str, Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the database of ``db`` (SQLite or PostgreSQL):
    creates a counter or head row once, however many workers race to create it."""
    dialect = db.dialect if isinstance(db, Connection) else db.get_bind().dialect
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing()


def run_each(session: Session, jobs: list[Callable[[Session], Any]]) -> list[Any]:
    """Run each job in its own SAVEPOINT, so that one job's error (over quota, revoked) undoes
    only its own changes; each job's result, or its error as an outcome. The batch handler for
    a :class:`WriteBatcher` of jobs (callables), when they are not worth batching by hand:
    ``db.batcher("jobs", run_each).submit(job)``."""
    outcomes: list[Any] = []
    for job in jobs:
        queued = _queued_lengths(session)
        try:
            with session.begin_nested():
                outcomes.append(job(session))
        except Exception as error:  # noqa: BLE001 - handed to the job's caller
            _drop_queued_since(session, queued)
            outcomes.append(error)
    return outcomes


BatchHandler = Callable[[Session, list[Any]], list[Any]]


def is_lock_busy(error: BaseException) -> bool:
    """SQLite's "database is locked": the write lock stayed taken past the wait allowed."""
    return isinstance(error, OperationalError) and "locked" in str(error.orig)


MAX_BATCH = 500
MAX_WAIT_SECONDS = 0.002  # how long a batch may wait for more items while it is still growing
LOCK_RETRY_SECONDS = 0.001  # a busy write lock is asked for again this often, from the loop
LOCK_POLL_SECONDS = 0.05  # ... for this long; then the writer thread waits for it instead


class WriteBatcher:
    """Commits what many requests queue, many at a time.

    The handler sees the whole batch at once, so it can check each distinct token or grant
    once, count a grant's calls with one UPDATE, and append every log entry with one INSERT:
    the gateway's write cost per call then shrinks as the load grows. ``handler(session,
    items)`` returns one outcome per item, a result or an exception instance (that item's
    refusal, still committed with the rest: a refusal is logged too). Callers get their outcome
    only after the commit, so nothing is answered before it is durable; if the handler or the
    commit fails, every item of the batch gets that error and nothing of it is kept.

    From the event loop (``await run(item)``), a batch is every item queued in one turn of the
    loop. On SQLite it is committed right on the loop: an embedded commit takes well under a
    millisecond, and a second thread would cost more in handing the interpreter lock back and
    forth than it saves. On PostgreSQL (network round trips) a writer thread commits it while
    the loop serves others. Threads call ``submit(item)`` and wait on the future it returns.
    """

    def __init__(
        self, database: Database, handler: BatchHandler, *, name: str = "", inline: bool = False
    ) -> None:
        self._database = database
        self._handler = handler
        self._name = name
        self._inline = inline
        self._due: dict[asyncio.AbstractEventLoop, list[tuple[Any, Waiter]]] = {}
        self._queue: list[tuple[Any, Waiter]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, item: Any) -> Future[Any]:
        """Queue ``item`` from a thread; the future holds its outcome once committed."""
        future: Future[Any] = Future()
        self._enqueue(item, future)
        return future

    async def run(self, item: Any) -> Any:
        """Queue ``item`` from the event loop and wait (serving others) for its outcome."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        if not self._inline:
            self._enqueue(item, waiter)
            return await waiter
        due = self._due.setdefault(loop, [])
        due.append((item, waiter))
        if len(due) == 1:
            # After the callbacks already ready in this turn: their items join this batch.
            loop.call_soon(self._commit_due, loop, 1, time.monotonic())
        return await waiter

    def _commit_due(self, loop: asyncio.AbstractEventLoop, seen: int, since: float) -> None:
        due = self._due.get(loop, [])
        if len(due) > seen and len(due) < MAX_BATCH and time.monotonic() - since < MAX_WAIT_SECONDS:
            # Still growing: requests read in this turn are on their way; one more turn for them
            # (a bigger batch costs each call less), as long as the first has not waited long.
            loop.call_soon(self._commit_due, loop, len(due), since)
            return
        if not due:
            return
        try:
            results = self._outcomes(due, quick=True)
        except OperationalError:
            if time.monotonic() - since < LOCK_POLL_SECONDS:
                # Another worker is committing: ask again in a moment, serving others meanwhile
                # (calls arriving by then join this batch).
                loop.call_later(LOCK_RETRY_SECONDS, self._commit_due, loop, len(due), since)
                return
            # Held for long (a big data load, say): the writer thread waits for it, off the loop.
            for item, waiter in self._due.pop(loop):
                self._enqueue(item, waiter)
            return
        del self._due[loop]
        for waiter, outcome in results:
            _resolve(waiter, outcome)

    def _enqueue(self, item: Any, waiter: Waiter) -> None:
        with self._wake:
            if self._closed:
                raise RuntimeError("writer closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"yiwang-writer-{self._name}", daemon=True
                )
                self._thread.start()
            self._queue.append((item, waiter))
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            _deliver(self._outcomes(batch))

    def _outcomes(self, batch: list[tuple[Any, Waiter]], *, quick: bool = False) -> list[tuple[Waiter, Any]]:
        """Run the batch in one transaction; with ``quick``, a busy write lock is raised (as
        OperationalError, nothing done) instead of handed to the callers."""
        try:
            with self._database.session_scope(quick=quick) as session:
                session.connection()  # begin (take the write lock) before any item is handled
                outcomes: list[Any] = self._handler(session, [item for item, _ in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError("batch handler must return one outcome per item")
        except Exception as failure:  # noqa: BLE001 - every waiting caller gets the failure
            if quick and is_lock_busy(failure):
                raise
            outcomes = [failure] * len(batch)
        return [(waiter, outcome) for (_item, waiter), outcome in zip(batch, outcomes, strict=True)]


Waiter = Future[Any] | asyncio.Future[Any]


def _deliver(results: list[tuple[Waiter, Any]]) -> None:
    """Hand each waiter its outcome: threads' futures directly, each event loop's in one wake-up
    (one call per loop rather than one per waiter, which would wake the loop as many times)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Waiter, Any]]] = {}
    for waiter, outcome in results:
        if isinstance(waiter, asyncio.Future):
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, outcome))
        else:
            _resolve(waiter, outcome)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, waiting)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass


def _resolve_all(results: list[tuple[Waiter, Any]]) -> None:
    for waiter, outcome in results:
        _resolve(waiter, outcome)


def _resolve(waiter: Waiter, outcome: Any) -> None:
    if waiter.done():  # a caller that gave up (cancelled)
        return
    if isinstance(outcome, BaseException):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)


def _queued_lengths(session: Session) -> dict[str, int]:
    # Log entries wait in session.info until commit (kit.audit, kit.accesslog): a savepoint does
    # not take them back, so a failed job's entries are cut off here by hand.
    return {key: len(value) for key, value in session.info.items() if isinstance(value, list)}


def _drop_queued_since(session: Session, lengths: dict[str, int]) -> None:
    for key, value in list(session.info.items()):
        if isinstance(value, list):
            del value[lengths.get(key, 0) :]
