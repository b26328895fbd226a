"""Appointments and their reminders (issue 11): what an appointment is, its API, import and pages,
its reminder plans, the scheduler that sends them and the replies that answer them.

The names below are the contract between those parts; the table is `gateway.db.Appointment`.
"""

from __future__ import annotations

from enum import StrEnum


class AppointmentKind(StrEnum):
    OFFICE_VISIT = "office_visit"
    DRUG_TEST = "drug_test"
    GROUP_SESSION = "group_session"  # program / CBT group
    COURT_HEARING = "court_hearing"
    JOB_INTERVIEW = "job_interview"
    WORKSHOP = "workshop"
    OTHER = "other"


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    RESCHEDULE_REQUESTED = "reschedule_requested"
    ATTENDED = "attended"
    MISSED = "missed"
    CANCELLED = "cancelled"


# statuses after which nothing more is sent about the appointment
FINISHED = frozenset({AppointmentStatus.ATTENDED, AppointmentStatus.MISSED, AppointmentStatus.CANCELLED})


class LocationKind(StrEnum):
    ADDRESS = "address"
    PHONE = "phone"
    VIDEO = "video"


class Change(StrEnum):
    """What a write did to an appointment, as `gateway.appointments.plan.appointments_changed` is told."""

    CREATED = "created"
    UPDATED = "updated"  # details changed, same time (place, what to bring, staff...)
    MOVED = "moved"  # new start time
    CANCELLED = "cancelled"
    OUTCOME = "outcome"  # attended or missed recorded
