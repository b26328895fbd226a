"""The send path up to the commit: validate the recipient and template, render, build the row.

Nothing here writes: a request that fails any check stores nothing. The API, the CLI and (later)
staff chat and broadcasts all build notifications through `prepare_notification`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.crypto import Vault
from gateway.db.base import new_id, utcnow
from gateway.domain import Channel, KeyType, NotificationStatus
from gateway.errors import BadRequest, ValidationFailed
from gateway.recipients import InvalidRecipient, email_index_form, normalise_email, normalise_phone
from gateway.template_store import TemplateRow
from gateway.templating import Rendered, Renderer

SMS_CHARACTER_LIMIT = 918
RECIPIENT_FIELD = {Channel.SMS: "phone_number", Channel.EMAIL: "email_address"}


@dataclass(frozen=True)
class Prepared:
    """A validated, rendered notification ready to commit."""

    row: dict[str, Any]
    recipient: str
    rendered: Rendered
    template: TemplateRow


def normalise_recipient(channel: Channel, raw: str, region: str) -> str:
    """E.164 for SMS, canonical address for email; ValidationFailed in Notify's words otherwise."""
    try:
        if channel is Channel.SMS:
            return normalise_phone(raw, region)
        return normalise_email(raw)
    except InvalidRecipient as exc:
        raise ValidationFailed(f"{RECIPIENT_FIELD[channel]} {exc}") from None


def recipient_index(vault: Vault, channel: Channel, recipient: str) -> str:
    return vault.blind_index(email_index_form(recipient) if channel is Channel.EMAIL else recipient)


def render_for(renderer: Renderer, template: TemplateRow, personalisation: Mapping[str, Any] | None) -> Rendered:
    """Render, turning template problems into 400s a caller can act on."""
    # MissingPersonalisation and TemplateRenderError are already Notify-shaped 400s.
    rendered = renderer.render(template, personalisation or {})
    if template.channel is Channel.SMS and rendered.characters > SMS_CHARACTER_LIMIT:
        raise BadRequest(
            f"Text messages cannot be longer than {SMS_CHARACTER_LIMIT} characters. "
            f"Your message is {rendered.characters} characters long."
        )
    return rendered


def prepare_notification(
    *,
    vault: Vault,
    renderer: Renderer,
    template: TemplateRow | None,
    channel: Channel,
    recipient: str,
    personalisation: Mapping[str, Any] | None,
    service_id: uuid.UUID,
    key_type: KeyType,
    api_key_id: uuid.UUID | None = None,
    reference: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    sender: str | None = None,
    person_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    created_by_staff_id: uuid.UUID | None = None,
    one_click_unsubscribe: bool = False,
    postage: str | None = None,
    automatic: bool = False,
    send_before: datetime | None = None,
    quiet_override: str | None = None,
    rendered: Rendered | None = None,
    index: str | None = None,
    notification_id: uuid.UUID | None = None,
) -> Prepared:
    """Check everything and build the row; raises an ApiError on the first problem.

    `one_click_unsubscribe`: email the gateway sends on its own (reminders, broadcasts) says so, and
    goes out with `List-Unsubscribe` and a signed one-click link (`gateway.unsubscribe`).
    `automatic`: the gateway sends it on its own (reminders, broadcasts, victim notices, auto-replies),
    so quiet hours hold it; `send_before`: not sent at or after this time; `quiet_override`: the recorded
    reason an urgent victim-safety notice may go at any hour (`gateway.sendtime.quiet_hours`).
    `rendered`: the message as the caller already rendered it with this template and personalisation
    (a broadcast renders each message once, to preview and screen it), so it is not rendered again;
    `index`: the recipient's blind index, when the caller has it already; `notification_id`: the row's id
    when the caller derives it (a broadcast's, `gateway.broadcasts.write.recipient_ids`), else a new one.
    """
    if template is None:
        raise BadRequest("Template not found")
    if template.channel is not channel:
        raise BadRequest(f"{template.channel} template is not suitable for {channel} notification")
    rendered = rendered or render_for(renderer, template, personalisation)
    now = utcnow()
    row: dict[str, Any] = {
        "id": notification_id or new_id(),
        "service_id": service_id,
        "api_key_id": api_key_id,
        "key_type": key_type.value,
        "channel": channel.value,
        "template_id": template.id,
        "template_version": template.version,
        "reference": reference,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "recipient_enc": vault.seal(recipient),
        "recipient_index": index or recipient_index(vault, channel, recipient),
        "subject_enc": vault.seal_optional(rendered.subject),
        "body_enc": vault.seal(rendered.body),
        "sender": sender,
        "fragments": rendered.fragments,
        "postage": postage or template.postage,
        "status": NotificationStatus.CREATED.value,
        "failure_reason": None,
        "provider": None,
        "provider_ref": None,
        "attempts": 0,
        "person_id": person_id,
        "case_id": case_id,
        "broadcast_id": None,
        "appointment_id": None,
        "created_by_staff_id": created_by_staff_id,
        "created_at": now,
        "updated_at": now,
        "scheduled_for": None,
        "sent_at": None,
        "completed_at": None,
        "one_click_unsubscribe": one_click_unsubscribe and channel is Channel.EMAIL,
        "automatic": automatic,
        "send_before": send_before,
        "quiet_override": quiet_override,
    }
    return Prepared(row, recipient, rendered, template)
