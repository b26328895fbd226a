"""The gateway's vocabulary: channels, statuses, roles and kinds, as StrEnums used everywhere."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """A way of reaching a person. Notify calls this the template type."""

    SMS = "sms"
    EMAIL = "email"
    LETTER = "letter"


class NotificationStatus(StrEnum):
    """Notify's notification statuses. Final ones never change again."""

    CREATED = "created"
    SENDING = "sending"
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    PERMANENT_FAILURE = "permanent-failure"
    TEMPORARY_FAILURE = "temporary-failure"
    TECHNICAL_FAILURE = "technical-failure"
    # letters
    ACCEPTED = "accepted"
    RECEIVED = "received"
    CANCELLED = "cancelled"
    VALIDATION_FAILED = "validation-failed"
    RETURNED_LETTER = "returned-letter"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_reported(self) -> bool:
        """A status the service's delivery-receipt callback reports: every final one, and a letter's
        `received` (handed to the mail house; only `returned-letter` may follow it)."""
        return self in FINAL_STATUSES or self is NotificationStatus.RECEIVED


FINAL_STATUSES = frozenset(
    {
        NotificationStatus.DELIVERED,
        NotificationStatus.PERMANENT_FAILURE,
        NotificationStatus.TEMPORARY_FAILURE,
        NotificationStatus.TECHNICAL_FAILURE,
        NotificationStatus.CANCELLED,
        NotificationStatus.VALIDATION_FAILED,
        NotificationStatus.RETURNED_LETTER,
    }
)


class KeyType(StrEnum):
    """API key types, as in Notify: live keys send, team keys only to the team, test keys simulate."""

    LIVE = "live"
    TEAM = "team"
    TEST = "test"


class Role(StrEnum):
    """Staff roles inside one service."""

    OFFICER = "officer"
    VICTIM_ADVOCATE = "victim_advocate"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class ServiceKind(StrEnum):
    """What a service is; victim data lives only in victim-services services."""

    SUPERVISION = "supervision"
    REENTRY = "reentry"
    VICTIM_SERVICES = "victim_services"


class ParticipantRole(StrEnum):
    """How a person takes part in a case."""

    CLIENT = "client"
    VICTIM = "victim"
    OTHER = "other"


class ContactKind(StrEnum):
    """A contact point's kind."""

    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RecordKind(StrEnum):
    """Kinds of case record entry."""

    OUTBOUND = "outbound"
    STATUS = "status"
    INBOUND = "inbound"
    HANDLER = "handler"
    NOTE = "note"
    EXPORT = "export"
    ASSIGNMENT = "assignment"
    # a change to the person's or the case's details, synced or made by staff (gateway.directory)
    DETAILS = "details"
    MERGE = "merge"  # two people found to be one (gateway.directory.merge)
    CONSENT = "consent"  # an opt-out or opt-in that was not an inbound message (one-click unsubscribe)
    CONTACT = "contact"  # a sender linked to a person by staff
    APPOINTMENT = "appointment"  # an appointment added, changed, moved, cancelled or its outcome (gateway.appointments)
