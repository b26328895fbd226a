"""Database: engine and sessions, the tables, and migrations."""

from gateway.db.appointments import Appointment, ReminderPlan
from gateway.db.base import Base
from gateway.db.broadcasts import Broadcast
from gateway.db.cases import Case, CaseParticipant, ContactPoint, OptOut, Person, RecordEntry
from gateway.db.conversation_reads import ConversationRead
from gateway.db.conversations import AutoReply, ConsentEvent, Conversation, OpenQuestion
from gateway.db.letters import LetterBatch, LetterDocument, LetterLogo
from gateway.db.messages import InboundMessage, Notification, NotificationEvent
from gateway.db.models import ApiKey, AuditEntry, Service, StaffUser, Template, TemplateVersion
from gateway.db.staff_sessions import StaffSession
from gateway.db.victims import (
    OffenderEvent,
    VictimCall,
    VictimFollowedCase,
    VictimNotice,
    VictimNoticeStep,
    VictimRegistration,
    VictimServiceLink,
    VictimStatement,
)

__all__ = [
    "ApiKey",
    "Appointment",
    "AuditEntry",
    "AutoReply",
    "Base",
    "Broadcast",
    "Case",
    "CaseParticipant",
    "ConsentEvent",
    "ContactPoint",
    "Conversation",
    "ConversationRead",
    "InboundMessage",
    "LetterBatch",
    "LetterDocument",
    "LetterLogo",
    "Notification",
    "NotificationEvent",
    "OffenderEvent",
    "OpenQuestion",
    "OptOut",
    "Person",
    "RecordEntry",
    "ReminderPlan",
    "Service",
    "StaffSession",
    "StaffUser",
    "Template",
    "TemplateVersion",
    "VictimCall",
    "VictimFollowedCase",
    "VictimNotice",
    "VictimNoticeStep",
    "VictimRegistration",
    "VictimServiceLink",
    "VictimStatement",
]
