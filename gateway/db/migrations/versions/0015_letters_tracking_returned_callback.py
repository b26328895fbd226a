"""letters: Certified Mail tracking numbers, and the service's returned-letter callback

`notifications.tracking_number` holds the number the mail house reports for a Certified Mail letter
(`gateway letters tracking FILE`); `services.returned_letter_callback_url` and its sealed bearer token
are where Notify's separate `returned_letter` callback goes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tracking_number", sa.String(length=64), nullable=True))
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("returned_letter_callback_url", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("returned_letter_callback_token_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("returned_letter_callback_token_enc")
        batch_op.drop_column("returned_letter_callback_url")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("tracking_number")
