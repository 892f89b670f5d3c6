"""The tamper-evident audit log: append-only, hash-chained, with signed checkpoints.

Each entry's *payload* is its fields joined by the unit separator (0x1F) in a
fixed order, ending with the previous entry's hash; the entry's hash is the
suite hash of that payload. The payload is built the same way in Python (when
writing, or from an export) and in SQL (when verifying the database), so the
verifier streams rows straight from the database and spends its time hashing.

Entries are chained at commit time, inside the committing transaction: services
call :func:`record`, which only queues the entry on the session; a
``before_commit`` hook locks the chain head, numbers and hashes the queued
entries, inserts them and moves the head. The change and its entry commit or
vanish together, and the head lock (``FOR UPDATE`` on PostgreSQL, the
``BEGIN IMMEDIATE`` write lock on SQLite) keeps concurrent workers from forking
the chain while holding it only for the last moments of a transaction.

Every ``checkpoint_every`` entries, or when ``checkpoint_seconds`` have passed
while the log grows, the head (seq, hash, time) is signed with the platform key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    cast,
    event,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from yiwang.kit.crypto import Keyring, Signature, get_suite, verify_with_public_keys
from yiwang.kit.db import Base, insert_ignoring_conflict, utcnow
from yiwang.kit.errors import PlatformError

SEP = "\x1f"
GENESIS = "0" * 64
CHECKPOINT_CONTEXT = "yiwang-audit-checkpoint"
OUTCOMES = ("ok", "denied", "failed")


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # ISO-8601 UTC text with microseconds: sorts as time and hashes the same on every database.
    at: Mapped[str] = mapped_column(String(27), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))
    org: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(60))
    target_id: Mapped[str] = mapped_column(String(200), index=True)
    outcome: Mapped[str] = mapped_column(String(10), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    suite: Mapped[str] = mapped_column(String(20))
    prev_hash: Mapped[str] = mapped_column(String(128))
    hash: Mapped[str] = mapped_column(String(128))


class AuditHead(Base):
    """The one row that says where the chain ends; locked by every appender."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(128))
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger)
    checkpoint_at: Mapped[datetime | None] = mapped_column()


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hash: Mapped[str] = mapped_column(String(128))
    at: Mapped[str] = mapped_column(String(27))
    signature: Mapped[str] = mapped_column(Text)  # Signature.to_dict() as JSON


ENTRY_FIELDS = (
    "seq",
    "at",
    "actor",
    "actor_kind",
    "org",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "request_id",
    "details",
    "suite",
    "prev_hash",
)


@dataclass(frozen=True)
class Chain:
    """One hash-chained log: its tables, the fields its payload joins, and its names.

    The audit log is one; the access log (``kit.accesslog``) is another, with the same
    writer, verifier and export. ``context`` goes into every checkpoint signature, so a
    checkpoint of one chain can never pass as one of another.
    """

    name: str
    entry: Table
    head: Table
    checkpoint: Table
    fields: tuple[str, ...]
    context: str
    export_format: str

    @property
    def pending_key(self) -> str:
        return f"yiwang_{self.name}_pending"


AUDIT = Chain(
    name="audit",
    entry=AuditEntry.__table__,  # type: ignore[arg-type]
    head=AuditHead.__table__,  # type: ignore[arg-type]
    checkpoint=AuditCheckpoint.__table__,  # type: ignore[arg-type]
    fields=ENTRY_FIELDS,
    context=CHECKPOINT_CONTEXT,
    export_format="yiwang-audit-export/1",
)
# Export formats this verifier knows, by the header's ``format``; registered by each chain's module.
CHAINS: dict[str, Chain] = {AUDIT.export_format: AUDIT}


def register_chain(chain: Chain) -> Chain:
    CHAINS[chain.export_format] = chain
    return chain


class Principal(Protocol):
    """Who acts: the identity package's Actor satisfies this."""

    @property
    def username(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def org_code(self) -> str: ...
    @property
    def request_id(self) -> str: ...


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, control characters escaped."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


_CONTROL = re.compile(r"[\x00-\x1f]")


def clean_text(text: object) -> str:
    """``text`` with control characters as ``?``: they would let one field pose as two (the
    payload joins fields with one), and have no business in log fields anyway."""
    return _CONTROL.sub("?", str(text))


def payload_of(entry: Mapping[str, Any], fields: tuple[str, ...] = ENTRY_FIELDS) -> str:
    """The hashed text of one entry (a mapping with every name of ``fields``)."""
    return SEP.join(str(entry[name]) for name in fields)


def _payload_sql(chain: Chain) -> ColumnElement[str]:
    """The same payload, computed by the database (``||`` on both SQLite and PostgreSQL)."""
    columns = chain.entry.c
    expr: ColumnElement[str] = cast(columns.seq, String)
    for name in chain.fields[1:]:
        # Integer columns are cast so that ``||`` joins their decimal text on both databases.
        column = columns[name] if isinstance(columns[name].type, String) else cast(columns[name], String)
        expr = expr.op("||")(literal(SEP)).op("||")(column)
    return expr


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(
    session: Session,
    actor: Principal,
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
) -> None:
    """Queue one audit entry; it is chained and written when ``session`` commits.

    Never put secrets or personal data in ``details``: the log is exported to auditors.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    session.info.setdefault(AUDIT.pending_key, []).append(
        {
            "actor": clean_text(actor.username),
            "actor_kind": clean_text(actor.kind),
            "org": clean_text(actor.org_code),
            "action": clean_text(action),
            "target_type": clean_text(target_type),
            "target_id": clean_text(target_id),
            "outcome": outcome,
            "request_id": clean_text(actor.request_id),
            "details": canonical_json(dict(details or {})),
        }
    )


@dataclass
class AuditWriter:
    """Chains queued entries at commit and signs checkpoints; one per process and database."""

    keyring: Keyring
    chain: Chain = AUDIT
    checkpoint_every: int = 1000
    checkpoint_seconds: int = 60
    clock: Callable[[], datetime] = utcnow

    @property
    def suite(self) -> str:
        return self.keyring.suite_name

    def install(self, factory: sessionmaker[Session]) -> None:
        """Chain the queued entries of every session that ``factory`` makes, at its commit."""
        event.listen(factory, "before_commit", self._before_commit)
        event.listen(factory, "after_rollback", self._after_rollback)

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(self.chain.pending_key, None)

    def _before_commit(self, session: Session) -> None:
        pending = session.info.pop(self.chain.pending_key, None)
        if pending:
            self.append(session, pending)

    def append(self, session: Session, pending: list[dict[str, Any]]) -> None:
        # Core statements, built once per chain, on the session's connection: this runs inside
        # every audited commit, and for the gateway's log inside every write batch.
        conn = session.connection()
        statements = _statements(self.chain)
        head = self._lock_head(conn)
        hasher = hex_hasher(self.suite)
        seq, prev = head.seq, head.hash
        rows = []
        at = format_time(self.clock())
        for queued in pending:
            seq += 1
            row = {**queued, "seq": seq, "at": at, "suite": self.suite, "prev_hash": prev}
            row["hash"] = prev = hasher(payload_of(row, self.chain.fields).encode())
            rows.append(row)
        conn.execute(statements.insert, rows)
        now = self.clock()
        due_by_count = seq - head.checkpoint_seq >= self.checkpoint_every
        due_by_time = head.checkpoint_at is None or now - head.checkpoint_at >= timedelta(
            seconds=self.checkpoint_seconds
        )
        if due_by_count or due_by_time:
            self._sign_checkpoint(session, seq, prev, now)
            conn.execute(statements.move_head_and_checkpoint, {"to_seq": seq, "to_hash": prev, "to_at": now})
        else:
            conn.execute(statements.move_head, {"to_seq": seq, "to_hash": prev})

    def _lock_head(self, conn: Connection) -> Any:
        query = _statements(self.chain).lock_head
        head = conn.execute(query).first()
        if head is None:
            # First entry ever: create the head row; a racing creator's insert is a no-op.
            conn.execute(_insert_head_if_missing(conn, self.chain.head))
            head = conn.execute(query).one()
        return head

    def _sign_checkpoint(self, session: Session, seq: int, hash_: str, now: datetime) -> None:
        at = format_time(now)
        signature = self.keyring.sign(checkpoint_message(seq, hash_, at, self.chain.context))
        session.execute(
            insert(self.chain.checkpoint).values(
                seq=seq, hash=hash_, at=at, signature=canonical_json(signature.to_dict())
            )
        )


def _insert_head_if_missing(db: Session | Connection, head: Table) -> Any:
    values = {"id": 1, "seq": 0, "hash": GENESIS, "checkpoint_seq": 0, "checkpoint_at": None}
    return insert_ignoring_conflict(db, head, values)


@dataclass(frozen=True)
class _ChainStatements:
    lock_head: Any
    insert: Any
    move_head: Any
    move_head_and_checkpoint: Any


@cache
def _statements(chain: Chain) -> _ChainStatements:
    """The writer's statements for ``chain``, built once (building costs more than running them).
    FOR UPDATE locks the head on PostgreSQL; SQLite renders none (its write lock is already held)."""
    head = chain.head
    columns = head.c
    at_head = columns.id == 1
    return _ChainStatements(
        lock_head=select(columns.seq, columns.hash, columns.checkpoint_seq, columns.checkpoint_at)
        .where(at_head)
        .with_for_update(),
        insert=insert(chain.entry),
        move_head=head.update().where(at_head).values(seq=bindparam("to_seq"), hash=bindparam("to_hash")),
        move_head_and_checkpoint=head.update()
        .where(at_head)
        .values(
            seq=bindparam("to_seq"),
            hash=bindparam("to_hash"),
            checkpoint_seq=bindparam("to_seq"),
            checkpoint_at=bindparam("to_at"),
        ),
    )


def checkpoint_message(seq: int, hash_: str, at: str, context: str = CHECKPOINT_CONTEXT) -> bytes:
    return SEP.join((context, str(seq), hash_, at)).encode()


# ---------------------------------------------------------------- verification


@dataclass
class VerifyResult:
    """The outcome of a verification: ``ok`` or the first bad entry and why."""

    ok: bool = True
    entries: int = 0
    checkpoints: int = 0
    first_bad: int | None = None
    problem: str = ""
    last_seq: int = 0
    last_hash: str = GENESIS
    notes: list[str] = field(default_factory=list)

    def fail(self, seq: int | None, problem: str) -> VerifyResult:
        if self.ok:
            self.ok, self.first_bad, self.problem = False, seq, problem
        return self


def verify_rows(
    rows: Iterable[tuple[int, str, str, str, str | bytes]],
    result: VerifyResult,
    *,
    keep: set[int],
    anchored: bool = True,
) -> dict[int, str]:
    """Walk ``(seq, suite, prev_hash, hash, payload)`` rows in order; return the hashes at ``keep``.

    ``anchored``: the first row must be entry 1 and start from the genesis hash (a whole log);
    otherwise (an export ``--since``) the first row's own ``prev_hash`` is the anchor.
    """
    hashers: dict[str, Callable[[bytes], str]] = {}
    expected_seq = 1 if anchored else None
    prev = GENESIS if anchored else None
    seen: dict[int, str] = {}
    # This loop is the verifier's whole cost per entry: keep it to comparisons and one hash.
    for seq, suite, prev_hash, hash_, payload in rows:
        if seq != expected_seq:
            if expected_seq is None:
                expected_seq, prev = seq, prev_hash
            else:
                problem = "缺少条目（被删除）" if seq > expected_seq else "条目顺序错误或重复"
                result.fail(expected_seq, f"条目 #{expected_seq}: {problem}")
                return seen
        if prev_hash != prev:
            result.fail(seq, f"条目 #{seq}: 前序哈希与上一条不符（条目被删除、插入或调换）")
            return seen
        hasher = hashers.get(suite)
        if hasher is None:
            hasher = hashers[suite] = hex_hasher(suite)
        if hasher(payload if isinstance(payload, bytes) else payload.encode()) != hash_:
            result.fail(seq, f"条目 #{seq}: 内容与哈希不符（条目被修改）")
            return seen
        if seq in keep:
            seen[seq] = hash_
        prev = hash_
        expected_seq = seq + 1
        result.entries += 1
    result.last_seq = (expected_seq or 1) - 1
    result.last_hash = prev or GENESIS
    return seen


def hex_hasher(suite: str) -> Callable[[bytes], str]:
    """The suite's hash as hex digits, by the shortest path (hashlib directly for SHA-256)."""
    if suite == "standard":
        sha256 = hashlib.sha256
        return lambda data: sha256(data).hexdigest()
    return get_suite(suite).hash_hex


def verify_checkpoints(
    checkpoints: Iterable[Mapping[str, Any]],
    hashes_at: Callable[[int], str | None],
    public_keys: Mapping[str, Mapping[str, Any]],
    result: VerifyResult,
    context: str = CHECKPOINT_CONTEXT,
) -> None:
    """Check each checkpoint's signature and that the chain holds the hash it signed."""
    for cp in checkpoints:
        seq, hash_, at = int(cp["seq"]), str(cp["hash"]), str(cp["at"])
        try:
            sig_data = cp["signature"]
            signature = Signature.from_dict(json.loads(sig_data) if isinstance(sig_data, str) else sig_data)
        except (PlatformError, ValueError, TypeError):
            result.fail(seq, f"检查点 #{seq}: 签名格式无效")
            return
        if not verify_with_public_keys(public_keys, checkpoint_message(seq, hash_, at, context), signature):
            result.fail(seq, f"检查点 #{seq}: 签名无效（检查点被伪造或修改）")
            return
        actual = hashes_at(seq)
        if actual is not None and actual != hash_:
            result.fail(seq, f"条目 #{seq}: 与已签名检查点的哈希不符（日志被改写）")
            return
        result.checkpoints += 1


def verify_database(
    session: Session, public_keys: Mapping[str, Mapping[str, Any]], chain: Chain = AUDIT
) -> VerifyResult:
    """Verify the whole log in the database: chain, checkpoints, and the head."""
    result = VerifyResult()
    cp_table = chain.checkpoint
    cp_rows = session.execute(select(cp_table).order_by(cp_table.c.seq)).all()
    wanted = {cp.seq for cp in cp_rows}
    stream = _stream_entries(session, chain)
    checkpoint_hashes = verify_rows(stream, result, keep=wanted)
    if not result.ok:
        return result
    verify_checkpoints(
        ({"seq": c.seq, "hash": c.hash, "at": c.at, "signature": c.signature} for c in cp_rows),
        lambda seq: checkpoint_hashes.get(seq, "" if seq > result.last_seq else None),
        public_keys,
        result,
        chain.context,
    )
    if not result.ok:
        return result
    head = session.execute(select(chain.head).where(chain.head.c.id == 1)).first()
    if head is not None and (head.seq != result.last_seq or head.hash != result.last_hash):
        result.fail(
            result.last_seq + 1, f"条目 #{result.last_seq + 1} 起: 日志末尾被删除（链头记录到 #{head.seq}）"
        )
    return result


def _stream_entries(session: Session, chain: Chain) -> Iterator[tuple[int, str, str, str, bytes]]:
    """Entries in order with their payload built and encoded by the database, straight off a DB-API
    cursor (a server-side one on PostgreSQL): no ORM rows, no per-row Python encoding."""
    dialect = session.get_bind().dialect
    payload = _payload_sql(chain)
    encoded = func.convert_to(payload, "UTF8") if dialect.name == "postgresql" else cast(payload, LargeBinary)
    columns = chain.entry.c
    stmt = select(columns.seq, columns.suite, columns.prev_hash, columns.hash, encoded).order_by(columns.seq)
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor(name=f"yiwang_{chain.name}_verify") if dialect.name == "postgresql" else raw.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(20_000):
            for seq, suite, prev_hash, hash_, data in batch:
                yield seq, suite, prev_hash, hash_, bytes(data)
    finally:
        cursor.close()


def verify_export(lines: Iterable[str]) -> VerifyResult:
    """Verify an export (JSON lines) offline, with the public keys it carries."""
    result = VerifyResult()
    entries: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    public_keys: dict[str, dict[str, Any]] = {}
    since = False
    chain = AUDIT
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            kind = item["type"]
        except (ValueError, KeyError, TypeError):
            return result.fail(None, f"第 {number} 行: 不是有效的导出记录")
        if kind == "entry":
            entries.append(item)
        elif kind == "checkpoint":
            checkpoints.append(item)
        elif kind == "public_key":
            public_keys[item["key_id"]] = item
        elif kind == "header":
            since = bool(item.get("since"))
            known = CHAINS.get(str(item.get("format")))
            if known is None:
                return result.fail(None, f"第 {number} 行: 未知的导出格式 {item.get('format')!r}")
            chain = known
    try:
        rows = [
            (int(e["seq"]), str(e["suite"]), str(e["prev_hash"]), str(e["hash"]), payload_of(e, chain.fields))
            for e in entries
        ]
    except KeyError as missing:
        return result.fail(None, f"导出条目缺少字段 {missing}")
    keep = {int(cp.get("seq", 0)) for cp in checkpoints}
    seen = verify_rows(rows, result, keep=keep, anchored=not since)
    if result.ok:
        first = rows[0][0] if rows else 1
        verify_checkpoints(
            checkpoints,
            lambda seq: seen.get(seq, "" if seq > result.last_seq or seq >= first else None),
            public_keys,
            result,
            chain.context,
        )
    return result


def export_lines(
    session: Session,
    public_keys: Mapping[str, Mapping[str, Any]],
    since: str | None = None,
    chain: Chain = AUDIT,
) -> Iterator[str]:
    """Entries (optionally from ``since``, an ISO date or time), their checkpoints and the public keys."""
    entries, checkpoints = chain.entry, chain.checkpoint
    query = select(entries).order_by(entries.c.seq)
    cp_query = select(checkpoints).order_by(checkpoints.c.seq)
    if since:
        query = query.where(entries.c.at >= since)
        cp_query = cp_query.where(checkpoints.c.at >= since)
    yield canonical_json({"type": "header", "format": chain.export_format, "since": since})
    for key_id, key in public_keys.items():
        yield canonical_json({"type": "public_key", "key_id": key_id, **key})
    for entry in session.execute(query.execution_options(yield_per=5000)).mappings():
        data = {name: entry[name] for name in (*chain.fields, "hash")}
        yield canonical_json({"type": "entry", **data})
    for cp in session.execute(cp_query):
        yield canonical_json(
            {
                "type": "checkpoint",
                "seq": cp.seq,
                "hash": cp.hash,
                "at": cp.at,
                "signature": json.loads(cp.signature),
            }
        )
