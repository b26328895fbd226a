"""Request bodies for the v2 API, and their errors in Notify's words.

Notify validates with JSON Schema and rejects unknown fields; these models do the same
(`extra="forbid"`, strict types) and `parse_body` turns each problem into one
`ValidationError` entry a caller can act on.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.errors import ApiError, BadRequest, ValidationErrors
from gateway.text_input import has_nul

Model = TypeVar("Model", bound=BaseModel)

Personalisation = dict[str, str | int | float | bool | list[str | int | float] | None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("reference", "phone_number", "email_address", "one_click_unsubscribe_url", check_fields=False)
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        # Stored and searched as text; PostgreSQL cannot hold a NUL character (gateway.text_input).
        if value is not None and has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("personalisation", check_fields=False)
    @classmethod
    def _no_nul_values(cls, value: Personalisation | None) -> Personalisation | None:
        for name, item in (value or {}).items():
            texts = item if isinstance(item, list) else [item]
            if has_nul(name) or any(isinstance(t, str) and has_nul(t) for t in texts):
                raise ValueError(f"{name.replace(chr(0), '')!r} must not contain NUL characters")
        return value


class SmsRequest(_Strict):
    phone_number: str = Field(min_length=1, max_length=64)
    template_id: uuid.UUID = Field(strict=False)
    personalisation: Personalisation | None = None
    reference: str | None = Field(default=None, max_length=1000)
    sms_sender_id: uuid.UUID | None = Field(default=None, strict=False)


class EmailRequest(_Strict):
    email_address: str = Field(min_length=1, max_length=320)
    template_id: uuid.UUID = Field(strict=False)
    personalisation: Personalisation | None = None
    reference: str | None = Field(default=None, max_length=1000)
    email_reply_to_id: uuid.UUID | None = Field(default=None, strict=False)
    one_click_unsubscribe_url: str | None = Field(default=None, max_length=2048)


class LetterRequest(_Strict):
    template_id: uuid.UUID = Field(strict=False)
    personalisation: Personalisation
    reference: str | None = Field(default=None, max_length=1000)
    postage: str | None = None  # an extension: Notify's templated letters take the template's


class PrecompiledLetterRequest(_Strict):
    reference: str = Field(min_length=1, max_length=1000)
    content: str = Field(min_length=1)  # the PDF, base64
    postage: str | None = None


class PreviewRequest(_Strict):
    personalisation: Personalisation | None = None


def _message(error: dict[str, Any]) -> str:
    loc = error["loc"]
    if len(loc) > 2 and loc[0] == "personalisation":
        # One line per bad value, not one per member of the union it failed to match.
        return f"personalisation {loc[1]} must be text, a number, true or false, or a list of text and numbers"
    field = ".".join(str(part) for part in loc) or "request"
    kind = error["type"]
    if kind == "missing":
        return f"{field} is a required property"
    if kind == "extra_forbidden":
        return f"Additional properties are not allowed ({field} was unexpected)"
    if kind.startswith("uuid"):
        return f"{field} is not a valid UUID"
    if kind == "string_too_long":
        return f"{field} is too long: {error['msg']}"
    if kind == "string_too_short":
        return f"{field} is too short: {error['msg']}"
    if kind == "value_error":
        return f"{field} {str(error['msg']).removeprefix('Value error, ')}"
    value = error.get("input")
    shown = repr(value)[:60]
    if kind == "string_type":
        return f"{field} {shown} is not of type string"
    if kind in ("dict_type", "model_type"):
        return f"{field} {shown} is not of type object"
    return f"{field} {error['msg']}"


def parse_body(model: type[Model], raw: bytes) -> Model:
    """Parse a JSON body into `model`, or raise Notify's 400 with one entry per problem."""
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise BadRequest("Invalid JSON supplied in POST data", error="BadRequestError") from None
    if not isinstance(data, dict):
        raise ApiError(400, "ValidationError", "request body is not of type object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        messages: list[str] = []
        for error in exc.errors():
            message = _message(dict(error))
            if message not in messages:
                messages.append(message)
        raise ValidationErrors(messages) from None
