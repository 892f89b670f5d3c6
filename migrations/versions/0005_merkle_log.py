"""kit: the RFC 9162 Merkle transparency log (leaves, complete subtrees, heads, signed checkpoints)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("merkle_leaf", "merkle_node", "merkle_checkpoint")


def upgrade() -> None:
    op.create_table(
        "merkle_checkpoint",
        sa.Column("tree", sa.String(length=60), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("suite", sa.String(length=20), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("at", sa.String(length=27), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree", "size", name=op.f("pk_merkle_checkpoint")),
    )
    op.create_table(
        "merkle_head",
        sa.Column("tree", sa.String(length=60), nullable=False),
        sa.Column("suite", sa.String(length=20), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tree", name=op.f("pk_merkle_head")),
    )
    op.create_table(
        "merkle_leaf",
        sa.Column("tree", sa.String(length=60), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tree", "leaf_index", name=op.f("pk_merkle_leaf")),
    )
    with op.batch_alter_table("merkle_leaf", schema=None) as batch_op:
        batch_op.create_index("ix_merkle_leaf_tree_hash", ["tree", "leaf_hash"], unique=False)

    op.create_table(
        "merkle_node",
        sa.Column("tree", sa.String(length=60), nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tree", "level", "node_index", name=op.f("pk_merkle_node")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Leaves, subtree hashes and checkpoints are written once and never changed; the head
        # moves with every append, so it is the one table left writable (the function is 0001's).
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION yiwang_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.drop_table("merkle_node")
    with op.batch_alter_table("merkle_leaf", schema=None) as batch_op:
        batch_op.drop_index("ix_merkle_leaf_tree_hash")

    op.drop_table("merkle_leaf")
    op.drop_table("merkle_head")
    op.drop_table("merkle_checkpoint")
