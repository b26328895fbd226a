"""Notify's returned-letter callback: each letter that comes back is POSTed to the service's own URL.

Notify keeps returned letters apart from delivery receipts: a service sets a `returned_letter`
callback (`gateway service update ID --returned-letter-callback-url https://... \
--returned-letter-callback-token ...`), and for each returned letter gets Notify's body:

    {"notification_id", "reference", "date_sent", "sent_by", "template_name", "template_id",
     "template_version", "spreadsheet_file_name", "spreadsheet_row_number", "upload_letter_file_name"}

`sent_by` is "API" for a letter sent through the API, else the sending staff member's email (as
Notify names the user); a precompiled letter has no template to name (`template_*` are null). We
send no spreadsheets or uploaded files, so those three are always null. Posting, bearer token,
timeout and retries with backoff are `gateway.callbacks.post_callback`'s, as for delivery receipts;
the job id (`returned-letter:<id>`) makes a second enqueue for the same letter a no-op.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog

from gateway.api.present import timestamp
from gateway.callbacks import post_callback
from gateway.db import Notification, Service, StaffUser, Template
from gateway.domain import NotificationStatus

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()

SEND_RETURNED_LETTER = "send_returned_letter_callback"
MAX_TRIES = 6
PRECOMPILED_SLUG = "precompiled"


def job_id(notification_id: uuid.UUID | str) -> str:
    return f"returned-letter:{notification_id}"


def returned_letter_body(n: Notification, template: Template | None, sent_by: str | None) -> dict[str, Any]:
    """Notify's returned-letter callback body for a letter (see the module docstring)."""
    shown = template is not None and template.slug != PRECOMPILED_SLUG
    return {
        "notification_id": str(n.id),
        "reference": n.reference if n.api_key_id is not None else None,
        "date_sent": timestamp(n.created_at),
        "sent_by": sent_by or "API",
        "template_name": template.name if shown and template is not None else None,
        "template_id": str(n.template_id) if shown else None,
        "template_version": n.template_version if shown else None,
        "spreadsheet_file_name": None,
        "spreadsheet_row_number": None,
        "upload_letter_file_name": None,
    }


async def send_returned_letter_callback(ctx: JobContext, notification_id: str) -> str:
    """POST one returned letter to its service's returned-letter callback URL, retried with backoff."""
    async with ctx["sessions"]() as session:
        n = await session.get(Notification, uuid.UUID(notification_id))
        if n is None or n.status != NotificationStatus.RETURNED_LETTER.value:
            return "skipped: not a returned letter"
        service = await session.get(Service, n.service_id)
        template = await session.get(Template, n.template_id)
        staff = await session.get(StaffUser, n.created_by_staff_id) if n.created_by_staff_id else None
    if service is None or not service.returned_letter_callback_url or not service.returned_letter_callback_token_enc:
        return "no returned-letter callback configured"
    return await post_callback(
        dict(ctx),
        url=service.returned_letter_callback_url,
        token=ctx["vault"].open(service.returned_letter_callback_token_enc),
        body=returned_letter_body(n, template, staff.email if staff is not None else None),
        max_tries=MAX_TRIES,
        log=log.bind(notification_id=notification_id),
    )
