"""How notifications and templates look on the wire, exactly as Notify's v2 API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.crypto import Vault
from gateway.db import Notification
from gateway.domain import Channel
from gateway.letters.address import PostalAddress
from gateway.letters.statuses import letter_status
from gateway.template_store import TemplateRow


def timestamp(value: datetime | None) -> str | None:
    """Notify's format: `2024-05-01T10:00:00.000000Z`."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def template_ref(base_url: str, template_id: object, version: int) -> dict[str, Any]:
    return {
        "id": str(template_id),
        "version": version,
        "uri": f"{base_url}/v2/template/{template_id}/version/{version}",
    }


def notification(base_url: str, vault: Vault, n: Notification) -> dict[str, Any]:
    recipient = vault.open(n.recipient_enc)
    channel = Channel(n.channel)
    lines: list[str | None] = [None] * 7
    postcode = None
    if channel is Channel.LETTER and recipient:  # a precompiled letter refused has no address
        address = PostalAddress.from_text(recipient)
        lines[: len(address.lines)] = address.lines
        postcode = address.zip_code
    return {
        "id": str(n.id),
        "reference": n.reference,
        "email_address": recipient if channel is Channel.EMAIL else None,
        "phone_number": recipient if channel is Channel.SMS else None,
        **{f"line_{i}": line for i, line in enumerate(lines, start=1)},
        "postcode": postcode,
        "postage": n.postage,
        "type": n.channel,
        "status": letter_status(n.status) if channel is Channel.LETTER else n.status,
        "template": template_ref(base_url, n.template_id, n.template_version),
        "body": vault.open(n.body_enc),
        "subject": vault.open_optional(n.subject_enc),
        "created_at": timestamp(n.created_at),
        "created_by_name": None,
        "sent_at": timestamp(n.sent_at),
        "completed_at": timestamp(n.completed_at),
        "scheduled_for": timestamp(n.scheduled_for),
        "one_click_unsubscribe_url": None,
        "is_cost_data_ready": channel is Channel.SMS,
        "cost_in_pounds": None,
        "cost_details": {"billable_sms_fragments": n.fragments} if channel is Channel.SMS else {},
        **({"tracking_number": n.tracking_number} if channel is Channel.LETTER else {}),  # extension: Certified Mail
    }


def template(base_url: str, t: TemplateRow, fields: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Notify's template fields, plus `personalisation`: what each placeholder means (an extension;
    the official clients pass unknown keys through), so a caller never has to read the Jinja body."""
    return {
        "id": str(t.id),
        "name": t.name,
        "type": t.channel.value,
        "created_at": timestamp(t.created_at),
        "updated_at": timestamp(t.updated_at),
        "created_by": "templates/",
        "version": t.version,
        "body": t.body,
        "subject": t.subject if t.channel is not Channel.SMS else None,
        "letter_contact_block": None,
        "postage": t.postage,
        "language": t.language,
        "uri": f"{base_url}/v2/template/{t.id}/version/{t.version}",
        "personalisation": fields if fields is not None else {},
    }
