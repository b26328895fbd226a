"""The `staff_sessions` table: server-side sessions of the staff web interface.

The browser holds a random 32-byte session id; the table holds only its SHA-256, so a copy of
the database does not let anyone sign in. A session starts at the password step (`stage`
"totp" or "enrol") and is replaced by a new one, with a new id, once the second factor is
checked ("full").
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, utcnow


class StaffSession(Base):
    """One signed-in (or half signed-in) browser."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    # a TOTP secret being enrolled, sealed; moved to the user once a code from it is checked
    pending_totp_secret_enc: Mapped[str | None] = mapped_column(Text)
