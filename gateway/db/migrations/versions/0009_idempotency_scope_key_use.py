"""Idempotency keys scoped to (service, key type) with the request's hash; API key creator and last use

`notifications.request_hash` holds a keyed hash of the request an Idempotency-Key was first used
with, so a reuse with a different request is a 409 instead of silently answering the first. The
unique index gains `key_type`: a key first used by a test key no longer answers a live request.
`api_keys.created_by` and `api_keys.last_used_at` feed `gateway key list` and the admin keys page.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

HAS_KEY = sa.text("idempotency_key IS NOT NULL")
WHERE = {"postgresql_where": HAS_KEY, "sqlite_where": HAS_KEY}


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.drop_index("ix_notifications_idempotency")
        batch_op.create_index(
            "ix_notifications_idempotency", ["service_id", "key_type", "idempotency_key"], unique=True, **WHERE
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("created_by")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_idempotency")
        # Fails if a key was reused across key types since the upgrade (the old index cannot hold both).
        batch_op.create_index("ix_notifications_idempotency", ["service_id", "idempotency_key"], unique=True, **WHERE)
        batch_op.drop_column("request_hash")
