"""The OpenAPI schemas of the victim API's two bodies (`gateway.api.openapi` publishes them)."""

from __future__ import annotations

from typing import Any

from gateway.api.directory import PERSON_SCHEMA
from gateway.victims.kinds import ALL, GROUPS, KINDS

_LINES: dict[str, Any] = {"type": ["array", "null"], "items": {"type": "string", "maxLength": 255}}
_PERSON = {k: v for k, v in PERSON_SCHEMA["properties"].items() if k != "preferred_channels"}

VICTIM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["first_name", "last_name", "channels", "cases"],
    "properties": {
        **_PERSON,
        "channels": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": ["sms", "email", "voice", "letter"]},
            "description": "In order of preference; unacknowledged notices escalate along it",
        },
        "events": {"type": ["array", "null"], "items": {"enum": [ALL, *GROUPS]}, "description": "Default: all"},
        "address_confidential": {"type": "boolean", "description": "Only the substitute address is ever printed"},
        "substitute_address": {**_LINES, "description": "Address lines; required when address_confidential"},
        "cases": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["service_id", "reference", "offender_name"],
                "properties": {
                    "service_id": {"type": "string", "format": "uuid", "description": "A service this unit follows"},
                    "reference": {"type": "string", "maxLength": 100},
                    "offender_name": {"type": "string", "maxLength": 128},
                },
            },
        },
        "advocate": {"type": ["string", "null"], "description": "Email of the unit's advocate for these cases"},
    },
}

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["event_id", "kind"],
    "properties": {
        "event_id": {"type": "string", "maxLength": 128, "description": "Your id: the same id again is the same event"},
        "kind": {"enum": list(KINDS)},
        "details": {
            "type": "object",
            "description": "Fields by kind: "
            + "; ".join(
                f"{k.name}: {', '.join(f.name + ('*' if f.required else '') for f in k.fields)}" for k in KINDS.values()
            )
            + " (* required; dates YYYY-MM-DD; a town, never an address)",
        },
    },
}
