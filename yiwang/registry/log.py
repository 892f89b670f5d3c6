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
    """The checkpoint of the current tree, signed now if the tree grew since the last one."""
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
