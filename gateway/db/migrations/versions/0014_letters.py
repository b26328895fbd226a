"""letters: letter_documents (what each letter prints, sealed) and letter_batches (print batches)

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-05 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("cut_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("letters", sa.Integer(), nullable=False),
        sa.Column("sheets", sa.Integer(), nullable=False),
        sa.Column("pdf_path", sa.Text(), nullable=True),
        sa.Column("manifest_path", sa.Text(), nullable=True),
        sa.Column("uploaded_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_letter_batches_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_batches")),
    )
    op.create_index("ix_letter_batches_service_cut", "letter_batches", ["service_id", "cut_at"], unique=False)
    op.create_table(
        "letter_documents",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_enc", sa.Text(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", gateway.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["letter_batches.id"], name=op.f("fk_letter_documents_batch_id_letter_batches")
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notifications.id"], name=op.f("fk_letter_documents_notification_id_notifications")
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_letter_documents_service_id_services")),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_letter_documents")),
    )
    op.create_index("ix_letter_documents_batch", "letter_documents", ["batch_id"], unique=False)
    op.create_index(
        "ix_letter_documents_service_created", "letter_documents", ["service_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_letter_documents_service_created", table_name="letter_documents")
    op.drop_index("ix_letter_documents_batch", table_name="letter_documents")
    op.drop_table("letter_documents")
    op.drop_index("ix_letter_batches_service_cut", table_name="letter_batches")
    op.drop_table("letter_batches")
