"""notifications: partial indexes that cover only the rows that still need work

Every status change of a notification rewrote an entry in each of its seven indexes. The sweeper's
indexes now hold only `created` and `sending` rows, and the provider-reference and idempotency
indexes only rows that have one; `(status, updated_at)` had no reader and is gone. A message on its
way out now touches about half as many index entries (bench/delivery.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CREATED = sa.text("status = 'created'")
SENDING = sa.text("status = 'sending'")
HAS_REF = sa.text("provider_ref IS NOT NULL")
HAS_KEY = sa.text("idempotency_key IS NOT NULL")


def _where(clause: sa.TextClause) -> dict[str, sa.TextClause]:
    return {"postgresql_where": clause, "sqlite_where": clause}


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        for name in (
            "ix_notifications_status_updated",
            "ix_notifications_status_next_attempt",
            "ix_notifications_status_claimed",
            "ix_notifications_provider_ref",
            "ix_notifications_idempotency",
        ):
            batch_op.drop_index(name)
        batch_op.create_index("ix_notifications_created", ["created_at"], **_where(CREATED))
        batch_op.create_index("ix_notifications_sending", ["claimed_at"], **_where(SENDING))
        batch_op.create_index("ix_notifications_provider_ref", ["provider_ref"], **_where(HAS_REF))
        batch_op.create_index(
            "ix_notifications_idempotency", ["service_id", "idempotency_key"], unique=True, **_where(HAS_KEY)
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        for name in (
            "ix_notifications_created",
            "ix_notifications_sending",
            "ix_notifications_provider_ref",
            "ix_notifications_idempotency",
        ):
            batch_op.drop_index(name)
        batch_op.create_index("ix_notifications_idempotency", ["service_id", "idempotency_key"], unique=True)
        batch_op.create_index("ix_notifications_provider_ref", ["provider_ref"])
        batch_op.create_index("ix_notifications_status_claimed", ["status", "claimed_at"])
        batch_op.create_index("ix_notifications_status_next_attempt", ["status", "next_attempt_at"])
        batch_op.create_index("ix_notifications_status_updated", ["status", "updated_at"])
