"""POSTing to a service's callback URL (delivery receipts, received texts) with retries, as Notify does.

One function for every callback: JSON body, `Authorization: Bearer <token>`, a 10 s timeout. A 2xx
ends it. A connection error, timeout, 429 or 5xx is retried with exponential backoff (arq
`Retry(defer=...)`, counted by `ctx["job_try"]`; GATEWAY_RETRY_BACKOFF_SECONDS doubling up to
GATEWAY_RETRY_BACKOFF_MAX_SECONDS) for up to `max_tries`; any other 4xx will not get better by
retrying and ends it with a warning. Log lines carry ids and status codes, never the body.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from arq.worker import Retry

from gateway.settings import Settings

TIMEOUT_SECONDS = 10.0


def backoff(settings: Settings, job_try: int) -> float:
    """base, 2 x base, 4 x base ... capped (10 s, 20 s, 40 s ... 15 min by default)."""
    ceiling = settings.retry_backoff_max_seconds
    return min(ceiling, settings.retry_backoff_seconds * float(2 ** max(0, job_try - 1)))


async def post_callback(
    ctx: dict[str, Any], *, url: str, token: str, body: dict[str, Any], max_tries: int, log: Any
) -> str:
    """POST `body` to `url`; returns what happened, or raises arq `Retry` to try again later."""
    job_try = int(ctx.get("job_try", 1))
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as http,
            http.post(url, json=body, headers=headers) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _retry_or_give_up(log, ctx["settings"], job_try, max_tries, type(exc).__name__)
    if 200 <= status < 300:
        log.info("callback.sent", status=status)
        return f"sent: {status}"
    if status == 429 or status >= 500:
        return _retry_or_give_up(log, ctx["settings"], job_try, max_tries, f"HTTP {status}")
    log.warning("callback.refused", status=status)
    return f"refused: {status}"


def _retry_or_give_up(log: Any, settings: Settings, job_try: int, max_tries: int, reason: str) -> str:
    if job_try >= max_tries:
        log.warning("callback.gave_up", reason=reason, job_try=job_try)
        return f"gave up: {reason}"
    delay = backoff(settings, job_try)
    log.info("callback.retry", reason=reason, defer=delay, job_try=job_try)
    raise Retry(defer=delay)
