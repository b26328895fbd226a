"""Structured logging. Log lines carry ids (request, notification, case), never bodies or contacts.

`GATEWAY_LOG_LEVEL` sets the level of the gateway's own (structlog) lines and of the standard
library's root logger. Libraries that see message content or contact data log it at INFO/DEBUG:
aiosmtpd (`mail.log`: every SMTP line, whole mails), SQLAlchemy (statements with their bound
parameters, result rows), aiosqlite and asyncpg (statements and arguments), twilio (request
payloads: `To` and `Body`), aiosmtplib and aiohttp's access and client logs. Those loggers are
held at `LIBRARY_FLOOR` whatever the setting, so `debug` never prints a mail, a number or a body;
and engines are made with `hide_parameters=True` (`gateway.db.engine`), so even an error's text
names no bound value. `tests/inbound/test_log_canaries.py` drives the real paths at debug and greps for
canary values.
"""

from __future__ import annotations

import logging
import sys

import structlog

LIBRARY_FLOOR = logging.WARNING
CONTENT_LOGGERS = (
    "mail.log",  # aiosmtpd
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "twilio",
    "aiosmtplib",
    "aiohttp.access",
    "aiohttp.client",
)


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    logging.getLogger().setLevel(level.upper())
    floor = max(LIBRARY_FLOOR, logging.getLevelName(level.upper()))
    for name in CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
