"""inbound: conversations, consent history, open questions, auto-replies; inbound message links

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("sender_index", sa.String(length=64), nullable=True),
        sa.Column("assigned_staff_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("unread_count", sa.Integer(), nullable=False),
        sa.Column("last_message_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_inbound_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_staff_id"], ["staff_users.id"], name=op.f("fk_conversations_assigned_staff_id_staff_users")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_conversations_case_id_cases")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_conversations_person_id_people")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_conversations_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("service_id", "key", name=op.f("uq_conversations_service_id_key")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_inbox", ["service_id", "state", "last_message_at"], unique=False)
        batch_op.create_index("ix_conversations_staff", ["assigned_staff_id", "last_message_at"], unique=False)

    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address_index", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("keyword", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("inbound_id", sa.Uuid(), nullable=True),
        sa.Column("at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_consent_events_person_id_people")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_consent_events_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
        sa.UniqueConstraint("inbound_id", name=op.f("uq_consent_events_inbound_id")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_events_address", ["service_id", "channel", "address_index", "at"], unique=False
        )

    op.create_table(
        "open_questions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=64), nullable=True),
        sa.Column("answer_value", sa.String(length=64), nullable=True),
        sa.Column("inbound_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_open_questions_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notifications.id"], name=op.f("fk_open_questions_notification_id_notifications")
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_open_questions_person_id_people")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_open_questions_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_questions")),
    )
    with op.batch_alter_table("open_questions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_open_questions_person", ["service_id", "person_id", "state", "created_at"], unique=False
        )

    op.create_table(
        "auto_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("address_index", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("inbound_id", sa.Uuid(), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_auto_replies_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_replies")),
        sa.UniqueConstraint(
            "service_id", "kind", "address_index", "day", name=op.f("uq_auto_replies_service_id_kind_address_index_day")
        ),
    )

    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to_notification_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("conversation_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("processed_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_inbound_messages_conversation_id_conversations"),
            "conversations",
            ["conversation_id"],
            ["id"],
        )
        batch_op.create_index("ix_inbound_state_received", ["state", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_state_received")
        batch_op.drop_constraint(batch_op.f("fk_inbound_messages_conversation_id_conversations"), type_="foreignkey")
        batch_op.drop_column("processed_at")
        batch_op.drop_column("conversation_id")
        batch_op.drop_column("reply_to_notification_id")
    op.drop_table("auto_replies")
    with op.batch_alter_table("open_questions", schema=None) as batch_op:
        batch_op.drop_index("ix_open_questions_person")
    op.drop_table("open_questions")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_events_address")
    op.drop_table("consent_events")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_staff")
        batch_op.drop_index("ix_conversations_inbox")
    op.drop_table("conversations")
