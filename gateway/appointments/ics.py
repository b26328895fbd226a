"""The `.ics` invitation an email about an appointment carries (RFC 5545 / iTIP RFC 5546).

One calendar event per appointment for its whole life: the UID is the appointment's id, so a
calendar that took the first invitation updates that event when a later one comes. SEQUENCE is
`Appointment.sequence` (raised by every move and the cancellation), so the newest wins whatever
order the emails arrive in (so the write path that cancels raises `sequence` too, as a move does:
the CANCEL then supersedes the last REQUEST). A reminder or a new time is METHOD:REQUEST; a
cancellation is METHOD:CANCEL with STATUS:CANCELLED. Built when the email is sent, from the appointment as it is then.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parseaddr

from icalendar import Calendar, Event, vCalAddress, vText

from gateway.appointments import AppointmentStatus, LocationKind
from gateway.appointments.words import KIND_WORDS
from gateway.db import Appointment

UID_DOMAIN = "appointments.gateway"
PRODID = "-//Justice Messaging Gateway//Appointments//EN"


def event_uid(appointment: Appointment) -> str:
    return f"{appointment.id}@{UID_DOMAIN}"


def invitation(appointment: Appointment, *, organizer: str | None, attendee: str, now: datetime) -> str:
    """The calendar text for `appointment` as it is now: REQUEST, or CANCEL once it is cancelled."""
    cancelled = appointment.status == AppointmentStatus.CANCELLED
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = Event()
    event.add("uid", event_uid(appointment))
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", appointment.starts_at)
    event.add("dtend", appointment.starts_at + timedelta(minutes=appointment.duration_minutes or 60))
    what = KIND_WORDS.get(appointment.kind, "Appointment")
    event.add("summary", f"{what}: {appointment.title}" if appointment.title else what)
    if appointment.location_kind == LocationKind.PHONE:
        event.add("location", "By phone")
    elif appointment.location:
        event.add("location", appointment.location)
        if appointment.location_kind == LocationKind.VIDEO:
            event.add("url", appointment.location)
    if appointment.bring:
        event.add("description", f"Bring: {appointment.bring}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if organizer:
        event.add("organizer", vCalAddress(f"mailto:{_address(organizer)}"))
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["ROLE"] = vText("REQ-PARTICIPANT")
    event.add("attendee", guest)
    calendar.add_component(event)
    text: bytes = calendar.to_ical()
    return text.decode()


def method_of(text: str) -> str:
    """The METHOD of a calendar text (the MIME part's `method` parameter must say the same)."""
    for line in text.splitlines():
        if line.upper().startswith("METHOD:"):
            return line.split(":", 1)[1].strip()
    return "PUBLISH"


def _address(sender: str) -> str:
    """The bare address of a From such as "Victim Services <notify@vs.example>"."""
    return parseaddr(sender)[1] or sender
