"""search index: FTS5 (SQLite) or tsvector + GIN (PostgreSQL) over pre-analysed Chinese text

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

from yiwang.kit.search import create_search_index, drop_search_index

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_search_index(op.get_bind())


def downgrade() -> None:
    drop_search_index(op.get_bind())
