"""Validating a person as a caller sends it (API body, import row, staff form): every field, all errors at once.

Field names are the API's (`first_name`, `phone_numbers`, `consent.sms.source` ...); the import maps
its columns onto them. Contact values come back normalised (`gateway.directory.contacts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.directory import fields as f
from gateway.directory.contacts import normalise_contact
from gateway.domain import Channel, ContactKind
from gateway.recipients import DEFAULT_REGION, InvalidRecipient

CONSENT_SOURCES = ("intake-form", "verbal", "written", "keyword")
CHANNELS = tuple(c.value for c in Channel)
CONTACT_FIELDS = {
    ContactKind.PHONE: "phone_numbers",
    ContactKind.EMAIL: "email_addresses",
    ContactKind.ADDRESS: "postal_address",
}
CHANNEL_KIND = {
    Channel.SMS.value: ContactKind.PHONE,
    Channel.EMAIL.value: ContactKind.EMAIL,
    Channel.LETTER.value: ContactKind.ADDRESS,
}
MAX_EXTERNAL_ID = 128


@dataclass(frozen=True, slots=True)
class PersonInput:
    """A validated person as a caller wants it stored; contact values normalised."""

    first_name: str
    last_name: str
    preferred_name: str | None
    language: str
    timezone: str | None
    contacts: tuple[tuple[ContactKind, str], ...]
    preferred_channels: tuple[str, ...]
    consent: dict[str, dict[str, Any]]

    @property
    def display_name(self) -> str:
        return self.preferred_name or f"{self.first_name} {self.last_name}"


def check_external_id(value: str, name: str = "external_id") -> str:
    if not value or len(value) > MAX_EXTERNAL_ID or "\x00" in value or value != value.strip():
        raise f.FieldErrors({name: f"must be 1 to {MAX_EXTERNAL_ID} characters, without spaces at either end"})
    return value


def validate_person(raw: Mapping[str, Any], region: str = DEFAULT_REGION) -> PersonInput:
    """Check every field of `raw` (the API's field names); FieldErrors naming each bad one."""
    errors = f.Collector()
    first = f.text(raw, "first_name", errors, required=True)
    last = f.text(raw, "last_name", errors, required=True)
    preferred = f.text(raw, "preferred_name", errors)
    language, zone = f.language(raw, errors), f.timezone(raw, errors)
    contacts: list[tuple[ContactKind, str]] = []
    for kind in (ContactKind.PHONE, ContactKind.EMAIL):
        name = CONTACT_FIELDS[kind]
        for i, value in enumerate(f.text_list(raw, name, errors)):
            try:
                normalised = normalise_contact(kind, value, region)
            except InvalidRecipient as exc:
                errors.add(f"{name}[{i}]" if len(raw.get(name) or []) > 1 else name, str(exc))
                continue
            if (kind, normalised) not in contacts:
                contacts.append((kind, normalised))
    lines = f.text_list(raw, "postal_address", errors)
    if lines:
        try:
            contacts.append((ContactKind.ADDRESS, normalise_contact(ContactKind.ADDRESS, lines)))
        except InvalidRecipient as exc:
            errors.add("postal_address", str(exc))
    channels = f.text_list(raw, "preferred_channels", errors)
    kinds = {kind for kind, _ in contacts}
    for channel in channels:
        if channel not in CHANNELS:
            errors.add("preferred_channels", f"{channel!r} is not one of {', '.join(CHANNELS)}")
        elif CHANNEL_KIND[channel] not in kinds:
            needed = CONTACT_FIELDS[CHANNEL_KIND[channel]]
            if not any(name.startswith(needed) for name in errors.errors):  # already said what is wrong
                errors.add("preferred_channels", f"{channel} is listed but no {needed} given")
    consent = _consent(raw.get("consent"), errors)
    errors.raise_if_any()
    assert first is not None and last is not None
    return PersonInput(first, last, preferred, language, zone, tuple(contacts), tuple(channels), consent)


def _consent(raw: object, errors: f.Collector) -> dict[str, dict[str, Any]]:
    """{"sms": {"granted": true, "source": "intake-form", "at": "2026-01-31T09:30:00Z"}} per channel."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.add("consent", "must be an object with a key per channel (sms, email, letter)")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for channel, given in raw.items():
        name = f"consent.{channel}"
        if channel not in CHANNELS:
            errors.add(name, f"is not a channel: one of {', '.join(CHANNELS)}")
            continue
        if not isinstance(given, dict):
            errors.add(name, "must be an object with granted, source and at")
            continue
        unknown = sorted(set(given) - {"granted", "source", "at"})
        if unknown:
            errors.add(name, f"has unexpected fields: {', '.join(unknown)}")
        granted = given.get("granted")
        if not isinstance(granted, bool):
            errors.add(f"{name}.granted", "must be true or false")
        source = given.get("source")
        if source not in CONSENT_SOURCES:
            errors.add(f"{name}.source", f"{source!r} is not one of {', '.join(CONSENT_SOURCES)}")
        at = f.instant(given.get("at"), f"{name}.at", errors)
        out[channel] = {"granted": granted, "source": source, "at": at}
    return out
