"""`LetterContent` for a notification: the service's letterhead, the date on its clock, the address, the text.

Made once, when the letter channel accepts the letter, and kept sealed (`LetterDocument.content_enc`),
so every later copy of the PDF prints exactly what was accepted.
"""

from __future__ import annotations

import json
from datetime import datetime

from gateway.crypto import Vault
from gateway.letters.pdf import LetterContent
from gateway.localtime import to_local

MONTHS = {
    "en": tuple("January February March April May June July August September October November December".split()),  # noqa: SIM905
    "es": tuple("enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()),  # noqa: SIM905
}


def letter_date(when: datetime, zone_name: str, language: str) -> str:
    """The date a letter carries: the day `when` falls on the service's clock, written in its language."""
    day = to_local(when, zone_name).date()
    if language == "es":
        return f"{day.day} de {MONTHS['es'][day.month - 1]} de {day.year}"
    return f"{MONTHS['en'][day.month - 1]} {day.day}, {day.year}"


def build_content(
    *,
    language: str,
    service_name: str,
    contact_block: str | None,
    zone_name: str,
    when: datetime,
    address: str,
    subject: str,
    body: str,
    logo: str | None = None,
) -> LetterContent:
    lines = tuple(line.strip() for line in (contact_block or "").splitlines() if line.strip())
    return LetterContent(
        language=language if language in MONTHS else "en",
        sender_name=service_name,
        sender_lines=lines,
        date=letter_date(when, zone_name, language),
        address=tuple(address.split("\n")),
        subject=subject,
        body=body,
        logo=logo,
    )


def seal_content(vault: Vault, content: LetterContent) -> str:
    data = {
        "language": content.language,
        "sender_name": content.sender_name,
        "sender_lines": list(content.sender_lines),
        "date": content.date,
        "address": list(content.address),
        "subject": content.subject,
        "body": content.body,
        "logo": content.logo,
    }
    return vault.seal(json.dumps(data, ensure_ascii=False))


def open_content(vault: Vault, token: str) -> LetterContent:
    data = json.loads(vault.open(token))
    return LetterContent(
        language=data["language"],
        sender_name=data["sender_name"],
        sender_lines=tuple(data["sender_lines"]),
        date=data["date"],
        address=tuple(data["address"]),
        subject=data["subject"],
        body=data["body"],
        logo=data.get("logo"),  # letters accepted before logos existed have none
    )
