"""The registry's transparency log: one RFC 9162 Merkle tree (``kit.merkle``) of certificate events."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from yiwang.kit.crypto import Keyring
from yiwang.kit.errors import NotFound
from yiwang.kit.merkle import Checkpoint, MerkleLog

TREE = "registry"


def tree(suite: str) -> MerkleLog:
    return MerkleLog(TREE, suite)


def append(session: Session, suite: str, data: bytes) -> tuple[int, str]:
    """Append one event's leaf; returns its index and leaf hash (hex)."""
    index, leaf_hash = tree(suite).append(session, data)
    return index, leaf_hash.hex()


def signed_checkpoint(session: Session, keyring: Keyring) -> Checkpoint:
    """The checkpoint of the current tree: the latest stored one when the tree has not grown since,
    else one signed now. Signing locks the tree's head like an append, and a size already signed
    is returned, not signed again: several workers store one checkpoint per size. The unlocked look
    first keeps busy readers (bundle downloads, the checkpoint endpoint) off the append lock."""
    log = tree(keyring.suite_name)
    latest = log.latest_checkpoint(session)
    if latest is not None and latest.size == log.size(session):
        return latest
    return log.sign_checkpoint(session, keyring)


def grown(session: Session, suite: str) -> bool:
    """Whether the tree has leaves that no stored checkpoint covers yet."""
    log = tree(suite)
    latest = log.latest_checkpoint(session)
    return log.size(session) > (latest.size if latest is not None else 0)


def checkpoint_if_grown(session: Session, keyring: Keyring) -> Checkpoint | None:
    """Sign a checkpoint when the tree has grown since the latest one; None when it has not."""
    if not grown(session, keyring.suite_name):
        return None
    return tree(keyring.suite_name).sign_checkpoint(session, keyring)


def checkpoint(session: Session, keyring: Keyring) -> dict[str, Any]:
    return signed_checkpoint(session, keyring).to_dict()


def inclusion(session: Session, suite: str, leaf_hex: str, size: int) -> dict[str, Any]:
    """RFC 9162's inclusion proof of the leaf with this hash in the tree of ``size`` leaves."""
    log = tree(suite)
    index = log.leaf_index(session, bytes.fromhex(leaf_hex))
    if index is None or index >= size:
        raise NotFound(f"树大小 {size} 内没有哈希为 {leaf_hex} 的叶子", code="leaf_not_found")
    proof = log.inclusion_proof(session, index, size)
    return {"leaf_index": index, "tree_size": size, "inclusion_path": [p.hex() for p in proof]}


def consistency(session: Session, suite: str, size1: int, size2: int) -> dict[str, Any]:
    """RFC 9162's consistency proof between the trees of ``size1`` and ``size2`` leaves."""
    proof = tree(suite).consistency_proof(session, size1, size2)
    return {"from": size1, "to": size2, "consistency_path": [p.hex() for p in proof]}
