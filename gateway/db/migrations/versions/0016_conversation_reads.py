"""conversation_reads: read state per member of staff; inbound messages indexed by conversation and time

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_reads",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("read_through", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_reads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_conversation_reads_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "conversation_id", name=op.f("pk_conversation_reads")),
    )
    op.create_index(
        "ix_inbound_conversation_received", "inbound_messages", ["conversation_id", "received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_conversation_received", table_name="inbound_messages")
    op.drop_table("conversation_reads")
