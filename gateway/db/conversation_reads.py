"""Read state per member of staff: how far each one has read each conversation.

`Conversation.unread_count` says what is new since *anyone* opened the conversation (it drives
the one-alert-per-burst rule); what a member of staff sees as unread is theirs alone: the inbound
messages of the conversation received after their `read_through` (none read yet: all of them).
Rules and queries: `gateway.conversations.reads`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, utcnow


class ConversationRead(Base):
    """One (staff member, conversation): everything received at or before `read_through` is read."""

    __tablename__ = "conversation_reads"

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    read_through: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
