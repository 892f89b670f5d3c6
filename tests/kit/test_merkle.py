"""The RFC 9162 Merkle log: the RFC's hashing (CT's own test vectors), the verifiers against
the RFC's recursive definitions, the stored log against the in-memory reference on both
databases and both suites, its cost (statements per append, rows per proof), and signed
checkpoints."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from yiwang.kit import audit, merkle
from yiwang.kit.crypto import Keyring, Signature
from yiwang.kit.errors import ConfigurationError, InvalidInput
from yiwang.kit.merkle import (
    Checkpoint,
    MemoryTree,
    MerkleLog,
    MerkleNode,
    MerkleStoreDamaged,
    consistency_node_keys,
    inclusion_node_keys,
    verify_consistency,
    verify_inclusion,
)
from yiwang.runtime import Platform

SUITES = ["standard", "sm"]
DB_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# The test vectors of Certificate Transparency's reference implementation (merkle_tree_test.cc),
# reused by Trillian and transparency-dev/merkle: eight leaves, the roots of each prefix, and
# some proofs over them. RFC 9162 hashing is RFC 6962's, so they hold for the ``standard`` suite.
RFC_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
RFC_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
RFC_INCLUSION = {  # (index, size): path
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (0, 1): [],
}
RFC_CONSISTENCY = {  # (size1, size2): proof
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def _hex(hashes_: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes_]


def leaf_data(i: int, salt: int = 0) -> bytes:
    """Distinct data per leaf: with equal leaves a proof for one index could verify for another."""
    return f"leaf-{salt}-{i}".encode()


def flip(proof: list[bytes], which: int, byte: int) -> list[bytes]:
    changed = list(proof)
    element = bytearray(changed[which])
    element[byte % len(element)] ^= 0x01
    changed[which] = bytes(element)
    return changed


class TestHashing:
    def test_roots_of_the_rfc_vectors(self) -> None:
        tree = MemoryTree("standard", RFC_LEAVES)
        assert [tree.root(n).hex() for n in range(9)] == RFC_ROOTS

    def test_proofs_of_the_rfc_vectors(self) -> None:
        tree = MemoryTree("standard", RFC_LEAVES)
        for (index, size), path in RFC_INCLUSION.items():
            assert _hex(tree.inclusion_proof(index, size)) == path
        for (size1, size2), proof in RFC_CONSISTENCY.items():
            assert _hex(tree.consistency_proof(size1, size2)) == proof

    @pytest.mark.parametrize("suite", SUITES)
    def test_small_trees_by_hand(self, suite: str) -> None:
        # An independent spelling of §2.1 with the primitive hashes, not the suite object.
        def h(data: bytes) -> bytes:
            if suite == "standard":
                return hashlib.sha256(data).digest()
            digest = hashes.Hash(hashes.SM3())
            digest.update(data)
            return digest.finalize()

        a, b, c = (h(b"\x00" + d) for d in (b"a", b"b", b"c"))
        expected = [h(b""), a, h(b"\x01" + a + b), h(b"\x01" + h(b"\x01" + a + b) + c)]
        tree = MemoryTree(suite, [b"a", b"b", b"c"])
        assert [tree.root(n) for n in range(4)] == expected
        assert merkle.empty_root(suite) == expected[0]
        assert merkle.leaf_hash(suite, b"a") == a
        assert tree.inclusion_proof(2, 3) == [h(b"\x01" + a + b)]
        assert tree.inclusion_proof(0, 3) == [b, c]
        assert tree.consistency_proof(2, 3) == [c]

    def test_suites_hash_differently(self) -> None:
        assert MemoryTree("standard", [b"x"]).root() != MemoryTree("sm", [b"x"]).root()


class TestVerifyInclusion:
    @pytest.mark.parametrize("suite", SUITES)
    @settings(max_examples=150, deadline=None)
    @given(data=st.data())
    def test_proofs_verify_and_every_change_fails(self, suite: str, data: st.DataObject) -> None:
        size = data.draw(st.integers(1, 300), label="size")
        index = data.draw(st.integers(0, size - 1), label="index")
        tree = MemoryTree(suite, (leaf_data(i) for i in range(301)))
        leaf, root = tree.leaf_hashes[index], tree.root(size)
        proof = tree.inclusion_proof(index, size)
        assert verify_inclusion(suite, leaf, index, size, proof, root)

        if proof:
            which = data.draw(st.integers(0, len(proof) - 1), label="element")
            byte = data.draw(st.integers(0, 31), label="byte")
            assert not verify_inclusion(suite, leaf, index, size, flip(proof, which, byte), root)
            assert not verify_inclusion(suite, leaf, index, size, proof[:-1], root)
        if len(proof) > 1:
            assert not verify_inclusion(suite, leaf, index, size, proof[::-1], root)
        assert not verify_inclusion(suite, leaf, index, size, [*proof, root], root)
        other_index = data.draw(st.integers(0, 300).filter(lambda i: i != index), label="other index")
        assert not verify_inclusion(suite, leaf, other_index, size, proof, root)
        other_size = data.draw(st.integers(1, 301).filter(lambda n: n != size), label="other size")
        assert not verify_inclusion(suite, leaf, index, other_size, proof, tree.root(other_size))
        assert not verify_inclusion(suite, leaf, index, size, proof, flip([root], 0, byte=index)[0])
        assert not verify_inclusion(suite, tree.leaf_hashes[(index + 1) % 301], index, size, proof, root)

    def test_malformed_input_is_false_not_an_error(self) -> None:
        tree = MemoryTree("standard", RFC_LEAVES)
        leaf, root, proof = tree.leaf_hashes[3], tree.root(), tree.inclusion_proof(3)
        assert verify_inclusion("standard", leaf, 3, 8, proof, root)
        assert not verify_inclusion("standard", leaf, -1, 8, proof, root)
        assert not verify_inclusion("standard", leaf, 8, 8, proof, root)
        assert not verify_inclusion("standard", leaf, 3, 0, proof, root)
        assert not verify_inclusion("standard", leaf, 3, 8, [*proof[:-1], proof[-1][:31]], root)
        assert not verify_inclusion("standard", leaf[:16], 3, 8, proof, root)
        assert not verify_inclusion("standard", leaf, 3, 8, proof, root.hex().encode())
        # The same proof under the other suite's hash proves nothing.
        assert not verify_inclusion("sm", leaf, 3, 8, proof, root)


class TestVerifyConsistency:
    @pytest.mark.parametrize("suite", SUITES)
    @settings(max_examples=150, deadline=None)
    @given(data=st.data())
    def test_proofs_verify_and_every_change_fails(self, suite: str, data: st.DataObject) -> None:
        size2 = data.draw(st.integers(1, 300), label="size2")
        size1 = data.draw(st.integers(0, size2), label="size1")
        tree = MemoryTree(suite, (leaf_data(i) for i in range(301)))
        root1, root2 = tree.root(size1), tree.root(size2)
        proof = tree.consistency_proof(size1, size2)
        assert verify_consistency(suite, size1, size2, root1, root2, proof)

        byte = data.draw(st.integers(0, 31), label="byte")
        if proof:
            which = data.draw(st.integers(0, len(proof) - 1), label="element")
            assert not verify_consistency(suite, size1, size2, root1, root2, flip(proof, which, byte))
            assert not verify_consistency(suite, size1, size2, root1, root2, proof[:-1])
        assert not verify_consistency(suite, size1, size2, root1, root2, [*proof, root2])
        assert not verify_consistency(suite, size1, size2, flip([root1], 0, byte)[0], root2, proof)
        if size1:  # the empty tree is a prefix of every tree, whatever its root
            assert not verify_consistency(suite, size1, size2, root1, flip([root2], 0, byte)[0], proof)
        if proof:
            # (An empty proof is right for other sizes too: 0 → anything, n → n.)
            other1 = data.draw(st.integers(0, size2).filter(lambda n: n != size1), label="other size1")
            assert not verify_consistency(suite, other1, size2, tree.root(other1), root2, proof)
            other2 = data.draw(st.integers(size1, 301).filter(lambda n: n != size2), label="other size2")
            assert not verify_consistency(suite, size1, other2, root1, tree.root(other2), proof)

    def test_a_rewritten_history_fails(self) -> None:
        honest = MemoryTree("standard", (leaf_data(i) for i in range(20)))
        rewritten = MemoryTree("standard", (leaf_data(i) for i in range(20)))
        rewritten.leaf_hashes[4] = merkle.leaf_hash("standard", b"forged")
        # The rewritten tree's own proofs are internally consistent, but not with the honest past.
        proof = rewritten.consistency_proof(10, 20)
        assert verify_consistency("standard", 10, 20, rewritten.root(10), rewritten.root(20), proof)
        assert not verify_consistency("standard", 10, 20, honest.root(10), rewritten.root(20), proof)

    def test_edge_cases(self) -> None:
        tree = MemoryTree("standard", RFC_LEAVES)
        empty, root = tree.root(0), tree.root()
        assert verify_consistency("standard", 0, 8, empty, root, [])
        assert not verify_consistency("standard", 0, 8, root, root, [])
        assert not verify_consistency("standard", 0, 8, empty, root, [root])
        assert verify_consistency("standard", 8, 8, root, root, [])
        assert not verify_consistency("standard", 8, 8, root, tree.root(7), [])
        assert not verify_consistency("standard", 8, 8, root, root, [root])
        assert not verify_consistency("standard", 7, 8, tree.root(7), root, [])
        assert not verify_consistency("standard", 8, 7, root, tree.root(7), tree.consistency_proof(7, 8))
        assert not verify_consistency("standard", -1, 8, empty, root, [])


class TestNodeKeys:
    @given(size=st.integers(1, 1 << 40), data=st.data())
    def test_proofs_read_at_most_log_squared_nodes(self, size: int, data: st.DataObject) -> None:
        depth = size.bit_length()
        index = data.draw(st.integers(0, size - 1))
        size1 = data.draw(st.integers(0, size))
        # Measured: never more than 2·depth; the bound asserted is the brief's O(log² n).
        assert len(inclusion_node_keys(index, size)) <= 2 * depth
        assert len(consistency_node_keys(size1, size)) <= 2 * depth
        assert len(inclusion_node_keys(index, size)) <= depth * depth


# ---------------------------------------------------------------- the stored log


@pytest.fixture
def statements(platform: Platform) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the platform's engine sends, with its parameters, while the test runs."""
    seen: list[tuple[str, Any]] = []

    def count(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((sql, parameters))

    event.listen(platform.db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(platform.db.engine, "before_cursor_execute", count)


def build(platform: Platform, log: MerkleLog, count: int, salt: int = 0) -> MemoryTree:
    reference = MemoryTree(log.suite)
    with platform.session_scope() as db:
        for i in range(count):
            index, hashed = log.append(db, leaf_data(i, salt))
            assert index == reference.append(leaf_data(i, salt))
            assert hashed == reference.leaf_hashes[index]
    return reference


class TestMerkleLog:
    def test_rfc_vectors_stored(self, platform: Platform) -> None:
        log = MerkleLog("rfc", "standard")
        with platform.session_scope() as db:
            assert log.size(db) == 0
            assert log.root(db).hex() == RFC_ROOTS[0]
            for data in RFC_LEAVES:
                log.append(db, data)
        with platform.session_scope(read_only=True) as db:
            assert log.size(db) == 8
            assert [log.root(db, n).hex() for n in range(9)] == RFC_ROOTS
            for (index, size), path in RFC_INCLUSION.items():
                assert _hex(log.inclusion_proof(db, index, size)) == path
            for (size1, size2), proof in RFC_CONSISTENCY.items():
                assert _hex(log.consistency_proof(db, size1, size2)) == proof

    @pytest.mark.parametrize("suite", SUITES)
    def test_proofs_at_every_size_equal_the_reference(self, platform: Platform, suite: str) -> None:
        log = MerkleLog(f"all-{suite}", suite)
        reference = build(platform, log, 40)
        with platform.session_scope(read_only=True) as db:
            for size in range(41):
                assert log.root(db, size) == reference.root(size)
                for index in range(size):
                    assert log.inclusion_proof(db, index, size) == reference.inclusion_proof(index, size)
                for size1 in range(size + 1):
                    assert log.consistency_proof(db, size1, size) == reference.consistency_proof(size1, size)

    @pytest.mark.parametrize("suite", SUITES)
    def test_random_proofs_equal_the_reference_and_verify(self, platform: Platform, suite: str) -> None:
        log = MerkleLog(f"big-{suite}", suite)
        reference = build(platform, log, 300)

        @settings(max_examples=60, deadline=None)
        @given(data=st.data())
        def check(data: st.DataObject) -> None:
            size = data.draw(st.integers(1, 300), label="size")
            index = data.draw(st.integers(0, size - 1), label="index")
            size1 = data.draw(st.integers(0, size), label="size1")
            with platform.session_scope(read_only=True) as db:
                root, root1 = log.root(db, size), log.root(db, size1)
                inclusion = log.inclusion_proof(db, index, size)
                consistency = log.consistency_proof(db, size1, size)
                leaf = db.execute(
                    select(merkle.MerkleLeaf.leaf_hash).filter_by(tree=log.tree, leaf_index=index)
                )
                stored_leaf = leaf.scalar_one()
            assert root == reference.root(size)
            assert root1 == reference.root(size1)
            assert inclusion == reference.inclusion_proof(index, size)
            assert consistency == reference.consistency_proof(size1, size)
            assert verify_inclusion(suite, stored_leaf, index, size, inclusion, root)
            assert verify_consistency(suite, size1, size, root1, root, consistency)
            if inclusion:
                tampered = flip(inclusion, data.draw(st.integers(0, len(inclusion) - 1)), index)
                assert not verify_inclusion(suite, stored_leaf, index, size, tampered, root)
            if consistency:
                tampered = flip(consistency, data.draw(st.integers(0, len(consistency) - 1)), size1)
                assert not verify_consistency(suite, size1, size, root1, root, tampered)

        check()

    @DB_SETTINGS
    @given(count=st.integers(0, 40), salt=st.integers(0, 10**9))
    def test_fresh_trees_grow_like_the_reference(self, platform: Platform, count: int, salt: int) -> None:
        # Each example is a new tree in the same tables: trees must not see each other's rows.
        log = MerkleLog(f"fresh-{salt}-{count}", "standard")
        reference = MemoryTree("standard")
        with platform.session_scope() as db:
            if log.size(db):
                return  # hypothesis repeated an example: this tree is already built
            for i in range(count):
                log.append(db, leaf_data(i, salt))
                reference.append(leaf_data(i, salt))
                assert log.root(db) == reference.root()
        with platform.session_scope(read_only=True) as db:
            assert log.size(db) == count
            assert log.root(db) == reference.root()
            if count:
                assert log.inclusion_proof(db, count - 1) == reference.inclusion_proof(count - 1)
                assert log.consistency_proof(db, 1) == reference.consistency_proof(1)

    def test_extend_equals_appends(self, platform: Platform) -> None:
        one, many = MerkleLog("one-by-one", "sm"), MerkleLog("in-bulk", "sm")
        with platform.session_scope() as db:
            for i in range(37):
                one.append(db, leaf_data(i))
            added = many.extend(db, [leaf_data(i) for i in range(20)])
            added += many.extend(db, [leaf_data(i) for i in range(20, 37)])
            assert many.extend(db, []) == []
        with platform.session_scope(read_only=True) as db:
            assert [index for index, _ in added] == list(range(37))
            assert many.root(db) == one.root(db)
            assert many.inclusion_proof(db, 5, 30) == one.inclusion_proof(db, 5, 30)

    def test_leaf_lookup(self, platform: Platform) -> None:
        log = MerkleLog("lookup", "standard")
        with platform.session_scope() as db:
            log.append(db, b"first")
            _index, hashed = log.append(db, b"second")
            log.append(db, b"second")  # the same data again: the first occurrence is found
            log.append(db, b"hash only", keep_data=False)
        with platform.session_scope(read_only=True) as db:
            assert log.leaf_index(db, hashed) == 1
            assert log.leaf_index(db, merkle.leaf_hash("standard", b"absent")) is None
            assert MerkleLog("other", "standard").leaf_index(db, hashed) is None
            record = log.leaf(db, 1)
            assert record is not None
            assert (record.data, record.leaf_hash) == (b"second", hashed)
            stored = log.leaf(db, 3)
            assert stored is not None
            assert stored.data is None
            assert log.leaf(db, 4) is None

    def test_rolled_back_appends_leave_nothing(self, platform: Platform) -> None:
        log = MerkleLog("rollback", "standard")
        build(platform, log, 3)

        def failing_transaction() -> None:
            with platform.session_scope() as db:
                log.append(db, b"never")
                raise RuntimeError("the caller's transaction fails")

        with pytest.raises(RuntimeError):
            failing_transaction()
        with platform.session_scope(read_only=True) as db:
            assert log.size(db) == 3
            assert log.root(db) == MemoryTree("standard", (leaf_data(i) for i in range(3))).root()

    def test_out_of_range_is_refused_clearly(self, platform: Platform) -> None:
        log = MerkleLog("ranges", "standard")
        build(platform, log, 5)
        with platform.session_scope(read_only=True) as db:
            for call in (
                lambda: log.root(db, 6),
                lambda: log.root(db, -1),
                lambda: log.inclusion_proof(db, 5, 5),
                lambda: log.inclusion_proof(db, 0, 6),
                lambda: log.inclusion_proof(db, 0, 0),
                lambda: log.consistency_proof(db, 3, 6),
                lambda: log.consistency_proof(db, 4, 3),
            ):
                with pytest.raises(InvalidInput) as raised:
                    call()
                assert "超出范围" in raised.value.message

    def test_a_tree_keeps_its_suite(self, platform: Platform) -> None:
        build(platform, MerkleLog("suited", "standard"), 2)
        with platform.session_scope() as db, pytest.raises(ConfigurationError):
            MerkleLog("suited", "sm").append(db, b"x")
        with platform.session_scope(read_only=True) as db, pytest.raises(ConfigurationError):
            MerkleLog("suited", "sm").root(db)

    def test_bad_tree_names_are_refused(self) -> None:
        for name in ("", "has space", "line\nbreak", "x" * 61, "-leading"):
            with pytest.raises(ConfigurationError):
                MerkleLog(name, "standard")

    def test_a_missing_node_is_reported(self, platform: Platform) -> None:
        log = MerkleLog("damaged", "standard")
        build(platform, log, 8)
        postgres = platform.db.engine.dialect.name == "postgresql"
        with platform.db.engine.begin() as conn:
            if postgres:
                conn.execute(text("ALTER TABLE merkle_node DISABLE TRIGGER USER"))
            conn.execute(
                text("DELETE FROM merkle_node WHERE tree = 'damaged' AND level = 1 AND node_index = 1")
            )
            if postgres:
                conn.execute(text("ALTER TABLE merkle_node ENABLE TRIGGER USER"))
        with platform.session_scope(read_only=True) as db, pytest.raises(MerkleStoreDamaged):
            log.inclusion_proof(db, 0, 8)

    def test_leaves_and_nodes_are_append_only_on_postgresql(self, platform: Platform) -> None:
        if platform.db.engine.dialect.name != "postgresql":
            pytest.skip("the append-only triggers are PostgreSQL's")
        build(platform, MerkleLog("frozen", "standard"), 2)
        for sql in (
            "UPDATE merkle_leaf SET data = NULL",
            "DELETE FROM merkle_leaf",
            "UPDATE merkle_node SET hash = hash",
            "DELETE FROM merkle_node",
        ):
            with pytest.raises(DBAPIError, match="append-only"), platform.db.engine.begin() as conn:
                conn.execute(text(sql))

    def test_concurrent_appenders_never_fork_the_tree(self, platform: Platform) -> None:
        log = MerkleLog("concurrent", "standard")
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(10):
                    with platform.session_scope() as db:
                        log.append(db, leaf_data(i, n))
            except BaseException as error:  # reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with platform.session_scope(read_only=True) as db:
            rows = db.execute(
                select(merkle.MerkleLeaf.data)
                .filter_by(tree="concurrent")
                .order_by(merkle.MerkleLeaf.leaf_index)
            ).scalars()
            reference = MemoryTree("standard", (bytes(data) for data in rows))
            assert len(reference) == 40 == log.size(db)
            assert log.root(db) == reference.root()
            assert log.consistency_proof(db, 17) == reference.consistency_proof(17)


class TestCost:
    """Appending and proving stay logarithmic: counted statements and rows, not timings."""

    def test_an_append_issues_a_constant_number_of_statements(
        self, platform: Platform, statements: list[tuple[str, Any]]
    ) -> None:
        log = MerkleLog("cost", "standard")
        per_append: dict[int, int] = {}
        with platform.session_scope() as db:
            log.size(db)  # opens the transaction, so that BEGIN is not counted with the first append
            for n in range(1, 1025):
                statements.clear()
                log.append(db, leaf_data(n))
                per_append[n] = len(statements)
        # The first append creates the head (insert, then select it locked); every later one reads
        # the locked head, inserts the leaf, inserts its nodes in one statement, moves the head.
        assert per_append[1] == 6
        assert set(per_append.values()) - {6} == {4}
        with platform.session_scope(read_only=True) as db:
            rows = dict(
                db.execute(
                    select(MerkleNode.level, func.count()).filter_by(tree="cost").group_by(MerkleNode.level)
                ).all()
            )
        # Every complete subtree once, and nothing else: 1024 + 512 + ... + 1 nodes.
        assert rows == {level: 1024 >> level for level in range(11)}

    def test_appending_the_nth_leaf_writes_log_n_nodes(
        self, platform: Platform, statements: list[tuple[str, Any]]
    ) -> None:
        log = MerkleLog("cost-rows", "standard")
        nodes = select(func.count()).select_from(MerkleNode).filter_by(tree="cost-rows")
        written = {}
        with platform.session_scope() as db:
            for n in range(1, 1025):
                before = db.execute(nodes).scalar_one()
                statements.clear()
                log.append(db, leaf_data(n))
                assert len(statements) <= 6
                written[n] = db.execute(nodes).scalar_one() - before
        # The n-th leaf (index n-1) completes one subtree per trailing 1 bit of n-1, plus its own node.
        assert all(written[n] == 1 + _trailing_ones(n - 1) for n in written)
        assert (written[1023], written[1024], max(written.values())) == (1, 11, 11)

    @pytest.mark.parametrize("size", [300, 1000, 1024, 1025])
    def test_a_proof_reads_o_log_n_rows(
        self, platform: Platform, statements: list[tuple[str, Any]], size: int
    ) -> None:
        log = MerkleLog("cost-proof", "standard")
        with platform.session_scope() as db:
            log.extend(db, [leaf_data(i) for i in range(size)])
        depth = size.bit_length()
        worst = 0
        with platform.session_scope(read_only=True) as db:
            log.size(db)  # opens the transaction, so that BEGIN is not counted
            for index, size1 in [(0, 1), (size // 3, size // 2), (size - 1, size - 1), (size // 2, 7)]:
                for name, args in (
                    ("inclusion_proof", (index, size)),
                    ("consistency_proof", (size1, size)),
                    ("root", (size1,)),
                ):
                    statements.clear()
                    getattr(log, name)(db, *args)
                    node_reads = [params for sql, params in statements if "FROM merkle_node" in sql]
                    # The head, then one query by primary key for the nodes: its keys bound the rows.
                    assert len(statements) <= 2
                    assert len(node_reads) <= 1
                    keys = _row_count(node_reads[0]) // 2 if node_reads else 0
                    worst = max(worst, keys)
                    assert keys <= depth * depth
        assert worst <= 2 * depth


def _trailing_ones(n: int) -> int:
    return (n ^ (n + 1)).bit_length() - 1


def _row_count(params: Any) -> int:
    """How many values a statement binds (dict or tuple parameters, as each driver passes them)."""
    values = params.values() if isinstance(params, dict) else params
    return sum(1 for value in values if isinstance(value, int) and not isinstance(value, bool))


# ---------------------------------------------------------------- checkpoints


@pytest.fixture(params=SUITES)
def keyring(request: pytest.FixtureRequest, tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "keys", request.param)


class TestCheckpoints:
    def test_signed_checkpoints_verify_and_any_change_fails(self, keyring: Keyring) -> None:
        suite = keyring.suite_name
        tree = MemoryTree(suite, (leaf_data(i) for i in range(10)))
        checkpoint = merkle.sign_checkpoint(keyring, "registry", suite, 10, tree.root())
        keys = keyring.public_keys()
        assert merkle.verify_checkpoint(checkpoint, keys)
        assert Checkpoint.from_dict(checkpoint.to_dict()) == checkpoint
        text_ = checkpoint.message().decode()
        assert text_.startswith("yiwang-merkle-checkpoint/registry\n")
        assert tree.root().hex() in text_

        for changed in (
            {"size": 9},
            {"root": tree.root(9)},
            {"at": "2020-01-01T00:00:00.000000Z"},
            {"tree": "another"},
            {"suite": "sm" if suite == "standard" else "standard"},
        ):
            forged = Checkpoint(**{**checkpoint.__dict__, **changed})
            assert not merkle.verify_checkpoint(forged, keys), changed
        other = Keyring.load_or_create(keyring.directory.parent / "other", suite)
        assert not merkle.verify_checkpoint(checkpoint, other.public_keys())

    def test_an_audit_checkpoint_never_passes_as_a_log_checkpoint(self, keyring: Keyring) -> None:
        root = MemoryTree(keyring.suite_name, [b"x"]).root()
        at = "2026-01-01T00:00:00.000000Z"
        audit_signature = keyring.sign(audit.checkpoint_message(1, root.hex(), at))
        posing = Checkpoint("registry", keyring.suite_name, 1, root, at, audit_signature)
        assert not merkle.verify_checkpoint(posing, keyring.public_keys())

    def test_malformed_checkpoints_are_refused(self, keyring: Keyring) -> None:
        checkpoint = merkle.sign_checkpoint(keyring, "registry", keyring.suite_name, 0, b"\x00" * 32)
        good = checkpoint.to_dict()
        for bad in (
            {k: v for k, v in good.items() if k != "root"},
            {**good, "root": "zz"},
            {**good, "size": "3"},
            {**good, "size": -1},
            {**good, "signature": "nope"},
            {**good, "signature": {"suite": "standard"}},
        ):
            with pytest.raises(InvalidInput):
                Checkpoint.from_dict(bad)

    def test_the_log_signs_and_keeps_checkpoints(self, platform: Platform) -> None:
        log = MerkleLog("signed", platform.keyring.suite_name)
        build(platform, log, 5)
        with platform.session_scope() as db:
            assert log.latest_checkpoint(db) is None
            first = log.sign_checkpoint(db, platform.keyring)
            again = log.sign_checkpoint(db, platform.keyring)
        assert again == first  # the tree did not grow: the same checkpoint
        with platform.session_scope() as db:
            log.append(db, b"sixth")
            second = log.sign_checkpoint(db, platform.keyring)
        with platform.session_scope(read_only=True) as db:
            latest = log.latest_checkpoint(db)
            assert latest == second
            assert (first.size, second.size) == (5, 6)
            assert second.root == log.root(db)
            assert first.root == log.root(db, 5)
            proof = log.consistency_proof(db, first.size, second.size)
        keys = platform.keyring.public_keys()
        assert merkle.verify_checkpoint(first, keys)
        assert merkle.verify_checkpoint(second, keys)
        assert verify_consistency(log.suite, first.size, second.size, first.root, second.root, proof)

    def test_signature_is_a_real_signature(self, keyring: Keyring) -> None:
        checkpoint = merkle.sign_checkpoint(keyring, "registry", keyring.suite_name, 1, b"\x11" * 32)
        assert isinstance(checkpoint.signature, Signature)
        assert keyring.verify(checkpoint.message(), checkpoint.signature)
