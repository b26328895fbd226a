"""Appointments and reminder plans; notifications.appointment_step and the due-time index

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

UTC = gateway.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("starts_at", UTC, nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("location_kind", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("bring", sa.String(length=500), nullable=True),
        sa.Column("notes_enc", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_at", UTC, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("previous_starts_at", UTC, nullable=True),
        sa.Column("moved_at", UTC, nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_appointments_case_id_cases")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_appointments_person_id_people")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_appointments_service_id_services")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"], name=op.f("fk_appointments_staff_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint("service_id", "external_id", name=op.f("uq_appointments_service_id_external_id")),
    )
    op.create_index("ix_appointments_service_starts", "appointments", ["service_id", "starts_at"])
    op.create_index("ix_appointments_staff_starts", "appointments", ["staff_id", "starts_at"])
    op.create_index(op.f("ix_appointments_case_id"), "appointments", ["case_id"])
    op.create_index(op.f("ix_appointments_person_id"), "appointments", ["person_id"])
    op.create_table(
        "reminder_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("template_ids", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by_staff_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_reminder_plans_service_id_services")),
        sa.ForeignKeyConstraint(
            ["updated_by_staff_id"], ["staff_users.id"], name=op.f("fk_reminder_plans_updated_by_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_plans")),
        sa.UniqueConstraint("service_id", "kind", name=op.f("uq_reminder_plans_service_id_kind")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appointment_step", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_notifications_scheduled",
        "notifications",
        ["scheduled_for"],
        postgresql_where=sa.text("status = 'created' AND scheduled_for IS NOT NULL"),
        sqlite_where=sa.text("status = 'created' AND scheduled_for IS NOT NULL"),
    )
    op.create_index(
        "ix_notifications_appointment",
        "notifications",
        ["appointment_id"],
        postgresql_where=sa.text("appointment_id IS NOT NULL"),
        sqlite_where=sa.text("appointment_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_appointment", table_name="notifications")
    op.drop_index("ix_notifications_scheduled", table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("appointment_step")
    op.drop_table("reminder_plans")
    op.drop_index(op.f("ix_appointments_person_id"), table_name="appointments")
    op.drop_index(op.f("ix_appointments_case_id"), table_name="appointments")
    op.drop_index("ix_appointments_staff_starts", table_name="appointments")
    op.drop_index("ix_appointments_service_starts", table_name="appointments")
    op.drop_table("appointments")
