"""`POST /webhooks/twilio/status`: Twilio's delivery status callbacks for outbound SMS.

The signature is checked against the public URL first: a forged or unsigned callback is a 403 and
changes nothing. A genuine one answers 200 whatever it says (Twilio must not retry): interim,
duplicate and out-of-order statuses are ignored, because a final status never changes again. A
callback for a message whose reference is not committed yet is handed to a short retry job.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway import keys
from gateway.channels.twilio_sms import status_from_twilio
from gateway.domain import NotificationStatus
from gateway.jobs.receipts import APPLY_SMS_STATUS, apply_provider_status
from gateway.webhooks.twilio_signature import verified_form

log = structlog.get_logger()
STATUS_PATH = "/webhooks/twilio/status"


async def twilio_status(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    form = await verified_form(request, settings.twilio_auth_token, settings.base_url)
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    message_status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    error_code = form.get("ErrorCode") or ""
    if not sid or not message_status:
        log.warning("twilio_status.incomplete", has_sid=bool(sid), has_status=bool(message_status))
        return web.Response(status=200)
    status = status_from_twilio(message_status, error_code or None)
    detail = f"twilio: {message_status}" + (f" (error {error_code})" if error_code else "")
    ctx = request.app[keys.JOB_CONTEXT]
    outcome = await apply_provider_status(ctx, "twilio", sid, status, detail)
    if outcome == "unknown" and status is not NotificationStatus.SENDING:  # interim statuses can be dropped
        await ctx["queue"].enqueue(
            APPLY_SMS_STATUS, sid, message_status, error_code, job_id=f"sms-status:{sid}:{message_status}", defer_by=1.0
        )
    log.info("twilio_status", provider_ref=sid, twilio_status=message_status, outcome=outcome)
    return web.Response(status=200)


def setup_twilio_status(app: web.Application) -> None:
    app.router.add_post(STATUS_PATH, twilio_status)
