"""Why a message failed, in plain words, and what the officer can do next.

`explain(status, failure_reason, channel)` turns the reason the delivery path kept (Twilio's code
and message at send time, `twilio: undelivered (error 30005)` from a status callback, an SMTP
reply code, "recipient opted out", a returned letter) into one sentence naming the code, e.g.
"This number can't receive texts (Twilio 21614)", and the next steps that can help: `email`
(send it by email instead), `text`, `fix_number` / `fix_email` / `fix_address` (on the person's
page), `retry` (send it again later). The page offers a step only where the person has what it
needs (an email address to write to, a person page to fix). Unknown codes still say their code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.domain import Channel

FAILED = frozenset(
    {"permanent-failure", "temporary-failure", "technical-failure", "validation-failed", "returned-letter"}
)


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed message, explained: a sentence and the steps worth offering, in order."""

    sentence: str
    steps: tuple[str, ...]


ELSEWHERE = ("email", "fix_number")

# Twilio's error codes (send-time 21xxx, delivery 30xxx): https://www.twilio.com/docs/api/errors
TWILIO: dict[int, tuple[str, tuple[str, ...]]] = {
    21211: ("This isn't a valid phone number", ("fix_number", "email")),
    21407: ("Texts can't be sent to this country or number type", ELSEWHERE),
    21408: ("Our account can't text this region: tell an administrator", ("email",)),
    21610: ("They have blocked texts from our number (they replied STOP to the carrier)", ("email",)),
    21612: ("Texts can't go from our number to this one", ELSEWHERE),
    21614: ("This number can't receive texts", ("email", "fix_number")),
    21617: ("The message is too long", ("shorten",)),
    30001: ("The carrier was too busy to take the message", ("retry",)),
    30002: ("Our texting account is suspended: tell an administrator", ("email",)),
    30003: ("Their phone is switched off or out of reach", ("retry", "email")),
    30004: ("They have blocked this message", ("email",)),
    30005: ("This number doesn't exist or is no longer in use", ("fix_number", "email")),
    30006: ("This is a landline or a number that can't receive texts", ("fix_number", "email")),
    30007: ("The carrier filtered this message as spam", ("reword", "email")),
    30008: ("The carrier couldn't deliver it and gave no reason", ("retry", "email")),
    30009: ("Part of the message went missing on the way", ("retry",)),
    30010: ("The message cost more than the limit we set", ("email",)),
    30017: ("The carrier's network was congested", ("retry",)),
    30022: ("The carrier's sending limit was reached", ("retry",)),
}

SMTP: dict[str, tuple[str, tuple[str, ...]]] = {
    "550": ("This email address doesn't exist or refused the message", ("fix_email", "text")),
    "551": ("This email address doesn't exist here any more", ("fix_email", "text")),
    "552": ("Their mailbox is full", ("retry", "text")),
    "553": ("This isn't a valid email address", ("fix_email", "text")),
    "554": ("Their mail server refused the message", ("text",)),
    "rcpt": ("Their mail server refused this address", ("fix_email", "text")),
    "invalid": ("This isn't a valid email address", ("fix_email", "text")),
}

_TWILIO_CODE = re.compile(r"^(\d{5}):|\(error (\d{5})\)")
_SMTP_CODE = re.compile(r"^(\d{3}|rcpt|invalid):")


def explain(status: str, reason: str | None, channel: str) -> Failure | None:
    """The plain explanation of a failed message; None when it has not failed."""
    if status not in FAILED:
        return None
    reason = (reason or "").strip()
    if reason == "recipient opted out":
        return Failure("Not sent: they have opted out of messages from this service (they replied STOP)", ("email",))
    if reason == "recipient retired":
        return Failure("Not sent: this number or address was changed, and nothing is sent to an old one", ())
    if status == "returned-letter":
        return Failure("The letter came back undelivered", ("fix_address", "text", "email"))
    if status == "validation-failed":
        return Failure(f"The letter could not be printed: {reason or 'no reason given'}", ("fix_address",))
    if channel == Channel.SMS.value and (match := _TWILIO_CODE.search(reason)):
        code = int(match.group(1) or match.group(2))
        sentence, steps = TWILIO.get(code, ("The text was not delivered", ("retry", "email")))
        return Failure(f"{sentence} (Twilio {code})", steps)
    if channel == Channel.EMAIL.value and (match := _SMTP_CODE.match(reason)):
        code_text = match.group(1)
        sentence, steps = SMTP.get(code_text, ("The email was not delivered", ("retry", "text")))
        shown = f"SMTP {code_text}" if code_text.isdigit() else "mail server"
        return Failure(f"{sentence} ({shown})", steps)
    if status == "technical-failure":
        return Failure("Not sent: the gateway couldn't reach the provider in time. Try again later", ("retry",))
    words = {"sms": "text", "email": "email", "letter": "letter"}.get(channel, "message")
    return Failure(f"The {words} was not delivered, and no reason was given", ("retry",))
