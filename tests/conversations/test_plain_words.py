"""The plain lines a thread shows: failures with their codes and next steps, and what a keyword did."""

from __future__ import annotations

import pytest

from gateway.conversations.failures import explain
from gateway.conversations.lines import keyword_line


@pytest.mark.parametrize(
    ("status", "reason", "channel", "sentence", "first_step"),
    [
        (
            "permanent-failure",
            "21614: To number: <recipient>, is not a mobile number",
            "sms",
            "This number can't receive texts (Twilio 21614)",
            "email",
        ),
        (
            "permanent-failure",
            "21211: Invalid 'To' Phone Number",
            "sms",
            "This isn't a valid phone number (Twilio 21211)",
            "fix_number",
        ),
        (
            "permanent-failure",
            "21610: Attempt to send to unsubscribed recipient",
            "sms",
            "They have blocked texts from our number (they replied STOP to the carrier) (Twilio 21610)",
            "email",
        ),
        (
            "temporary-failure",
            "twilio: undelivered (error 30003)",
            "sms",
            "Their phone is switched off or out of reach (Twilio 30003)",
            "retry",
        ),
        (
            "permanent-failure",
            "twilio: undelivered (error 30005)",
            "sms",
            "This number doesn't exist or is no longer in use (Twilio 30005)",
            "fix_number",
        ),
        (
            "permanent-failure",
            "twilio: undelivered (error 30006)",
            "sms",
            "This is a landline or a number that can't receive texts (Twilio 30006)",
            "fix_number",
        ),
        (
            "permanent-failure",
            "twilio: undelivered (error 30007)",
            "sms",
            "The carrier filtered this message as spam (Twilio 30007)",
            "reword",
        ),
        ("permanent-failure", "29999: something new", "sms", "The text was not delivered (Twilio 29999)", "retry"),
        (
            "permanent-failure",
            "recipient opted out",
            "sms",
            "Not sent: they have opted out of messages from this service (they replied STOP)",
            "email",
        ),
        (
            "permanent-failure",
            "550: 5.1.1 <recipient>: user unknown",
            "email",
            "This email address doesn't exist or refused the message (SMTP 550)",
            "fix_email",
        ),
        (
            "temporary-failure",
            "rcpt: all recipients refused",
            "email",
            "Their mail server refused this address (mail server)",
            "fix_email",
        ),
        (
            "returned-letter",
            "returned-letter: returned by the mail house",
            "letter",
            "The letter came back undelivered",
            "fix_address",
        ),
    ],
)
def test_failures_say_why_with_the_code_and_what_next(
    status: str, reason: str, channel: str, sentence: str, first_step: str
) -> None:
    failure = explain(status, reason, channel)
    assert failure is not None
    assert (failure.sentence, failure.steps[0]) == (sentence, first_step)


def test_only_failed_messages_are_explained() -> None:
    assert explain("delivered", None, "sms") is None
    assert explain("created", None, "sms") is None
    failure = explain("permanent-failure", None, "sms")
    assert failure is not None and failure.sentence == "The text was not delivered, and no reason was given"


def test_keyword_lines_name_the_person_and_the_word() -> None:
    stop = [{"handler": "opt_out", "outcome": "stop", "decision": "...", "effect": "opted_out"}]
    assert keyword_line("Jordan", "sms", "Stop.", stop) == (
        "Jordan opted out of texts (STOP). Nothing can be sent this way until they reply START."
    )
    start = [{"handler": "opt_out", "outcome": "stop", "decision": "...", "effect": "opted_in"}]
    assert (
        keyword_line("Jordan", "sms", "start", start)
        == "Jordan opted back in to texts (START). Messages can be sent again."
    )
    help_ = [{"handler": "opt_out", "outcome": "stop", "decision": "...", "effect": "help_sent"}]
    line = keyword_line("Jordan", "sms", "HELP", help_)
    assert line is not None and line.startswith("Jordan asked for help (HELP)")
    ordinary = [{"handler": "opt_out", "outcome": "continue", "decision": "not a keyword"}]
    assert keyword_line("Jordan", "sms", "yes", ordinary) is None
    assert keyword_line("Jordan", "sms", "Stop.", None) is None
