"""Delivery receipts: provider status updates applied to notifications, and the service's callback.

`apply_provider_status` is the one way a provider's receipt (a Twilio status callback) changes a
notification: interim statuses and anything after a final status change nothing, so duplicated and
out-of-order callbacks are harmless. `after_status_change` is what follows every status change that
reached a person-visible state: the live push to staff browsers and, for final statuses, the
service's delivery-receipt callback (`send_delivery_receipt`, Notify's body, retried with backoff).
The delivery job calls `after_status_changes` (one look-up of callback URLs for a whole batch) for
the statuses it sets itself: `sent`, sandbox `delivered`, and failures at send time.

A receipt can beat the delivery job's own commit of the provider reference (Twilio can call back
within milliseconds). The webhook then enqueues `apply_sms_status`, which tries again a few times.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from arq.worker import Retry
from sqlalchemy import select

from gateway.api.present import timestamp
from gateway.callbacks import post_callback
from gateway.channels.twilio_sms import status_from_twilio
from gateway.db import Notification, Service
from gateway.domain import NotificationStatus, RecordKind
from gateway.record import append_entry
from gateway.transitions import transition

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
S = NotificationStatus
SEND_DELIVERY_RECEIPT = "send_delivery_receipt"
APPLY_SMS_STATUS = "apply_sms_status"
RECEIPT_MAX_TRIES = 6
UNMATCHED_MAX_TRIES = 5
UNMATCHED_RETRY_SECONDS = 2.0


async def apply_provider_status(
    ctx: JobContext, provider: str, provider_ref: str, status: NotificationStatus, detail: str
) -> str:
    """'applied', 'ignored' (interim, duplicate, or already final), or 'unknown' (no such reference yet)."""
    async with ctx["sessions"]() as session:
        n = await session.scalar(
            select(Notification).where(Notification.provider_ref == provider_ref, Notification.provider == provider)
        )
        if n is None:
            return "unknown"
        current = S(n.status)
        if status is S.SENDING or current.is_final or current is status:
            return "ignored"
        failure = detail if status is not S.DELIVERED else None
        moved = await transition(session, n.id, expected=current, to=status, detail=detail, failure_reason=failure)
        await session.commit()
    if not moved:
        return "ignored"
    n.status = status.value
    await after_status_change(ctx, n, status, record=True)
    return "applied"


async def after_status_change(
    ctx: JobContext, n: Notification, status: NotificationStatus, *, record: bool, actor: str = "gateway:receipts"
) -> None:
    """Case record (when `record` and the notification has a case), live push, receipt callback if final."""
    await after_status_changes(ctx, [(n, status)], record=record, actor=actor)


async def after_status_changes(
    ctx: JobContext,
    changes: Sequence[tuple[Notification, NotificationStatus]],
    *,
    record: bool,
    actor: str = "gateway:receipts",
) -> None:
    """`after_status_change` for each (notification, new status); one query finds the callback URLs."""
    finals = {n.service_id for n, status in changes if status.is_reported}
    callback_urls: dict[uuid.UUID, str | None] = {}
    if finals:
        async with ctx["sessions"]() as session:
            found = await session.execute(select(Service.id, Service.callback_url).where(Service.id.in_(finals)))
            callback_urls = {service_id: url for service_id, url in found}
    for n, status in changes:
        if record and n.case_id is not None:
            try:
                await append_entry(
                    ctx["sessions"],
                    n.case_id,
                    RecordKind.STATUS,
                    actor,
                    f"{n.channel} message {status}",
                    {"status": status.value},
                    notification_id=n.id,
                )
            except Exception:
                log.exception("receipt.record_failed", notification_id=str(n.id))
        try:
            await ctx["live"].publish(
                n.service_id,
                {
                    "type": "status",
                    "notification_id": str(n.id),
                    "status": status.value,
                    "case_id": str(n.case_id or ""),
                },
            )
        except Exception:
            log.exception("receipt.live_failed", notification_id=str(n.id))
        if status.is_reported and callback_urls.get(n.service_id):
            await ctx["queue"].enqueue(SEND_DELIVERY_RECEIPT, str(n.id), job_id=f"receipt:{n.id}:{status.value}")


async def apply_sms_status(ctx: JobContext, sid: str, message_status: str, error_code: str) -> str:
    """A Twilio callback that arrived before its notification's reference was committed: try again."""
    status = status_from_twilio(message_status, error_code or None)
    outcome = await apply_provider_status(ctx, "twilio", sid, status, _detail(message_status, error_code))
    if outcome == "unknown":
        if int(ctx.get("job_try", 1)) < UNMATCHED_MAX_TRIES:
            raise Retry(defer=UNMATCHED_RETRY_SECONDS * int(ctx.get("job_try", 1)))
        log.warning("receipt.unmatched", provider_ref=sid, status=message_status)
    return outcome


def _detail(message_status: str, error_code: str) -> str:
    return f"twilio: {message_status}" + (f" (error {error_code})" if error_code else "")


def receipt_body(n: Notification, recipient: str) -> dict[str, Any]:
    """Notify's delivery-receipt callback body."""
    return {
        "id": str(n.id),
        "reference": n.reference,
        "to": recipient,
        "status": n.status,
        "created_at": timestamp(n.created_at),
        "completed_at": timestamp(n.completed_at),
        "sent_at": timestamp(n.sent_at),
        "notification_type": n.channel,
        "template_id": str(n.template_id),
        "template_version": n.template_version,
    }


async def send_delivery_receipt(ctx: JobContext, notification_id: str) -> str:
    """POST the notification's final status to its service's callback URL, retried with backoff."""
    async with ctx["sessions"]() as session:
        n = await session.get(Notification, uuid.UUID(notification_id))
        service = None if n is None else await session.get(Service, n.service_id)
    if n is None or service is None or not service.callback_url or not service.callback_token_enc:
        return "no callback configured"
    vault = ctx["vault"]
    return await post_callback(
        dict(ctx),
        url=service.callback_url,
        token=vault.open(service.callback_token_enc),
        body=receipt_body(n, vault.open(n.recipient_enc)),
        max_tries=RECEIPT_MAX_TRIES,
        log=log.bind(notification_id=notification_id),
    )
