"""registry: change registrations (变更登记) and licences (授权许可登记)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("applicant", sa.String(length=64), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["registry_certificate.id"],
            name=op.f("fk_registry_change_certificate_id_registry_certificate"),
        ),
        sa.ForeignKeyConstraint(["holder_id"], ["org.id"], name=op.f("fk_registry_change_holder_id_org")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_change")),
    )
    with op.batch_alter_table("registry_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_change_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registry_change_status"), ["status"], unique=False)

    op.create_table(
        "registry_licence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("licensor_id", sa.Integer(), nullable=False),
        sa.Column("licensee_id", sa.Integer(), nullable=False),
        sa.Column("right", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("end_reason", sa.Text(), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["registry_certificate.id"],
            name=op.f("fk_registry_licence_certificate_id_registry_certificate"),
        ),
        sa.ForeignKeyConstraint(
            ["licensee_id"], ["org.id"], name=op.f("fk_registry_licence_licensee_id_org")
        ),
        sa.ForeignKeyConstraint(
            ["licensor_id"], ["org.id"], name=op.f("fk_registry_licence_licensor_id_org")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_licence")),
    )
    with op.batch_alter_table("registry_licence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_licence_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registry_licence_licensee_id"), ["licensee_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_licence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_licence_licensee_id"))
        batch_op.drop_index(batch_op.f("ix_registry_licence_certificate_id"))
    op.drop_table("registry_licence")
    with op.batch_alter_table("registry_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_change_status"))
        batch_op.drop_index(batch_op.f("ix_registry_change_certificate_id"))
    op.drop_table("registry_change")
