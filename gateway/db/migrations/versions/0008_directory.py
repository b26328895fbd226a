"""people and cases as the agency's case-management system knows them (gateway.directory)

People gain the agency's external id, name parts, consent per channel, retirement and merge;
their time zone becomes optional (unknown = fall back to the number's, then the service's zone).
Contact points can be retired instead of deleted. Cases gain program, office, tags, supervision
level, updated_at and closed_at.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = gateway.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("first_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("last_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("preferred_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("consent", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", TS, nullable=True))
        batch_op.add_column(sa.Column("retired_at", TS, nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.alter_column("timezone", existing_type=sa.String(length=64), nullable=True)
    # "UTC" was the old default for "not known": unknown is now None, so quiet hours can fall back.
    op.execute("UPDATE people SET consent = '{}', updated_at = created_at")
    op.execute("UPDATE people SET timezone = NULL WHERE timezone = 'UTC'")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column("consent", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("updated_at", existing_type=TS, nullable=False)
        batch_op.create_unique_constraint("uq_people_service_id_external_id", ["service_id", "external_id"])

    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", TS, nullable=True))
        batch_op.add_column(sa.Column("retired_reason", sa.String(length=64), nullable=True))

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("program", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("office", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("supervision_level", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("updated_at", TS, nullable=True))
        batch_op.add_column(sa.Column("closed_at", TS, nullable=True))
    op.execute("UPDATE cases SET tags = '[]', updated_at = created_at")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("tags", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("updated_at", existing_type=TS, nullable=False)
        batch_op.create_index("ix_cases_staff_status", ["service_id", "assigned_staff_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_staff_status")
        for column in ("closed_at", "updated_at", "supervision_level", "tags", "office", "program"):
            batch_op.drop_column(column)
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.drop_column("retired_reason")
        batch_op.drop_column("retired_at")
    op.execute("UPDATE people SET timezone = 'UTC' WHERE timezone IS NULL")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint("uq_people_service_id_external_id", type_="unique")
        batch_op.alter_column("timezone", existing_type=sa.String(length=64), nullable=False)
        for column in (
            "merged_into_id",
            "retired_at",
            "updated_at",
            "consent",
            "preferred_name",
            "last_name",
            "first_name",
            "external_id",
        ):
            batch_op.drop_column(column)
