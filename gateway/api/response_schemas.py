"""JSON Schemas of what the API answers with (notifications and templates), for the OpenAPI document.

They describe `gateway.api.present`, Notify's v2 shapes plus our extensions, each marked as one:
a letter's `tracking_number` and a template's `personalisation`. `tests/api/test_openapi.py` checks
real answers against them and refuses undocumented fields, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "description": "UTC, Notify's format: 2024-05-01T10:00:00.000000Z"}

TEMPLATE_REF: dict[str, Any] = {
    "type": "object",
    "required": ["id", "version", "uri"],
    "properties": {"id": {"type": "string", "format": "uuid"}, "version": {"type": "integer"}, "uri": _STR},
}

NOTIFICATION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,  # a field added to the answer must be documented here
    "required": ["id", "type", "status", "template", "body", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "reference": _STR_OR_NULL,
        "email_address": _STR_OR_NULL,
        "phone_number": _STR_OR_NULL,
        **{f"line_{i}": _STR_OR_NULL for i in range(1, 8)},
        "postcode": _STR_OR_NULL,
        "postage": _STR_OR_NULL,
        "type": {"enum": ["sms", "email", "letter"]},
        "status": _STR,
        "template": TEMPLATE_REF,
        "body": _STR,
        "subject": _STR_OR_NULL,
        "created_at": _TIME,
        "created_by_name": _STR_OR_NULL,
        "sent_at": _TIME,
        "completed_at": _TIME,
        "scheduled_for": _TIME,
        "one_click_unsubscribe_url": _STR_OR_NULL,
        "is_cost_data_ready": {"type": "boolean"},
        "cost_in_pounds": {"type": ["number", "null"]},
        "cost_details": {"type": "object"},
        "tracking_number": {
            "type": ["string", "null"],
            "description": "Extension, letters only: the Certified Mail tracking number the mail house "
            "reported (`gateway letters tracking`), null until then.",
        },
    },
}

_FIELD = {
    "type": "object",
    "properties": {
        "label": _STR,
        "hint": _STR_OR_NULL,
        "example": _STR_OR_NULL,
        "required": {"type": "boolean"},
    },
}

TEMPLATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name", "type", "version", "body", "uri"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": _STR,
        "type": {"enum": ["sms", "email", "letter"]},
        "created_at": _TIME,
        "updated_at": _TIME,
        "created_by": _STR,
        "version": {"type": "integer"},
        "body": _STR,
        "subject": _STR_OR_NULL,
        "letter_contact_block": _STR_OR_NULL,
        "postage": _STR_OR_NULL,
        "language": _STR,
        "uri": _STR,
        "personalisation": {
            "type": "object",
            "additionalProperties": _FIELD,
            "description": "Extension: one entry per placeholder, what to send in plain words (label, hint, "
            "example, required), from the template's front matter. The official clients pass it through.",
        },
    },
}

NOTIFICATION_LIST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "notifications": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}},
        "links": {"type": "object", "properties": {"current": _STR, "next": _STR}},
    },
}

TEMPLATE_LIST: dict[str, Any] = {
    "type": "object",
    "properties": {"templates": {"type": "array", "items": {"$ref": "#/components/schemas/Template"}}},
}
