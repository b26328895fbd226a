"""Recipient validation and normalisation: phone numbers to E.164, email addresses to canonical form.

One place for it, used by the API, the CLI, contact points and inbound matching.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_REGION = "US"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class InvalidRecipient(ValueError):
    """The address cannot be sent to; the message says why, for the caller."""


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the number in E.164, or raise InvalidRecipient saying what is wrong."""
    return phone_and_type(raw, region)[0]


def phone_and_type(raw: str, region: str = DEFAULT_REGION) -> tuple[str, int]:
    """`normalise_phone` and the number's `phonenumbers.PhoneNumberType` (mobile, landline ...),
    worked out once: finding the type is the costly part of checking a number."""
    text = raw.strip()
    if any(ch.isalpha() for ch in text):
        raise InvalidRecipient("Must not contain letters or symbols")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipient(_parse_reason(exc)) from None
    if not phonenumbers.is_possible_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason == phonenumbers.ValidationResult.TOO_SHORT:
            raise InvalidRecipient("Not enough digits")
        if reason == phonenumbers.ValidationResult.TOO_LONG:
            raise InvalidRecipient("Too many digits")
        raise InvalidRecipient("Not a valid phone number")
    # valid exactly when it has a type (is_valid_number works the type out too: once is enough; a
    # 100,000-row broadcast list spent half its checking time doing it twice)
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        raise InvalidRecipient("Not a valid phone number")
    if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST):
        raise InvalidRecipient("Not a number that can receive text messages")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), kind


def _parse_reason(exc: phonenumbers.NumberParseException) -> str:
    if exc.error_type == phonenumbers.NumberParseException.TOO_SHORT_NSN:
        return "Not enough digits"
    if exc.error_type == phonenumbers.NumberParseException.TOO_LONG:
        return "Too many digits"
    if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return "Not a valid country prefix"
    return "Not a valid phone number"


def normalise_email(raw: str) -> str:
    """Return the canonical address (domain lower-cased), or raise InvalidRecipient."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise InvalidRecipient("Not a valid email address") from None
    return str(result.normalized)


def email_index_form(address: str) -> str:
    """The form used for blind-index lookups: the whole address lower-cased."""
    return address.lower()


def can_receive_sms(sender: str) -> bool:
    """Whether a text can be sent back to this sender: an E.164 number. Alphanumeric sender ids
    ("ACME"), short codes and empty senders take no replies (the carrier would refuse them)."""
    return bool(E164.match(sender))
