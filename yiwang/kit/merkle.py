"""An RFC 9162 Merkle transparency log: append-only, with inclusion and consistency proofs.

Hashing is RFC 9162 §2.1 exactly, with the crypto suite's hash ``H`` (SHA-256 for
``standard``, SM3 for ``sm``)::

    leaf hash       H(0x00 || data)
    interior node   H(0x01 || left || right)
    MTH(D[n])       H("") for n = 0; the leaf hash for n = 1; otherwise
                    H(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n

so proofs verify with any RFC 6962 / 9162 verifier (Certificate Transparency, Trillian)
when the suite is ``standard``.

Three layers:

- pure functions (:func:`verify_inclusion`, :func:`verify_consistency`, the hashes): what an
  offline verifier needs; no database;
- :class:`MemoryTree`, the RFC's recursive definitions written out literally: the oracle
  the stored log is tested against, and a convenience for small in-memory trees;
- :class:`MerkleLog`, the stored log. Every *complete* subtree is stored once, when its
  last leaf arrives, as node ``(level, i)`` covering leaves ``[i·2^level, (i+1)·2^level)``
  (level 0 holds the leaf hashes). Any subtree the RFC's recursion asks for starts on a
  multiple of its own size rounded up to a power of two, so it is a fold of at most
  log₂ n stored nodes: a root, an inclusion or a consistency proof at *any* size reads
  O(log n) rows (at most 2·log₂ n) in one query and never rehashes leaves. An append
  hashes the new leaf and the subtrees it completes (on average one), taking the left
  siblings from the head row's *frontier* (the roots of the complete subtrees the tree
  is made of, one per set bit of its size), so it reads nothing but the head.

Several logs share the tables, told apart by ``tree``. The head row of a tree is locked by
every appender (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's write transaction, begun
``IMMEDIATE``, is already exclusive), so concurrent workers cannot fork a tree. Like every
service, the log only flushes: the caller's transaction commits the leaf, its nodes and the
new head together, or none of them.

Signed checkpoints (:func:`sign_checkpoint`) state a tree's size and root at a time under the
platform key, with a context of their own (``yiwang-merkle-checkpoint/<tree>``) so that no
audit-log checkpoint, nor one of another tree, can pass as one of this tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from yiwang.kit.crypto import SUITE_NAMES, Keyring, Signature, Suite, get_suite, verify_with_public_keys
from yiwang.kit.db import Base, insert_ignoring_conflict, utcnow
from yiwang.kit.errors import ConfigurationError, InvalidInput, PlatformError

__all__ = [
    "CHECKPOINT_CONTEXT",
    "HASH_SIZE",
    "Checkpoint",
    "LeafRecord",
    "MemoryTree",
    "MerkleCheckpoint",
    "MerkleHead",
    "MerkleLeaf",
    "MerkleLog",
    "MerkleNode",
    "MerkleStoreDamaged",
    "checkpoint_message",
    "consistency_node_keys",
    "empty_root",
    "inclusion_node_keys",
    "leaf_hash",
    "node_hash",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32  # SHA-256 and SM3 alike
CHECKPOINT_CONTEXT = "yiwang-merkle-checkpoint"
# Tree names go into checkpoint texts line by line: no spaces, no line breaks.
_TREE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,59}")

NodeKey = tuple[int, int]  # (level, index): the complete subtree over [index·2^level, (index+1)·2^level)


class MerkleStoreDamaged(PlatformError):
    """A stored node the tree's shape says must exist is missing: the tables were tampered with."""

    code = "merkle_store_damaged"
    status = 500


# ---------------------------------------------------------------- hashing (RFC 9162 §2.1)


def _suite(suite: str | Suite) -> Suite:
    return suite if isinstance(suite, Suite) else get_suite(suite)


def leaf_hash(suite: str | Suite, data: bytes) -> bytes:
    """``H(0x00 || data)``: the hash of one log entry."""
    return _suite(suite).hash(LEAF_PREFIX + data)


def node_hash(suite: str | Suite, left: bytes, right: bytes) -> bytes:
    """``H(0x01 || left || right)``: an interior node."""
    return _suite(suite).hash(NODE_PREFIX + left + right)


def empty_root(suite: str | Suite) -> bytes:
    """The root of the empty tree, ``H("")``."""
    return _suite(suite).hash(b"")


def _split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2): where MTH splits."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold(suite: Suite, hashes: Sequence[bytes]) -> bytes:
    """The root over consecutive complete subtrees, largest first, as MTH builds it: from the right."""
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = suite.hash(NODE_PREFIX + left + root)
    return root


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


# ---------------------------------------------------------------- verification (RFC 9162 §2.1.3.2, §2.1.4.2)


def verify_inclusion(
    suite: str | Suite, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``proof`` shows the leaf ``leaf_hash`` at ``index`` in the tree of ``size`` leaves
    whose root is ``root`` (RFC 9162 §2.1.3.2). False, never an exception, for anything malformed."""
    h = _suite(suite)
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        return False
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False  # a longer proof than the tree is deep
        if fn & 1 or fn == sn:
            r = h.hash(NODE_PREFIX + p + r)
            if not fn & 1:
                # The right edge of a tree whose size is not a power of two: skip the levels
                # where this subtree has no right sibling.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h.hash(NODE_PREFIX + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    suite: str | Suite, size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows that the tree of ``size2`` leaves with root ``root2`` extends the
    tree of ``size1`` leaves with root ``root1`` (RFC 9162 §2.1.4.2): nothing of the first was
    changed, removed or reordered. Equal sizes need an empty proof and equal roots; an empty first
    tree needs an empty proof and the empty root. False, never an exception, for anything malformed.
    """
    h = _suite(suite)
    if not (_is_hash(root1) and _is_hash(root2) and all(_is_hash(p) for p in proof)):
        return False
    if not 0 <= size1 <= size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof and root1 == h.hash(b"")
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        # The old tree is one complete subtree of the new one: its root is the proof's first node.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = h.hash(NODE_PREFIX + c + fr)
            sr = h.hash(NODE_PREFIX + c + sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = h.hash(NODE_PREFIX + sr + c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


# ---------------------------------------------------------------- the in-memory reference tree


class MemoryTree:
    """A Merkle tree in memory, built from the RFC's recursive definitions as written
    (MTH §2.1.1, PATH §2.1.3.1, SUBPROOF §2.1.4.1).

    The reference the stored log is tested against, and a convenience for small trees
    (a bundle's own few leaves). Subtree roots are memoised: leaves are only appended,
    so the root of ``D[lo:hi]`` never changes once ``hi`` leaves exist.
    """

    def __init__(self, suite: str | Suite, leaves: Iterable[bytes] = ()) -> None:
        self.suite = _suite(suite)
        self.leaf_hashes: list[bytes] = []
        self._memo: dict[tuple[int, int], bytes] = {}
        for data in leaves:
            self.append(data)

    def __len__(self) -> int:
        return len(self.leaf_hashes)

    def append(self, data: bytes) -> int:
        """Add a leaf with ``data``; returns its index."""
        return self.append_hash(leaf_hash(self.suite, data))

    def append_hash(self, leaf: bytes) -> int:
        """Add a leaf by its leaf hash; returns its index."""
        self.leaf_hashes.append(leaf)
        return len(self.leaf_hashes) - 1

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return self.suite.hash(b"")
        if n == 1:
            return self.leaf_hashes[lo]
        cached = self._memo.get((lo, hi))
        if cached is None:
            k = _split_point(n)
            cached = self.suite.hash(NODE_PREFIX + self._mth(lo, lo + k) + self._mth(lo + k, hi))
            self._memo[(lo, hi)] = cached
        return cached

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self.leaf_hashes):
            raise ValueError(f"tree size {size} out of range 0..{len(self.leaf_hashes)}")

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all of them by default)."""
        size = len(self.leaf_hashes) if size is None else size
        self._check_size(size)
        return self._mth(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]), deepest node first."""
        size = len(self.leaf_hashes) if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} out of range 0..{size - 1}")
        return self._path(index, 0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split_point(n)
        if m < k:
            return self._path(m, lo, lo + k) + [self._mth(lo + k, hi)]
        return self._path(m - k, lo + k, hi) + [self._mth(lo, lo + k)]

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(size1, D[0:size2]); empty when ``size1`` is 0 or equals ``size2``."""
        size2 = len(self.leaf_hashes) if size2 is None else size2
        self._check_size(size2)
        if not 0 <= size1 <= size2:
            raise ValueError(f"tree size {size1} out of range 0..{size2}")
        if size1 in (0, size2):
            return []
        return self._subproof(size1, 0, size2, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self._mth(lo, hi)]
        k = _split_point(n)
        if m <= k:
            return self._subproof(m, lo, lo + k, whole) + [self._mth(lo + k, hi)]
        return self._subproof(m - k, lo + k, hi, False) + [self._mth(lo, lo + k)]


# ---------------------------------------------------------------- which stored nodes a proof needs


def _range_keys(lo: int, hi: int) -> list[NodeKey]:
    """The complete subtrees making up ``D[lo:hi]`` (a subtree of the RFC's recursion), largest first.

    Such a range starts on a multiple of its size rounded up to a power of two, so its binary
    decomposition from the left is aligned: each piece is a stored node.
    """
    keys = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        keys.append((level, lo >> level))
        lo += 1 << level
    return keys


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees PATH(index, D[0:size]) lists, as leaf ranges, deepest first."""
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split_point(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The subtrees PROOF(size1, D[0:size2]) lists (0 < size1 < size2), as leaf ranges, deepest first."""
    ranges = []
    lo, hi, whole = 0, size2, True
    while size1 != hi:
        k = _split_point(hi - lo)
        if size1 - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _keys_of(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    return {key for lo, hi in ranges for key in _range_keys(lo, hi)}


def inclusion_node_keys(index: int, size: int) -> set[NodeKey]:
    """The stored nodes ``(level, index)`` an inclusion proof reads: at most O(log² size)."""
    return _keys_of(_inclusion_ranges(index, size))


def consistency_node_keys(size1: int, size2: int) -> set[NodeKey]:
    """The stored nodes ``(level, index)`` a consistency proof reads: at most O(log² size2)."""
    if size1 in (0, size2):
        return set()
    return _keys_of(_consistency_ranges(size1, size2))


# ---------------------------------------------------------------- tables


class MerkleLeaf(Base):
    """One entry of a log: its position, leaf hash, and (unless the caller keeps it elsewhere) data."""

    __tablename__ = "merkle_leaf"
    __table_args__ = (Index("ix_merkle_leaf_tree_hash", "tree", "leaf_hash"),)

    tree: Mapped[str] = mapped_column(String(60), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column()


class MerkleNode(Base):
    """A complete subtree: node ``(level, node_index)`` covers leaves
    ``[node_index·2^level, (node_index+1)·2^level)``; level 0 are the leaf hashes."""

    __tablename__ = "merkle_node"

    tree: Mapped[str] = mapped_column(String(60), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE))


class MerkleHead(Base):
    """Where a tree ends: its size, root and frontier; the row every appender locks."""

    __tablename__ = "merkle_head"

    tree: Mapped[str] = mapped_column(String(60), primary_key=True)
    suite: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE))
    # The roots of the complete subtrees the tree is made of, largest first, concatenated:
    # an append needs exactly these as left siblings, so it reads no node rows.
    frontier: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime | None] = mapped_column()


class MerkleCheckpoint(Base):
    """A signed checkpoint of a tree (one per size at most)."""

    __tablename__ = "merkle_checkpoint"

    tree: Mapped[str] = mapped_column(String(60), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    suite: Mapped[str] = mapped_column(String(20))
    root: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE))
    at: Mapped[str] = mapped_column(String(27))
    signature: Mapped[str] = mapped_column(Text)  # Signature.to_dict() as JSON


# Core statements on the tables, not ORM objects: appends and proofs are hot paths.
_LEAF = cast(Table, MerkleLeaf.__table__)
_NODE = cast(Table, MerkleNode.__table__)
_HEAD = cast(Table, MerkleHead.__table__)
_CHECKPOINT = cast(Table, MerkleCheckpoint.__table__)


# ---------------------------------------------------------------- signed checkpoints


def _format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_message(tree: str, suite: str, size: int, root: bytes, at: str) -> bytes:
    """The signed text of a checkpoint: context line with the tree, then suite, size, root (hex), time.

    One field a line, each field free of line breaks (tree names and suites are checked, times
    are ISO), so no two checkpoints share a text.
    """
    return f"{CHECKPOINT_CONTEXT}/{tree}\n{suite}\n{size}\n{root.hex()}\n{at}\n".encode()


@dataclass(frozen=True)
class Checkpoint:
    """A tree's size and root at a time, signed; :meth:`to_dict` is its JSON form in bundles and the API."""

    tree: str
    suite: str
    size: int
    root: bytes
    at: str  # ISO-8601 UTC with microseconds, as the audit log writes times
    signature: Signature

    def message(self) -> bytes:
        """The bytes the signature covers."""
        return checkpoint_message(self.tree, self.suite, self.size, self.root, self.at)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``root`` in hex, the signature as :meth:`Signature.to_dict`."""
        return {
            "tree": self.tree,
            "suite": self.suite,
            "size": self.size,
            "root": self.root.hex(),
            "at": self.at,
            "signature": self.signature.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Inverse of :meth:`to_dict`; InvalidInput when a field is missing or malformed."""
        try:
            tree, suite, size, root, at = (data[k] for k in ("tree", "suite", "size", "root", "at"))
            if not (isinstance(tree, str) and isinstance(suite, str) and isinstance(at, str)):
                raise TypeError
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise TypeError
            root_bytes = bytes.fromhex(root)
            signature = data["signature"]
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(
                "检查点格式无效：应包含 tree、suite、size、root（十六进制）、at 和 signature",
                code="invalid_checkpoint",
            ) from None
        if not isinstance(signature, Mapping):
            raise InvalidInput("检查点格式无效：signature 应为对象", code="invalid_checkpoint")
        return cls(tree, suite, size, root_bytes, at, Signature.from_dict(signature))


def sign_checkpoint(
    keyring: Keyring, tree: str, suite: str, size: int, root: bytes, at: datetime | None = None
) -> Checkpoint:
    """Sign ``(tree, suite, size, root, at)`` with the platform key (``at`` defaults to now)."""
    _check_tree_name(tree)
    if suite not in SUITE_NAMES:
        raise ConfigurationError(f"未知的密码套件：{suite}")
    moment = _format_time(at or utcnow())
    signature = keyring.sign(checkpoint_message(tree, suite, size, root, moment))
    return Checkpoint(tree, suite, size, root, moment, signature)


def verify_checkpoint(checkpoint: Checkpoint, public_keys: Mapping[str, Mapping[str, Any]]) -> bool:
    """True when the checkpoint's signature is valid under one of ``public_keys``
    (:meth:`Keyring.public_keys`'s shape) and its fields are well formed; offline, never raises."""
    if not _TREE_NAME.fullmatch(checkpoint.tree) or checkpoint.suite not in SUITE_NAMES:
        return False
    if not _is_hash(checkpoint.root) or checkpoint.size < 0 or "\n" in checkpoint.at:
        return False
    return verify_with_public_keys(public_keys, checkpoint.message(), checkpoint.signature)


def _check_tree_name(tree: str) -> None:
    if not _TREE_NAME.fullmatch(tree):
        raise ConfigurationError(f"日志名称无效：{tree!r}（字母数字开头，可含 . _ : / -，至多 60 个字符）")


# ---------------------------------------------------------------- the stored log


@dataclass(frozen=True)
class LeafRecord:
    """One stored leaf."""

    index: int
    leaf_hash: bytes
    data: bytes | None
    at: datetime


@dataclass
class _Head:
    size: int
    root: bytes
    frontier: list[bytes]


class MerkleLog:
    """One append-only Merkle log in the shared tables, named ``tree``, hashed with ``suite``.

    Stateless apart from its name and suite: make one wherever needed. Every method takes the
    caller's session; appends only flush.
    """

    def __init__(self, tree: str, suite: str) -> None:
        _check_tree_name(tree)
        self.tree = tree
        self.suite_name = suite
        self.suite = get_suite(suite)

    def __repr__(self) -> str:
        return f"<MerkleLog {self.tree} ({self.suite_name})>"

    # -- writing

    def append(self, session: Session, data: bytes, *, keep_data: bool = True) -> tuple[int, bytes]:
        """Append one leaf with ``data``; returns its ``(index, leaf_hash)``.

        Locks the tree's head until the caller's transaction ends. ``keep_data=False`` stores the
        leaf hash only (for callers that keep the entry elsewhere).
        """
        return self.extend(session, [data], keep_data=keep_data)[0]

    def extend(
        self, session: Session, items: Iterable[bytes], *, keep_data: bool = True
    ) -> list[tuple[int, bytes]]:
        """Append several leaves in order under one head lock, with one insert per table."""
        head = self._lock_head(session)
        now = utcnow()
        size, frontier = head.size, head.frontier
        leaves: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        added: list[tuple[int, bytes]] = []
        for data in items:
            index = size
            hashed = self.suite.hash(LEAF_PREFIX + data)
            leaves.append(
                {
                    "tree": self.tree,
                    "leaf_index": index,
                    "leaf_hash": hashed,
                    "data": data if keep_data else None,
                    "at": now,
                }
            )
            nodes.append({"tree": self.tree, "level": 0, "node_index": index, "hash": hashed})
            # Each trailing 1 bit of the index is a subtree this leaf completes; its left half is
            # the frontier's last (smallest) entry.
            node, level, position = hashed, 0, index
            while position & 1:
                node = self.suite.hash(NODE_PREFIX + frontier.pop() + node)
                level, position = level + 1, position >> 1
                nodes.append({"tree": self.tree, "level": level, "node_index": position, "hash": node})
            frontier.append(node)
            size += 1
            added.append((index, hashed))
        if not added:
            return added
        session.execute(insert(_LEAF), leaves)
        session.execute(insert(_NODE), nodes)
        session.execute(
            update(_HEAD)
            .where(_HEAD.c.tree == self.tree)
            .values(size=size, root=_fold(self.suite, frontier), frontier=b"".join(frontier), updated_at=now)
        )
        return added

    def _lock_head(self, session: Session) -> _Head:
        query = (
            select(_HEAD.c.suite, _HEAD.c.size, _HEAD.c.root, _HEAD.c.frontier)
            .where(_HEAD.c.tree == self.tree)
            .with_for_update()
        )
        row = session.execute(query).first()
        if row is None:
            # The tree's first leaf: create its head; a racing creator's insert is a no-op, and
            # the lock below then waits for that creator's transaction.
            values = {
                "tree": self.tree,
                "suite": self.suite_name,
                "size": 0,
                "root": self.suite.hash(b""),
                "frontier": b"",
                "updated_at": None,
            }
            session.execute(insert_ignoring_conflict(session, _HEAD, values))
            row = session.execute(query).one()
        self._check_suite(row.suite)
        frontier = bytes(row.frontier)
        return _Head(
            size=row.size,
            root=bytes(row.root),
            frontier=[frontier[i : i + HASH_SIZE] for i in range(0, len(frontier), HASH_SIZE)],
        )

    def _check_suite(self, stored: str) -> None:
        if stored != self.suite_name:
            # Mixing hashes would make every later root and proof unverifiable.
            raise ConfigurationError(
                f"日志 {self.tree} 使用 {stored} 密码套件，不能以 {self.suite_name} 套件读写"
            )

    # -- reading

    def _head(self, session: Session) -> _Head:
        row = session.execute(
            select(_HEAD.c.suite, _HEAD.c.size, _HEAD.c.root).where(_HEAD.c.tree == self.tree)
        ).first()
        if row is None:
            return _Head(size=0, root=self.suite.hash(b""), frontier=[])
        self._check_suite(row.suite)
        return _Head(size=row.size, root=bytes(row.root), frontier=[])

    def size(self, session: Session) -> int:
        """The number of leaves (committed, or appended in this transaction)."""
        return self._head(session).size

    def root(self, session: Session, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (of the whole tree by default)."""
        head = self._head(session)
        if size is None or size == head.size:
            return head.root
        self._check_range("size", size, 0, head.size)
        if size == 0:
            return self.suite.hash(b"")
        keys = _range_keys(0, size)
        nodes = self._nodes(session, set(keys))
        return _fold(self.suite, [nodes[key] for key in keys])

    def inclusion_proof(self, session: Session, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves (default: all)."""
        head = self._head(session)
        size = head.size if size is None else size
        self._check_range("size", size, 1, head.size)
        self._check_range("index", index, 0, size - 1)
        return self._hashes_of(session, _inclusion_ranges(index, size))

    def consistency_proof(self, session: Session, size1: int, size2: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from ``size1`` leaves to ``size2`` (default: all);
        empty when ``size1`` is 0 or equals ``size2``."""
        head = self._head(session)
        size2 = head.size if size2 is None else size2
        self._check_range("size", size2, 0, head.size)
        self._check_range("from", size1, 0, size2)
        if size1 in (0, size2):
            return []
        return self._hashes_of(session, _consistency_ranges(size1, size2))

    def leaf_index(self, session: Session, leaf_hash: bytes) -> int | None:
        """The index of the first leaf with ``leaf_hash``, or None."""
        return session.execute(
            select(_LEAF.c.leaf_index)
            .where(_LEAF.c.tree == self.tree, _LEAF.c.leaf_hash == leaf_hash)
            .order_by(_LEAF.c.leaf_index)
            .limit(1)
        ).scalar()

    def leaf(self, session: Session, index: int) -> LeafRecord | None:
        """The stored leaf at ``index``, or None."""
        row = session.execute(
            select(_LEAF.c.leaf_hash, _LEAF.c.data, _LEAF.c.at).where(
                _LEAF.c.tree == self.tree, _LEAF.c.leaf_index == index
            )
        ).first()
        if row is None:
            return None
        data = None if row.data is None else bytes(row.data)
        return LeafRecord(index=index, leaf_hash=bytes(row.leaf_hash), data=data, at=row.at)

    def _hashes_of(self, session: Session, ranges: list[tuple[int, int]]) -> list[bytes]:
        pieces = [_range_keys(lo, hi) for lo, hi in ranges]
        nodes = self._nodes(session, {key for keys in pieces for key in keys})
        return [_fold(self.suite, [nodes[key] for key in keys]) for keys in pieces]

    def _nodes(self, session: Session, keys: set[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes of ``keys``, in one query."""
        if not keys:
            return {}
        by_level: dict[int, list[int]] = {}
        for level, index in sorted(keys):
            by_level.setdefault(level, []).append(index)
        # The tree, the level and an IN list of indexes inside each OR term: SQLite then looks every
        # node up by its whole primary key (MULTI-INDEX OR). With the tree outside the OR, or a
        # row-value ``(level, index) IN (VALUES …)``, it scanned the whole tree instead. Plain SQL
        # text: building the same as an expression tree cost more than running it.
        terms: list[str] = []
        params: dict[str, str | int] = {"tree": self.tree}
        for n, (level, indexes) in enumerate(by_level.items()):
            names = [f"i{n}_{k}" for k in range(len(indexes))]
            params[f"l{n}"] = level
            params.update(zip(names, indexes, strict=True))
            terms.append(
                f"(tree = :tree AND level = :l{n} AND node_index IN ({', '.join(':' + m for m in names)}))"
            )
        rows = session.execute(
            text("SELECT level, node_index, hash FROM merkle_node WHERE " + " OR ".join(terms)), params
        )
        found = {(level, index): bytes(hash_) for level, index, hash_ in rows}
        missing = keys - found.keys()
        if missing:
            level, index = min(missing)
            raise MerkleStoreDamaged(
                f"日志 {self.tree} 缺少节点（层 {level}，序号 {index}）：存储被篡改或损坏",
                details={"tree": self.tree, "missing": sorted(missing)[:10]},
            )
        return found

    def _check_range(self, name: str, value: int, low: int, high: int) -> None:
        if not low <= value <= high:
            raise InvalidInput(
                f"{name} 超出范围：应在 {low} 到 {high} 之间，实际为 {value}",
                code="invalid_tree_size" if name != "index" else "invalid_leaf_index",
                details={"field": name, "min": low, "max": high},
            )

    # -- checkpoints

    def sign_checkpoint(self, session: Session, keyring: Keyring, at: datetime | None = None) -> Checkpoint:
        """Sign the current head and store the checkpoint; when one of this size exists, return it
        instead (a tree that has not grown needs no new checkpoint). Locks the head like an append,
        so the signed size and root are the committed tree's."""
        head = self._lock_head(session)
        existing = self._checkpoint_row(session, head.size)
        if existing is not None:
            return existing
        checkpoint = sign_checkpoint(keyring, self.tree, self.suite_name, head.size, head.root, at)
        session.execute(
            insert(_CHECKPOINT).values(
                tree=self.tree,
                size=checkpoint.size,
                suite=checkpoint.suite,
                root=checkpoint.root,
                at=checkpoint.at,
                signature=json.dumps(checkpoint.signature.to_dict(), sort_keys=True),
            )
        )
        return checkpoint

    def latest_checkpoint(self, session: Session) -> Checkpoint | None:
        """The stored checkpoint of the largest size, or None."""
        size = session.execute(
            select(_CHECKPOINT.c.size)
            .where(_CHECKPOINT.c.tree == self.tree)
            .order_by(_CHECKPOINT.c.size.desc())
            .limit(1)
        ).scalar()
        return None if size is None else self._checkpoint_row(session, size)

    def _checkpoint_row(self, session: Session, size: int) -> Checkpoint | None:
        row = session.execute(
            select(_CHECKPOINT).where(_CHECKPOINT.c.tree == self.tree, _CHECKPOINT.c.size == size)
        ).first()
        if row is None:
            return None
        signature = Signature.from_dict(json.loads(row.signature))
        return Checkpoint(self.tree, row.suite, row.size, bytes(row.root), row.at, signature)
