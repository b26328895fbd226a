"""letters: Certified Mail tracking numbers, the returned-letter callback, letterhead logos

`notifications.tracking_number` holds the number the mail house reports for a Certified Mail letter
(`gateway letters tracking FILE`); `services.returned_letter_callback_url` and its sealed bearer token
are where Notify's separate `returned_letter` callback goes; `letter_logos` holds letterhead logos by
SHA-256 and `services.letter_logo_sha256` names a service's current one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

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
        batch_op.add_column(sa.Column("letter_logo_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "letter_logos",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_letter_logos_service_id_services")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_letter_logos")),
    )


def downgrade() -> None:
    op.drop_table("letter_logos")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("letter_logo_sha256")
        batch_op.drop_column("returned_letter_callback_token_enc")
        batch_op.drop_column("returned_letter_callback_url")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("tracking_number")
