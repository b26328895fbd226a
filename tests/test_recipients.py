"""Phone numbers: `phone_and_type` decides validity from the number's type, worked out once."""

from __future__ import annotations

import phonenumbers
import pytest

from gateway.recipients import InvalidRecipient, phone_and_type


def test_valid_exactly_when_the_number_has_a_type() -> None:
    """The shortcut `phone_and_type` takes (type UNKNOWN = not valid) agrees with phonenumbers'
    `is_valid_number` on every region's example numbers of every type, and on each with a digit dropped."""
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            shorter = phonenumbers.parse(f"+{example.country_code}{str(example.national_number)[:-1]}")
            for number in (example, shorter):
                has_type = phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.UNKNOWN
                assert phonenumbers.is_valid_number(number) == has_type, (region, number)
                checked += 1
    assert checked > 2000


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("+1 202 555 014", "Not enough digits"),
        ("+1 202 155 0143", "Not a valid phone number"),  # no US exchange starts with 1
        ("+1 900 555 0143", "Not a number that can receive text messages"),  # premium rate
        ("2O2 555 0143", "Must not contain letters or symbols"),
    ],
)
def test_bad_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidRecipient, match=reason):
        phone_and_type(raw)


def test_a_good_number_comes_back_in_e164_with_its_type() -> None:
    assert phone_and_type("(202) 555-0143") == ("+12025550143", phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
