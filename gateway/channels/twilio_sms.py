"""SMS through Twilio's Messages API, with the `twilio` package's async client.

Three things the stock `AsyncTwilioHttpClient` does not do are done by `_TwilioHttpClient`:

* a deadline on every request (the stock client ignores its `timeout`, so a hung provider would
  hang a worker) -> `ProviderUnavailable(code="timeout")`;
* requests for `*.twilio.com` go to the configured API base, so tests reach the fake Twilio and an
  operator can point the gateway at a Twilio-compatible provider;
* HTTP 429 becomes `ProviderUnavailable` with `retry_after` from the `Retry-After` header, which is
  lost by the time the library raises `TwilioRestException`.

Other errors arrive as `TwilioRestException` and are mapped by `_map_rest_error`: 5xx is
`ProviderUnavailable` (retryable, and the provider's fault, not the message's: it pauses the
sender); 401/403 and codes naming *our* setup (bad From, region not enabled) are
`ProviderConfigError`; every other 4xx (invalid To 21211, opted out 21610, not a mobile 21614,
body too long 21617, ...) is `PermanentError` with Twilio's code and message.

`status_from_twilio()` maps the statuses Twilio posts to the status callback URL; see its table.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from gateway.channels.base import BaseSender, OutboundMessage, ProviderConfigError, SendResult
from gateway.domain import Channel, NotificationStatus
from gateway.errors import ChannelError, PermanentError, ProviderUnavailable

MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Asking Twilio whether it took a message whose send got no answer (`find_taken`): the messages to the
# recipient created since the unanswered send (less this much clock skew), read a page at a time, newest
# first, and no more than LOOKUP_LIMIT of them.
LOOKUP_PAGE = 50
LOOKUP_LIMIT = 1000
CLOCK_SKEW = timedelta(seconds=30)

# Send-time error codes that mean our account or sender is misconfigured, not the recipient.
CONFIG_ERROR_CODES = frozenset({20003, 20404, 21212, 21408, 21603, 21606, 21659})

# Delivery error codes (status callbacks) that say the number itself cannot get messages.
PERMANENT_DELIVERY_CODES = frozenset({21211, 21407, 21610, 21612, 21614, 30004, 30005, 30006, 30007})
# Delivery error codes that say the handset or network is unavailable for now.
TEMPORARY_DELIVERY_CODES = frozenset({30001, 30003, 30008, 30009, 30017, 30022})


def status_from_twilio(message_status: str, error_code: str | None) -> NotificationStatus:
    """Map a Twilio status callback (`MessageStatus`, `ErrorCode`) to our status.

    | MessageStatus                | ErrorCode                                    | ours              |
    | accepted, scheduled, queued, | any                                          | sending (interim) |
    | sending, sent                |                                              |                   |
    | delivered, read              | any                                          | delivered         |
    | undelivered or failed        | 30004 blocked, 30005 unknown handset, 30006  | permanent-failure |
    |                              | landline, 30007 filtered, 21610 opted out,   |                   |
    |                              | 21211, 21407, 21612, 21614                   |                   |
    | undelivered or failed        | 30003 unreachable/off, 30008 unknown, 30001  | temporary-failure |
    |                              | queue full, 30009 lost segment, 30017        |                   |
    |                              | congestion, 30022 throughput                 |                   |
    | undelivered                  | none or any other                            | temporary-failure |
    | failed                       | none or any other (account, sender...)       | technical-failure |
    | canceled                     | any                                          | technical-failure |
    | anything else                | any                                          | sending (interim) |

    `sending` means "not final yet": the caller leaves the notification as it is. Twilio's `sent`
    only means handed to the carrier, so it is interim too (Notify's `sent` is for international
    SMS without receipts). Unknown codes on `undelivered` lean to temporary-failure so a caller
    is not told a possibly good number is bad; on `failed` Twilio did not even try, which is ours.
    """
    status = message_status.strip().lower()
    if status in ("delivered", "read"):
        return NotificationStatus.DELIVERED
    if status == "canceled":
        return NotificationStatus.TECHNICAL_FAILURE
    if status not in ("undelivered", "failed"):
        return NotificationStatus.SENDING
    code = int(error_code) if error_code and error_code.strip().isdigit() else None
    if code in PERMANENT_DELIVERY_CODES:
        return NotificationStatus.PERMANENT_FAILURE
    if code in TEMPORARY_DELIVERY_CODES or status == "undelivered":
        return NotificationStatus.TEMPORARY_FAILURE
    return NotificationStatus.TECHNICAL_FAILURE


class _TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Twilio's aiohttp client with a deadline, an API base URL, and 429 handling.

    Must be created inside a running event loop (it opens an aiohttp session) and closed.
    """

    def __init__(self, api_base: str, timeout: float, max_connections: int = 100) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        # one pooled session, as the stock client keeps, with as many connections as we allow in flight
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max_connections))
        self.api_base = api_base.rstrip("/")
        self.deadline = timeout

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        return self.api_base + parts.path + (f"?{parts.query}" if parts.query else "")

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the library's signature; self.deadline applies
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:  # aiohttp 3.14 deprecates its auth= parameter (and BasicAuth)
            headers = {**(headers or {}), "Authorization": aiohttp.encode_basic_auth(*auth)}
        body: bytes | dict[str, object] | None = data
        if data is not None:  # the form encoded once here: aiohttp's FormData costs ~10% of a worker's send
            body = urlencode(data, doseq=True).encode()
            headers = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
        try:
            async with asyncio.timeout(self.deadline):
                response: Response = await super().request(
                    method, self.rewrite(url), params, body, headers, None, None, allow_redirects
                )
        except TimeoutError:
            raise ProviderUnavailable(f"Twilio did not answer within {self.deadline:g}s", code="timeout") from None
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(f"Twilio connection failed: {type(exc).__name__}", code="connection") from exc
        if response.status_code == 429:
            raise ProviderUnavailable(
                "Twilio rate limit: " + _twilio_message(response.text, "Too Many Requests"),
                code=str(_twilio_code(response.text) or 429),
                retry_after=_retry_after(response.headers),
            )
        return response

    def log_request(self, kwargs: dict[str, Any]) -> None:
        """Silenced: `BaseSender` logs each send once, without contact details."""

    def log_response(self, status_code: int, response: Any) -> None:
        """Silenced, as `log_request`."""


class TwilioSmsSender(BaseSender):
    """Sends SMS through Twilio (or anything that speaks its Messages API at `api_base`).

    The Twilio client is built on first use (or by `open()`), inside the running loop.
    """

    name = "twilio"
    channel = Channel.SMS

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_base: str = "https://api.twilio.com",
        timeout: float = 10.0,
        max_connections: int = 100,
    ) -> None:
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.api_base = api_base
        self.timeout = timeout
        self.max_connections = max_connections
        self._http: _TwilioHttpClient | None = None
        self._client: Client | None = None

    async def open(self) -> None:
        """Build the HTTP session now rather than on the first send."""
        self._get_client()

    def client(self) -> Client:
        """The Twilio client of this sender (its account, API base and deadline): voice calls use it too."""
        return self._get_client()

    def _get_client(self) -> Client:
        if self._client is None:
            self._http = _TwilioHttpClient(self.api_base, self.timeout, self.max_connections)
            self._client = Client(self.account_sid, self._auth_token, http_client=self._http)
        return self._client

    async def _send(self, message: OutboundMessage) -> SendResult:
        params: dict[str, str] = {"to": message.to, "body": message.body}
        if not message.sender:
            raise ProviderConfigError("no SMS sender (From number or Messaging Service SID)", code="no-sender")
        if MESSAGING_SERVICE_SID.match(message.sender):
            params["messaging_service_sid"] = message.sender
        else:
            params["from_"] = message.sender
        if message.status_callback:
            params["status_callback"] = message.status_callback
        try:
            created = await self._get_client().messages.create_async(**params)
        except TwilioException as exc:
            raise _mapped(exc) from exc
        return SendResult(self.name, str(created.sid), NotificationStatus.SENDING)

    async def find_taken(self, message: OutboundMessage, since: datetime) -> list[SendResult]:
        """Twilio's Messages list for this recipient and sender, newest first, a page of LOOKUP_PAGE at a time,
        read back to `since` (less CLOCK_SKEW: a whole page older ends it) and no further than LOOKUP_LIMIT
        messages; kept to the same text created since then: their SIDs, oldest first."""
        by_service = bool(message.sender and MESSAGING_SERVICE_SID.match(message.sender))
        query: dict[str, Any] = {"to": message.to, "limit": LOOKUP_LIMIT, "page_size": LOOKUP_PAGE}
        if message.sender and not by_service:
            query["from_"] = message.sender
        cutoff, older, same = since - CLOCK_SKEW, 0, []
        try:
            async for m in await self._get_client().messages.stream_async(**query):
                if m.date_created is None or m.date_created < cutoff:
                    older += 1
                    if older >= LOOKUP_PAGE:
                        break
                    continue
                older = 0
                if m.body == message.body and (not by_service or m.messaging_service_sid == message.sender):
                    same.append(m)
        except TwilioException as exc:
            raise _mapped(exc) from exc
        same.sort(key=lambda m: (m.date_created, str(m.sid)))
        return [SendResult(self.name, str(m.sid), NotificationStatus.SENDING) for m in same]

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None


def _mapped(exc: TwilioException) -> ChannelError:
    """A Twilio library error as ours: its classic error JSON (code, message), or RFC 9457 problem details
    (TwilioServiceException) and the like."""
    if isinstance(exc, TwilioRestException):
        return _map_error(exc.status, exc.code, str(exc.msg).removeprefix("Unable to create record: "))
    page = next((arg for arg in exc.args if isinstance(arg, Response)), None)  # a list page's error answer
    if page is not None:
        reason = _twilio_message(page.text, f"HTTP {page.status_code}")
        return _map_error(page.status_code, _twilio_code(page.text), reason)
    reason = getattr(exc, "detail", None) or getattr(exc, "title", None) or type(exc).__name__
    return _map_error(getattr(exc, "status", None) or 500, getattr(exc, "code", None), str(reason))


def _map_error(status: int, code: object, reason: str) -> ChannelError:
    """5xx / 429 -> retry; 401, 403 and our-setup codes -> ProviderConfigError; other 4xx -> permanent."""
    twilio_code = code if isinstance(code, int) else None
    code_text = str(twilio_code if twilio_code is not None else status)
    if status >= 500 or status == 429:
        return ProviderUnavailable(reason, code=code_text)
    if status in (401, 403) or twilio_code in CONFIG_ERROR_CODES:
        return ProviderConfigError(reason, code=code_text)
    return PermanentError(reason, code=code_text)


def _twilio_payload(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _twilio_code(text: str) -> int | None:
    code = _twilio_payload(text).get("code")
    return code if isinstance(code, int) else None


def _twilio_message(text: str, default: str) -> str:
    return str(_twilio_payload(text).get("message") or default)


def _retry_after(headers: Any) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), or None."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
