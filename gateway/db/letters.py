"""Tables for letters (gateway.letters): what each letter prints, and the print batches.

A letter is a `Notification` (channel `letter`); these rows only hold what the other channels have
no need of. `LetterDocument` is made when the letter channel accepts a letter: for a templated
letter the sealed `LetterContent` it prints (so its PDF is the same today, in the batch and on
a staff page, whatever later happens to the template or the letterhead), for a precompiled letter
the sealed PDF itself. `batch_id` is set when a print batch is cut: from then on the letter belongs to
that batch and can no longer be cancelled. `LetterLogo` holds the services' letterhead logos by the
SHA-256 of their bytes: a letter's content names the logo it was accepted with, and a service that
changes its logo later adds a row, so older letters still print the logo they were accepted with.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


class LetterBatch(Base):
    """One print batch of one service: its letters, and where its PDF and manifest were written."""

    __tablename__ = "letter_batches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD on the service's clock
    cut_at: Mapped[datetime] = mapped_column(default=utcnow)
    # cut (letters assigned) -> written (files on disk) -> sent (letters `received`)
    state: Mapped[str] = mapped_column(String(16), default="cut")
    letters: Mapped[int] = mapped_column(Integer, default=0)
    sheets: Mapped[int] = mapped_column(Integer, default=0)
    pdf_path: Mapped[str | None] = mapped_column(Text)
    manifest_path: Mapped[str | None] = mapped_column(Text)
    uploaded_at: Mapped[datetime | None] = mapped_column()
    done_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_letter_batches_service_cut", "service_id", "cut_at"),)


class LetterDocument(Base):
    """What one letter prints (sealed), its size, and the batch it went in."""

    __tablename__ = "letter_documents"

    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id"), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(16))  # templated | precompiled
    content_enc: Mapped[str] = mapped_column(Text)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("letter_batches.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_letter_documents_batch", "batch_id"),
        Index("ix_letter_documents_service_created", "service_id", "created_at"),
    )


class LetterLogo(Base):
    """A letterhead logo (PNG or JPEG), kept by the SHA-256 of its bytes and never changed."""

    __tablename__ = "letter_logos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
