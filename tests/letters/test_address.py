"""Notify's address rules, adapted to US addresses: each rule, its precise message, and the postage it implies."""

from __future__ import annotations

import pytest

from gateway.errors import ValidationFailed
from gateway.letters.address import LAST_LINE_MESSAGE, from_personalisation
from gateway.letters.postage import Postage, parse_postage, postage_for


def lines(*values: str) -> dict[str, str]:
    return {f"address_line_{n}": v for n, v in enumerate(values, start=1)}


@pytest.mark.parametrize(
    ("last", "zip_code"),
    [
        ("Springfield, IL 62704", "62704"),
        ("Springfield IL 62704-1234", "62704-1234"),
        ("San Juan, PR 00901", "00901"),
        ("Hagatna, GU 96910", "96910"),
        ("Washington, DC 20001", "20001"),
        ("APO, AE 09012", "09012"),
        ("FPO AP 96601-1234", "96601-1234"),
        ("DPO, AA 34001", "34001"),
        ("springfield, il 62704", "62704"),
    ],
)
def test_us_last_lines(last: str, zip_code: str) -> None:
    address = from_personalisation(lines("Alex Example", "12 Elm Street", last))
    assert address.zip_code == zip_code and address.country == "US" and not address.international


def test_blank_lines_are_dropped_and_usa_line_too() -> None:
    address = from_personalisation(
        {**lines("Alex Example", "  ", "12 Elm Street", "Springfield, IL 62704"), "address_line_5": "USA"}
    )
    assert address.lines == ("Alex Example", "12 Elm Street", "Springfield, IL 62704")


def test_international_address_goes_at_the_international_rate() -> None:
    address = from_personalisation(lines("Ana García", "Calle Mayor 1", "28013 Madrid", "Spain"))
    assert address.international and address.country == "ES" and address.zip_code is None
    assert postage_for(Postage.FIRST, address.international) is Postage.INTERNATIONAL
    assert postage_for(Postage.CERTIFIED, False) is Postage.CERTIFIED
    assert postage_for(Postage.INTERNATIONAL, False) is Postage.FIRST


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (lines("Alex Example", "Springfield, IL 62704"), "Address must be at least 3 lines"),
        (lines("Alex Example", "", "Springfield, IL 62704"), "Address must be at least 3 lines"),
        ({}, "Address must be at least 3 lines"),
        (
            {**lines(*[f"Line {n}" for n in range(1, 8)]), "postcode": "Springfield, IL 62704"},
            "Address must be no more than 7 lines",
        ),
        (lines("Alex Example", "12 Elm Street", "Springfield"), LAST_LINE_MESSAGE),
        (lines("Alex Example", "12 Elm Street", "Springfield, IL"), LAST_LINE_MESSAGE),
        (lines("Alex Example", "12 Elm Street", "Springfield, IL 6270"), LAST_LINE_MESSAGE),
        (lines("Alex Example", "12 Elm Street", "United States"), "Address must be at least 3 lines"),
        (
            lines("Alex Example", "12 Elm Street", "Springfield, ZZ 62704"),
            "Last line of address: ZZ is not a US state or territory code",
        ),
        (
            lines("Alex Example", "12 Elm Street", "APO, IL 09012"),
            "Last line of address: APO, FPO and DPO addresses use the state code AA, AE or AP",
        ),
        (
            lines("Alex Example", "Unit 2050", "Springfield, AE 09012"),
            "Last line of address: APO, FPO and DPO addresses use the state code AA, AE or AP",
        ),
        (
            lines("Alex Example", "W" * 45, "Springfield, IL 62704"),
            "personalisation address_line_2 is too long to print in the envelope window",
        ),
        (
            lines("<Alex>", "12 Elm Street", "Springfield, IL 62704"),
            'Address lines must not start with any of the following characters: @ ( ) = [ ] " \\ / , < >',
        ),
    ],
)
def test_refusals(given: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        from_personalisation(given)
    assert caught.value.message == message


def test_notify_postage_names() -> None:
    assert parse_postage("second") is Postage.MARKETING
    assert parse_postage("economy") is Postage.MARKETING
    assert parse_postage("europe") is Postage.INTERNATIONAL
    assert parse_postage("rest-of-world") is Postage.INTERNATIONAL
    assert parse_postage("certified") is Postage.CERTIFIED
    assert parse_postage("international") is None  # follows from the address, never asked for
    assert parse_postage("pigeon") is None
