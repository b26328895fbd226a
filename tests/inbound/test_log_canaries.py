"""No log line, ours or a library's, carries message content or contact data, even at debug.

The logging is configured exactly as `gateway serve` does at GATEWAY_LOG_LEVEL=debug, then canary
values travel the real paths (an API send delivered to the fake Twilio, a signed webhook SMS, a mail
through the real aiosmtpd listener, a staff search for a phone number) and everything written to
stdout and stderr is searched for them. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import aiosmtplib
import pytest
import structlog

from gateway import keys
from gateway.logs import CONTENT_LOGGERS, configure_logging
from gateway.reply_address import make_reply_address
from gateway.web.passwords import Passwords
from tests.inbound.conftest import REPLY_DOMAIN, WEBHOOK, GatewayFactory, send_sms, sign, sms_form
from tests.inbound.test_email import outbound_email
from tests.inbound.test_input_limits import raw_mail
from tests.web.staff import make_staff, sign_in

CANARY_PHONE = "+12025550177"
CANARY_DIGITS = "5550177"
CANARY_EMAIL = "canary.xq7@example.org"
CANARIES = ("CANARYBODY", "CANARYSMS", "CANARYMAIL", CANARY_DIGITS, "canary.xq7")


@pytest.fixture
def debug_logging() -> Iterator[io.StringIO]:
    """`configure_logging("debug")` as in a fresh process, plus a second root handler into a buffer:
    the stderr handler writes to pytest's own capture file, which `capfd` does not see."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in CONTENT_LOGGERS})
    root.handlers[:] = []  # as in a fresh `gateway serve` process: basicConfig installs the stderr handler
    configure_logging("debug", "console")
    # not cached: a module's logger cached on first use here would keep this configuration after the test,
    # and later tests' `structlog.testing.capture_logs()` would see nothing of it
    structlog.configure(cache_logger_on_first_use=False)
    buffer = io.StringIO()
    root.addHandler(logging.StreamHandler(buffer))
    yield buffer
    root.handlers[:] = before[1]
    root.setLevel(before[0])
    for name, level in before[2].items():
        logging.getLogger(name).setLevel(level)
    structlog.reset_defaults()


async def test_canaries_never_reach_the_logs_at_debug(
    make_gateway: GatewayFactory, debug_logging: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    # Plain http (no public https URL), so the test client's session cookie is sent back to it.
    gw = await make_gateway(inbound_smtp_port=0, inbound_smtp_host="127.0.0.1", public_url=None)
    port = gw.client.app[keys.INBOUND_SMTP].port
    await send_sms(gw, CANARY_PHONE, "CANARYBODY office visit")  # API send, delivered to the fake Twilio
    form = sms_form(gw.number, CANARY_PHONE, "CANARYSMS running late")
    webhook = await gw.post_form(form, signature=sign(form, url=gw.settings.base_url + WEBHOOK))  # signed webhook
    assert webhook.status == 200, await webhook.text()
    nid = await outbound_email(gw, CANARY_EMAIL, None, None)
    address = make_reply_address(gw.vault, nid, REPLY_DOMAIN)
    mail = raw_mail(address, "<canary-1@mail.example.org>", "CANARYMAIL see you").replace(
        b"jordan.client@example.org", CANARY_EMAIL.encode()
    )
    await aiosmtplib.send(mail, sender=CANARY_EMAIL, recipients=[address], hostname="127.0.0.1", port=port)
    await gw.settle()
    staff = await make_staff(gw.sessions, gw.vault, Passwords.from_settings(gw.settings), gw.service.id)
    await sign_in(gw.client, staff)
    assert (await gw.client.get("/inbox", params={"q": CANARY_PHONE})).status == 200
    assert (await gw.client.get("/cases", params={"q": CANARY_PHONE})).status == 200
    out, err = capfd.readouterr()
    logged = out + err + debug_logging.getvalue()
    assert "smtp_inbound.accepted" in logged and "request" in logged  # the logs were captured at all
    leaked = [c for c in CANARIES if c.lower() in logged.lower()]
    lines = [line for line in logged.splitlines() if any(c.lower() in line.lower() for c in leaked)]
    assert leaked == [], "\n".join(lines[:10])
