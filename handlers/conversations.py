"""Filing a message in a conversation, shared by `case_handler` and `unclaimed`.

A conversation is keyed per service by person (`person:<id>`) or, for a sender nobody knows, by
channel and address blind index (`sender:<channel>:<index>`). The unread count is raised in the
database (`unread_count + 1` in one UPDATE ... RETURNING, which also locks the row until the
chain commits), so concurrent messages from one person each add exactly one. The live push to
staff browsers is sent after the commit and carries ids and counts only.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import Uuid, bindparam, func, update

from gateway.db import Conversation
from gateway.db.base import utcnow
from handlers.base import InboundContext


class ConversationState(StrEnum):
    CLAIMED = "claimed"
    UNCLAIMED = "unclaimed"


def person_key(person_id: uuid.UUID) -> str:
    return f"person:{person_id}"


def sender_key(channel: str, sender_index: str) -> str:
    return f"sender:{channel}:{sender_index}"


# Built once: this runs for every message from a known person.
_BUMP = (
    update(Conversation)
    .where(Conversation.service_id == bindparam("b_service"), Conversation.key == bindparam("b_key"))
    .values(
        unread_count=Conversation.unread_count + 1,
        last_message_at=bindparam("b_at"),
        last_inbound_id=bindparam("b_inbound"),
        case_id=func.coalesce(bindparam("b_case", type_=Uuid()), Conversation.case_id),
    )
    .returning(Conversation)
)
_BUMP_AND_ASSIGN = _BUMP.values(assigned_staff_id=bindparam("b_staff"), state=bindparam("b_state"))


async def file_message(
    message: InboundContext,
    *,
    key: str,
    person_id: uuid.UUID | None = None,
    assigned_staff_id: uuid.UUID | None = None,
    reassign: bool = False,
    case_id: uuid.UUID | None = None,
) -> Conversation:
    """Add the message to its conversation (created if new), mark it unread, push it live after commit.

    With `reassign`, `assigned_staff_id` (the case's handler, or None) replaces the conversation's,
    so a reassigned case takes its conversation along; the conversation is claimed exactly when
    someone is assigned.
    """
    session, inbound = message.session, message.inbound
    params = {
        "b_service": message.service.id,
        "b_key": key,
        "b_at": inbound.received_at,
        "b_inbound": inbound.id,
        "b_case": case_id,
    }
    if reassign:
        state = ConversationState.CLAIMED if assigned_staff_id else ConversationState.UNCLAIMED
        params |= {"b_staff": assigned_staff_id, "b_state": state.value}
    # One statement for the usual case: the row is locked, counted up and read back.
    conversation = (await session.execute(_BUMP_AND_ASSIGN if reassign else _BUMP, params)).scalar_one_or_none()
    if conversation is None:  # the first message: a racing insert makes the pipeline run again
        conversation = Conversation(
            service_id=message.service.id,
            key=key,
            person_id=person_id,
            channel=None if person_id else inbound.channel.value,
            sender_index=None if person_id else inbound.sender_index,
            assigned_staff_id=assigned_staff_id,
            case_id=case_id,
            state=(ConversationState.CLAIMED if assigned_staff_id else ConversationState.UNCLAIMED).value,
            unread_count=1,
            last_message_at=inbound.received_at,
            last_inbound_id=inbound.id,
            created_at=utcnow(),
        )
        session.add(conversation)
        await session.flush()
    message.conversation = conversation
    _push_after_commit(message, conversation)
    return conversation


def _push_after_commit(message: InboundContext, conversation: Conversation) -> None:
    live, service_id = message.live, message.service.id
    if live is None:
        return
    event = {
        "type": "inbound_message",
        "conversation_id": str(conversation.id),
        "inbound_id": str(message.inbound.id),
        "channel": message.inbound.channel.value,
        "state": conversation.state,
        "unread_count": conversation.unread_count,
        "assigned_staff_id": str(conversation.assigned_staff_id) if conversation.assigned_staff_id else None,
    }

    async def push() -> None:
        await live.publish(service_id, event)

    message.after_commit(push)
