"""Accepting a precompiled letter: Notify's `{"reference", "content": <base64 PDF>, "postage"}`.

The PDF is checked at once (`precompiled.check_pdf`, in a thread); a letter that fails is still
accepted (201) and stored as `validation-failed` with the reason, as Notify does. The notification
(recorded against the agency's "Precompiled letter (PDF)" template, its recipient the address read
from the window) and its sealed PDF are written in ONE transaction with the same insert as every
notification; then delivery is enqueued, and the letter channel makes it `accepted`. An
Idempotency-Key is not taken here (yet).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import insert

from gateway import keys
from gateway.api.auth import admit_api_send, caller
from gateway.api.intake import insert_notifications
from gateway.api.schemas import PrecompiledLetterRequest, parse_body
from gateway.db import LetterDocument
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, NotificationStatus
from gateway.errors import BadRequest, ContentRefused, ValidationFailed
from gateway.jobs.delivery import enqueue_deliveries
from gateway.letters.postage import ACCEPTED_NAMES, DEFAULT_POSTAGE, parse_postage, postage_for
from gateway.letters.precompiled import check_pdf
from gateway.outbound import prepare_notification

PRECOMPILED_TEMPLATE = uuid.UUID("0f8b6a52-7c1e-4d5a-9e43-2b7a1c9d6e10")
MAX_PDF_BYTES = 5 * 1024 * 1024


async def accept_precompiled(request: web.Request, raw: bytes) -> dict[str, Any]:
    """Check, store and enqueue a precompiled letter; Notify's answer `{"id", "reference", "postage"}`."""
    app, who = request.app, caller(request)
    body = parse_body(PrecompiledLetterRequest, raw)
    requested = parse_postage(body.postage) if body.postage is not None else DEFAULT_POSTAGE
    if requested is None:
        raise ValidationFailed(f"postage invalid. It must be one of {', '.join(ACCEPTED_NAMES)}")
    try:
        pdf = base64.b64decode(body.content, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("Cannot decode letter content (base64) in precompiled letter") from None
    if len(pdf) > MAX_PDF_BYTES:
        raise ValidationFailed(f"content is larger than {MAX_PDF_BYTES // (1024 * 1024)} MB")
    template = await app[keys.TEMPLATES].get(who.service_id, PRECOMPILED_TEMPLATE)
    if template is None:
        raise BadRequest("Precompiled letters need the agency template letter/en/precompiled.txt")
    async with admit_api_send(request):
        refused, pages, recipient, international = None, 0, "", False
        try:
            checked = await asyncio.to_thread(check_pdf, pdf)
            pages, recipient, international = checked.pages, checked.address.as_text(), checked.address.international
        except ContentRefused as exc:
            refused = f"validation-failed: {exc.reason}"
        prepared = prepare_notification(
            vault=app[keys.VAULT],
            renderer=app[keys.RENDERER],
            template=template,
            channel=Channel.LETTER,
            recipient=recipient,
            personalisation={},
            service_id=who.service_id,
            key_type=who.key_type,
            api_key_id=who.key_id,
            reference=body.reference,
            postage=postage_for(requested, international).value,
        )
        row = prepared.row
        if refused is not None:
            row.update(status=NotificationStatus.VALIDATION_FAILED.value, failure_reason=refused)
            row["completed_at"] = row["created_at"]
        document = {
            "notification_id": row["id"],
            "service_id": who.service_id,
            "kind": "precompiled",
            "content_enc": app[keys.VAULT].seal(body.content),
            "pages": pages,
            "batch_id": None,
            "created_at": row["created_at"],
        }
        engine = app[keys.ENGINE]
        async with write_lock(engine), engine.begin() as conn:
            await insert_notifications(conn, [row])
            if refused is None:
                await conn.execute(insert(LetterDocument), [document])
    if refused is None:
        await enqueue_deliveries(app[keys.QUEUE], [row["id"]])
    return {"id": str(row["id"]), "reference": body.reference, "postage": row["postage"]}
