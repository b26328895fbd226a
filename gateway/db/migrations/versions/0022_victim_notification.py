"""Victim notification: service links, registrations, followed cases, offender events, notices and
their steps, voice calls, victim impact statements

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 00:02:38.351693
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offender_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("source_event_id", sa.String(length=128), nullable=False),
        sa.Column("case_reference", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("received_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fanned_out_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_offender_events_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offender_events")),
        sa.UniqueConstraint(
            "service_id", "source_event_id", name=op.f("uq_offender_events_service_id_source_event_id")
        ),
    )
    with op.batch_alter_table("offender_events", schema=None) as batch_op:
        batch_op.create_index("ix_offender_events_fanned_out", ["fanned_out_at", "received_at"], unique=False)

    op.create_table(
        "victim_service_links",
        sa.Column("vsu_service_id", sa.Uuid(), nullable=False),
        sa.Column("offender_service_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["offender_service_id"], ["services.id"], name=op.f("fk_victim_service_links_offender_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["vsu_service_id"], ["services.id"], name=op.f("fk_victim_service_links_vsu_service_id_services")
        ),
        sa.PrimaryKeyConstraint("vsu_service_id", "offender_service_id", name=op.f("pk_victim_service_links")),
    )
    op.create_table(
        "victim_registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("consent", sa.JSON(), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("substitute_address_enc", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unregistered_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_victim_registrations_person_id_people")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_victim_registrations_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_registrations")),
        sa.UniqueConstraint("person_id", name=op.f("uq_victim_registrations_person_id")),
    )
    with op.batch_alter_table("victim_registrations", schema=None) as batch_op:
        batch_op.create_index("ix_victim_registrations_service_status", ["service_id", "status"], unique=False)

    op.create_table(
        "victim_followed_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("offender_service_id", sa.Uuid(), nullable=False),
        sa.Column("case_reference", sa.String(length=128), nullable=False),
        sa.Column("offender_name", sa.String(length=128), nullable=False),
        sa.Column("vsu_case_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["offender_service_id"], ["services.id"], name=op.f("fk_victim_followed_cases_offender_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["victim_registrations.id"],
            name=op.f("fk_victim_followed_cases_registration_id_victim_registrations"),
        ),
        sa.ForeignKeyConstraint(["vsu_case_id"], ["cases.id"], name=op.f("fk_victim_followed_cases_vsu_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_followed_cases")),
        sa.UniqueConstraint(
            "registration_id",
            "offender_service_id",
            "case_reference",
            name=op.f("uq_victim_followed_cases_registration_id_offender_service_id_case_reference"),
        ),
    )
    with op.batch_alter_table("victim_followed_cases", schema=None) as batch_op:
        batch_op.create_index("ix_victim_followed_cases_case", ["offender_service_id", "case_reference"], unique=False)
        batch_op.create_index(batch_op.f("ix_victim_followed_cases_registration_id"), ["registration_id"], unique=False)

    op.create_table(
        "victim_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("personalisation", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_via", sa.String(length=32), nullable=True),
        sa.Column("ack_by", sa.String(length=255), nullable=True),
        sa.Column("letter_step_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_victim_notices_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["offender_events.id"], name=op.f("fk_victim_notices_event_id_offender_events")
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_victim_notices_person_id_people")),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["victim_registrations.id"],
            name=op.f("fk_victim_notices_registration_id_victim_registrations"),
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_victim_notices_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_notices")),
        sa.UniqueConstraint("event_id", "registration_id", name=op.f("uq_victim_notices_event_id_registration_id")),
    )
    with op.batch_alter_table("victim_notices", schema=None) as batch_op:
        batch_op.create_index("ix_victim_notices_due", ["state", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_victim_notices_registration_id"), ["registration_id"], unique=False)
        batch_op.create_index("ix_victim_notices_service_state", ["service_id", "state"], unique=False)

    op.create_table(
        "victim_statements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("deadline", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("next_reminder_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_victim_statements_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["offender_events.id"], name=op.f("fk_victim_statements_event_id_offender_events")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["victim_registrations.id"],
            name=op.f("fk_victim_statements_registration_id_victim_registrations"),
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_victim_statements_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_statements")),
        sa.UniqueConstraint("registration_id", "event_id", name=op.f("uq_victim_statements_registration_id_event_id")),
    )
    with op.batch_alter_table("victim_statements", schema=None) as batch_op:
        batch_op.create_index("ix_victim_statements_due", ["received_at", "next_reminder_at"], unique=False)

    op.create_table(
        "victim_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("notice_id", sa.Uuid(), nullable=False),
        sa.Column("to_enc", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=True),
        sa.Column("last_status", sa.String(length=32), nullable=True),
        sa.Column("answered_by", sa.String(length=32), nullable=True),
        sa.Column("next_attempt_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["victim_notices.id"], name=op.f("fk_victim_calls_notice_id_victim_notices")
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_victim_calls_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_calls")),
    )
    with op.batch_alter_table("victim_calls", schema=None) as batch_op:
        batch_op.create_index("ix_victim_calls_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_victim_calls_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_victim_calls_provider_ref"), ["provider_ref"], unique=False)

    op.create_table(
        "victim_notice_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=24), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("call_id", sa.Uuid(), nullable=True),
        sa.Column("question_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["victim_notices.id"], name=op.f("fk_victim_notice_steps_notice_id_victim_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_notice_steps")),
        sa.UniqueConstraint("notice_id", "step", name=op.f("uq_victim_notice_steps_notice_id_step")),
    )
    with op.batch_alter_table("victim_notice_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_victim_notice_steps_notification_id"), ["notification_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_victim_notice_steps_question_id"), ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("victim_notice_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_victim_notice_steps_question_id"))
        batch_op.drop_index(batch_op.f("ix_victim_notice_steps_notification_id"))

    op.drop_table("victim_notice_steps")
    with op.batch_alter_table("victim_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_victim_calls_provider_ref"))
        batch_op.drop_index(batch_op.f("ix_victim_calls_notice_id"))
        batch_op.drop_index("ix_victim_calls_due")

    op.drop_table("victim_calls")
    with op.batch_alter_table("victim_statements", schema=None) as batch_op:
        batch_op.drop_index("ix_victim_statements_due")

    op.drop_table("victim_statements")
    with op.batch_alter_table("victim_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_victim_notices_service_state")
        batch_op.drop_index(batch_op.f("ix_victim_notices_registration_id"))
        batch_op.drop_index("ix_victim_notices_due")

    op.drop_table("victim_notices")
    with op.batch_alter_table("victim_followed_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_victim_followed_cases_registration_id"))
        batch_op.drop_index("ix_victim_followed_cases_case")

    op.drop_table("victim_followed_cases")
    with op.batch_alter_table("victim_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_victim_registrations_service_status")

    op.drop_table("victim_registrations")
    op.drop_table("victim_service_links")
    with op.batch_alter_table("offender_events", schema=None) as batch_op:
        batch_op.drop_index("ix_offender_events_fanned_out")

    op.drop_table("offender_events")
