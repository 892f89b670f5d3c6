"""registry: attachments of applications (证明材料); the files live under the data directory

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:14:27.969548
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=128), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["registry_application.id"],
            name=op.f("fk_registry_attachment_application_id_registry_application"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_attachment")),
    )
    with op.batch_alter_table("registry_attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_attachment_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registry_attachment_hash"), ["hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_attachment_hash"))
        batch_op.drop_index(batch_op.f("ix_registry_attachment_application_id"))
    op.drop_table("registry_attachment")
