"""The import's columns, and how a row becomes the fields the API takes (and an error its column).

People: `external_id`, `first_name`, `last_name` (required), `preferred_name`, `language`,
`timezone`, `phone_numbers` and `email_addresses` (several separated by `;`), `address_line_1` to
`address_line_6`, `preferred_channels` (`sms;email`), and per channel (`sms`, `email`, `letter`)
`<channel>_consent` (yes/no), `<channel>_consent_source`, `<channel>_consent_at`.

Cases: `reference`, `client` (the person's external id), `assigned_to` (staff email), `status`
(open/closed), `program`, `office`, `tags` (`;`-separated), `supervision_level`.

Appointments: `external_id`, `case_reference`, `kind`, `starts_at` (required), `person`, `title`,
`time_zone`, `duration_minutes`, `location_kind`, `location`, `staff`, `bring`, `notes`, `status`.
"""

from __future__ import annotations

from typing import Any

from gateway.appointments.fields import FIELDS as APPOINTMENT_FIELDS
from gateway.directory.person_fields import CHANNELS

LIST_SEPARATOR = ";"
ADDRESS_LINES = tuple(f"address_line_{i}" for i in range(1, 7))
CONSENT_COLUMNS = tuple(f"{ch}_consent{part}" for ch in CHANNELS for part in ("", "_source", "_at"))
PEOPLE_COLUMNS = (
    "external_id",
    "first_name",
    "last_name",
    "preferred_name",
    "language",
    "timezone",
    "phone_numbers",
    "email_addresses",
    *ADDRESS_LINES,
    "preferred_channels",
    *CONSENT_COLUMNS,
)
PEOPLE_REQUIRED = ("external_id", "first_name", "last_name")
CASE_COLUMNS = ("reference", "client", "assigned_to", "status", "program", "office", "tags", "supervision_level")
CASE_REQUIRED = ("reference",)
# Appointments: `gateway.appointments.importer` (the API's field names, plus `external_id`).
APPOINTMENT_COLUMNS = ("external_id", *APPOINTMENT_FIELDS)
APPOINTMENT_REQUIRED = ("external_id", "case_reference", "kind", "starts_at")
COLUMNS = {
    "people": (PEOPLE_COLUMNS, PEOPLE_REQUIRED),
    "cases": (CASE_COLUMNS, CASE_REQUIRED),
    "appointments": (APPOINTMENT_COLUMNS, APPOINTMENT_REQUIRED),
}
_YES, _NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]


def person_fields(row: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's fields for a people row, and errors the row's own shape already shows (by column)."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {
        name: row.get(name, "") for name in ("first_name", "last_name", "preferred_name", "language", "timezone")
    }
    fields["phone_numbers"] = _list(row.get("phone_numbers", ""))
    fields["email_addresses"] = _list(row.get("email_addresses", ""))
    fields["postal_address"] = [row.get(c, "") for c in ADDRESS_LINES if row.get(c, "").strip()]
    fields["preferred_channels"] = _list(row.get("preferred_channels", ""))
    consent: dict[str, Any] = {}
    for channel in CHANNELS:
        given = row.get(f"{channel}_consent", "").strip().lower()
        if not given:
            continue
        if given not in _YES | _NO:
            errors[f"{channel}_consent"] = f"{given!r} is not yes or no"
            continue
        consent[channel] = {
            "granted": given in _YES,
            "source": row.get(f"{channel}_consent_source", "").strip() or None,
            "at": row.get(f"{channel}_consent_at", "").strip() or None,
        }
    fields["consent"] = consent
    return fields, errors


def case_fields(row: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: row.get(name, "") for name in CASE_COLUMNS if name not in ("reference", "tags")}
    fields["tags"] = _list(row.get("tags", ""))
    return fields


def column_of(field: str) -> str:
    """The column a field error belongs to: `phone_numbers[1]` -> phone_numbers, `consent.sms.at` ->
    sms_consent_at, `postal_address` -> address_line_1."""
    if field.startswith("consent."):
        parts = field.split(".")
        if len(parts) == 3:
            return f"{parts[1]}_consent" + ("" if parts[2] == "granted" else f"_{parts[2]}")
        return f"{parts[1]}_consent" if len(parts) > 1 else "sms_consent"
    if field == "postal_address":
        return ADDRESS_LINES[0]
    return field.split("[", 1)[0]
