"""The OpenAPI 3.1 document for the HTTP API, served at `/v2/openapi.json`.

Request schemas come from the same pydantic models that validate requests, so the document
cannot drift from what the API accepts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import __version__, keys
from gateway.api.appointments import APPOINTMENT_SCHEMA, OUTCOME_SCHEMA
from gateway.api.bulk import BULK_SCHEMA
from gateway.api.directory import CASE_SCHEMA, PERSON_SCHEMA
from gateway.api.errors import json_response
from gateway.api.response_schemas import NOTIFICATION, NOTIFICATION_LIST, TEMPLATE, TEMPLATE_LIST
from gateway.api.schemas import EmailRequest, LetterRequest, PrecompiledLetterRequest, PreviewRequest, SmsRequest
from gateway.victims.schema import EVENT_SCHEMA, VICTIM_SCHEMA

_ERROR = {
    "type": "object",
    "properties": {
        "status_code": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_OBJECT = {"type": "object", "additionalProperties": True}
_SEND_ERRORS = (400, 401, 403, 409, 413, 429)
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
    "description": "Printable ASCII. A repeated request with the same key (per service and key type) returns "
    "the first notification and sends nothing more; the same key with a different request is a 409.",
}


def _response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or _OBJECT}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _response("Error", {"$ref": "#/components/schemas/Error"}) for code in codes}


def _op(
    summary: str,
    ok: str = "200",
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[int, ...] = (400, 401, 403),
    answer: str | None = None,
) -> dict[str, Any]:
    """An operation; `answer` names the component schema of its success answer (else any object)."""
    schema = {"$ref": f"#/components/schemas/{answer}"} if answer else None
    op: dict[str, Any] = {"summary": summary, "responses": {ok: _response("OK", schema), **_errors(*errors)}}
    if body:
        ref = {"$ref": f"#/components/schemas/{body}"}
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, kind: str = "string", fmt: str | None = "uuid") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if fmt:
        schema["format"] = fmt
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, description: str, many: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}} if many else {"type": "string"}
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def build_document(base_url: str) -> dict[str, Any]:
    nid, tid = _path_param("notification_id"), _path_param("template_id")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Criminal-justice messaging gateway",
            "version": __version__,
            "description": "GOV.UK Notify v2 compatible API. Authenticate with a JWT "
            "(HS256, iss = service id, iat within 30 s) signed with your key's secret.",
        },
        "servers": [{"url": base_url}],
        "components": {
            "securitySchemes": {"notifyJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": _ERROR,
                "Notification": NOTIFICATION,
                "NotificationList": NOTIFICATION_LIST,
                "Template": TEMPLATE,
                "TemplateList": TEMPLATE_LIST,
                "SmsRequest": SmsRequest.model_json_schema(),
                "EmailRequest": EmailRequest.model_json_schema(),
                "PreviewRequest": PreviewRequest.model_json_schema(),
                "PersonRequest": PERSON_SCHEMA,
                "CaseRequest": CASE_SCHEMA,
                "AppointmentRequest": APPOINTMENT_SCHEMA,
                "OutcomeRequest": OUTCOME_SCHEMA,
                "BulkRequest": BULK_SCHEMA,
                "VictimRequest": VICTIM_SCHEMA,
                "OffenderEventRequest": EVENT_SCHEMA,
                "LetterRequest": {
                    "oneOf": [LetterRequest.model_json_schema(), PrecompiledLetterRequest.model_json_schema()]
                },
            },
        },
        "security": [{"notifyJwt": []}],
        "paths": {
            "/v2/notifications/sms": {
                "post": _op("Send a text message", "201", "SmsRequest", [_IDEMPOTENCY], errors=_SEND_ERRORS)
            },
            "/v2/notifications/email": {
                "post": _op("Send an email", "201", "EmailRequest", [_IDEMPOTENCY], errors=_SEND_ERRORS)
            },
            "/v2/notifications/letter": {
                "post": _op(
                    "Send a letter (a template and an address, or a precompiled PDF)",
                    "201",
                    "LetterRequest",
                    [_IDEMPOTENCY],
                    errors=_SEND_ERRORS,
                )
            },
            "/v2/notifications/bulk": {
                "post": _op(
                    "Send to many recipients at once (GC Notify's bulk API): rows or csv, up to 50,000",
                    "201",
                    "BulkRequest",
                    errors=(400, 401, 403, 413),
                ),
                "get": _op(
                    "List bulk jobs (newest first, 250 a page)",
                    params=[_query("older_than", "A bulk job id: return those created before it")],
                ),
            },
            "/v2/notifications/bulk/{job_id}": {
                "get": _op(
                    "Get a bulk job, with its notifications' count per status (`statistics`)",
                    params=[_path_param("job_id")],
                    errors=(400, 401, 403, 404),
                )
            },
            "/v2/notifications/{notification_id}/pdf": {
                "get": _op(
                    "Get a letter's PDF (PDFNotReadyError until it is made)", params=[nid], errors=(400, 401, 403, 404)
                )
            },
            "/v2/notifications/{notification_id}": {
                "get": _op("Get a notification", params=[nid], errors=(400, 401, 403, 404), answer="Notification")
            },
            "/v2/notifications": {
                "get": _op(
                    "List notifications (newest first, 250 a page)",
                    params=[
                        _query("status", "Filter by status; `failed` means every failure status", many=True),
                        _query("template_type", "sms, email or letter", many=True),
                        _query("reference", "Your reference"),
                        _query("older_than", "A notification id: return those created before it"),
                    ],
                    answer="NotificationList",
                )
            },
            "/v2/received-text-messages": {
                "get": _op(
                    "List received text messages (newest first, 250 a page)",
                    params=[_query("older_than", "A received text id: return those received before it")],
                )
            },
            "/v2/cases/{reference}/record": {
                "get": _op(
                    "Get a case's record: every entry, oldest first, and whether its hash chain verifies",
                    params=[_path_param("reference", fmt=None)],
                    errors=(401, 403, 404),
                )
            },
            **_appointment_paths(),
            **_directory_paths(),
            **_victim_paths(),
            "/v2/templates": {
                "get": _op("List templates", params=[_query("type", "sms, email or letter")], answer="TemplateList")
            },
            "/v2/template/{template_id}": {
                "get": _op("Get a template", params=[tid], errors=(400, 401, 403, 404), answer="Template")
            },
            "/v2/template/{template_id}/version/{version}": {
                "get": _op(
                    "Get a template version",
                    params=[tid, _path_param("version", "integer", None)],
                    errors=(400, 401, 403, 404),
                    answer="Template",
                )
            },
            "/v2/template/{template_id}/preview": {
                "post": _op("Preview a template", body="PreviewRequest", params=[tid], errors=(400, 401, 403, 404))
            },
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": _response("OK")}}},
            "/readyz": {
                "get": {
                    "summary": "Readiness (database reachable)",
                    "security": [],
                    "responses": {"200": _response("Ready"), "503": _response("Not ready")},
                }
            },
            "/v2/openapi.json": {
                "get": {"summary": "This document", "security": [], "responses": {"200": _response("OK")}}
            },
        },
    }


def _directory_paths() -> dict[str, Any]:
    person, ref = _path_param("external_id", fmt=None), _path_param("reference", fmt=None)
    upsert = "201 when created; 200 otherwise, with `changed` naming the fields (empty: nothing was written)"
    return {
        "/v2/people/{external_id}": {
            "put": {
                **_op(f"Create or update a person by your id. {upsert}", "200", "PersonRequest", [person]),
                "responses": {
                    "200": _response("Updated or unchanged"),
                    "201": _response("Created"),
                    **_errors(400, 401, 403),
                },
            },
            "get": _op("Get a person", params=[person], errors=(401, 403, 404)),
            "delete": _op("Retire a person: history kept, sends refused", params=[person], errors=(401, 403, 404)),
        },
        "/v2/cases/{reference}": {
            "put": {
                **_op(f"Create or update a case by its reference. {upsert}", "200", "CaseRequest", [ref]),
                "responses": {
                    "200": _response("Updated or unchanged"),
                    "201": _response("Created"),
                    **_errors(400, 401, 403),
                },
            },
            "get": _op("Get a case", params=[ref], errors=(401, 403, 404)),
        },
        "/v2/cases": {
            "get": _op(
                "List cases (newest first, 250 a page)",
                params=[
                    _query("officer", "Email of the assigned member of staff"),
                    _query("status", "open or closed"),
                    _query("tag", "Cases carrying this tag"),
                    _query("program", "Cases in this program"),
                    _query("older_than", "A case id: return those created before it"),
                ],
            )
        },
    }


def _appointment_paths() -> dict[str, Any]:
    ext = _path_param("external_id", fmt=None)
    upsert = "201 when created; 200 otherwise, with `changed` naming the fields (empty: nothing was written)"
    return {
        "/v2/appointments/{external_id}": {
            "put": {
                **_op(f"Create or update an appointment by your id. {upsert}", "200", "AppointmentRequest", [ext]),
                "responses": {
                    "200": _response("Updated or unchanged"),
                    "201": _response("Created"),
                    **_errors(400, 401, 403),
                },
            },
            "get": _op("Get an appointment", params=[ext], errors=(401, 403, 404)),
            "delete": _op(
                "Cancel an appointment (a second cancel changes nothing)", params=[ext], errors=(400, 401, 403, 404)
            ),
        },
        "/v2/appointments/{external_id}/outcome": {
            "post": _op(
                "Record attended or missed, once the appointment has started (refused when cancelled)",
                body="OutcomeRequest",
                params=[ext],
                errors=(400, 401, 403, 404),
            )
        },
        "/v2/appointments": {
            "get": _op(
                "List appointments (newest first by when they were added, 250 a page)",
                params=[
                    _query("case_reference", "Appointments of this case"),
                    _query("officer", "Email of the member of staff"),
                    _query("from", "Starting on or after: a date (service's clock) or a time with an offset"),
                    _query("to", "Starting before the end of this date, or before this time"),
                    _query("status", "scheduled, confirmed, reschedule_requested, attended, missed or cancelled"),
                    _query("older_than", "An appointment id: return those added before it"),
                ],
            )
        },
    }


def _victim_paths() -> dict[str, Any]:
    victim, ref = _path_param("external_id", fmt=None), _path_param("reference", fmt=None)
    hidden = " Victim-services keys only: any other key gets 404."
    return {
        "/v2/victims/{external_id}": {
            "put": {
                **_op(
                    "Register a victim for notification (upsert by your id)." + hidden, "200", "VictimRequest", [victim]
                ),
                "responses": {
                    "200": _response("Updated"),
                    "201": _response("Registered"),
                    **_errors(400, 401, 403, 404),
                },
            },
            "get": _op("Get a victim's registration." + hidden, params=[victim], errors=(401, 403, 404)),
            "delete": _op(
                "Unregister a victim; they are sent a confirmation." + hidden, params=[victim], errors=(401, 403, 404)
            ),
        },
        "/v2/cases/{reference}/events": {
            "post": _op(
                "Post an offender event on one of your cases; the answer is only the event id, whoever follows it",
                "201",
                "OffenderEventRequest",
                [ref],
                errors=(400, 401, 403, 404, 409),
            )
        },
    }


async def document(request: web.Request) -> web.Response:
    return json_response(build_document(request.app[keys.SETTINGS].base_url))
