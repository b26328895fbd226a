"""`POST /v2/notifications/letter` and `GET /v2/notifications/{id}[/pdf]`: Notify's letter shapes, postage,
precise 400s that store nothing, team keys refused, and the PDF once the letter channel has accepted it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from gateway.db import LetterDocument, Notification
from gateway.letters.layout import BODY_TOP, MARGIN, PAGE_HEIGHT, PAGE_WIDTH, RECIPIENT_WINDOW, RETURN_WINDOW
from tests.api.test_auth import bearer
from tests.api.test_bad_input import assert_errors, bad, post, stored, v
from tests.jobs.conftest import set_service
from tests.letters.helpers import LETTER_ES, LETTER_PATH, letter, settle, words


async def test_letter_is_accepted_with_notify_shapes(client, service, sessions) -> None:  # type: ignore[no-untyped-def]
    resp = await post(client, service, LETTER_PATH, letter(reference="vsu-17"))
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert set(created) == {"id", "reference", "content", "uri", "template", "scheduled_for"}
    assert created["reference"] == "vsu-17"
    assert created["content"]["subject"] == "Information about a change in custody"
    assert "J. Doe was released from Central Facility" in created["content"]["body"]
    await settle(client)
    got = await client.get(f"/v2/notifications/{created['id']}", headers=bearer(service.live_key, service.id))
    one = await got.json()
    assert one["type"] == "letter" and one["status"] == "accepted"
    assert [one[f"line_{n}"] for n in range(1, 8)] == [
        "Alex Example",
        "12 Elm Street Apt 4",
        "Springfield, IL 62704",
        None,
        None,
        None,
        None,
    ]
    assert one["postcode"] == "62704" and one["postage"] == "first"  # the template's default
    assert one["email_address"] is None and one["phone_number"] is None
    async with sessions() as session:
        n = await session.get(Notification, uuid.UUID(created["id"]))
        assert n is not None and n.status == "accepted" and n.provider == "letters"


@pytest.mark.parametrize(
    ("asked", "address", "postage"),
    [
        ("second", None, "marketing"),
        ("economy", None, "marketing"),
        ("certified", None, "certified"),
        (
            "first",
            {"address_line_1": "Ana García", "address_line_2": "Calle Mayor 1", "address_line_3": "Mexico"},
            "international",
        ),
        ("rest-of-world", None, "first"),  # the address decides abroad or not
    ],
)
async def test_postage(client, service, asked: str, address: dict[str, str] | None, postage: str) -> None:  # type: ignore[no-untyped-def]
    body = letter(address=address, postage=asked)
    resp = await post(client, service, LETTER_PATH, body)
    assert resp.status == 201, await resp.text()
    got = await client.get(
        f"/v2/notifications/{(await resp.json())['id']}", headers=bearer(service.live_key, service.id)
    )
    assert (await got.json())["postage"] == postage


CASES: list[tuple[str, dict[str, Any], list[dict[str, str]]]] = [
    (
        "two-lines",
        letter(address={"address_line_1": "Alex", "address_line_2": "Springfield, IL 62704"}),
        [v("Address must be at least 3 lines")],
    ),
    (
        "no-zip",
        letter(address={"address_line_1": "Alex", "address_line_2": "12 Elm St", "address_line_3": "Springfield"}),
        [v("Last line of address must be a US city, state and ZIP code (City, ST 12345) or another country")],
    ),
    (
        "too-long",
        letter(
            address={
                "address_line_1": "A" * 60,
                "address_line_2": "12 Elm St",
                "address_line_3": "Springfield, IL 62704",
            }
        ),
        [v("personalisation address_line_1 is too long to print in the envelope window")],
    ),
    (
        "bad-postage",
        letter(postage="pigeon"),
        [v("postage invalid. It must be one of first, marketing, certified, second, economy, europe, rest-of-world")],
    ),
    ("no-personalisation", {"template_id": letter()["template_id"]}, [v("personalisation is a required property")]),
    (
        "missing-placeholder",
        letter(
            address=None,
            personalisation={
                "address_line_1": "Alex",
                "address_line_2": "1 A St",
                "address_line_3": "Springfield, IL 62704",
            },
        ),
        [
            bad(
                "Missing personalisation: advocate_name, advocate_phone, facility, offender_name, "
                "release_date, victim_name"
            )
        ],
    ),
    (
        "sms-template",
        letter(template_id="91b96cb2-3bb9-4806-8eb8-cd401aba9c55"),
        [bad("sms template is not suitable for letter notification")],
    ),
]


@pytest.mark.parametrize(("name", "body", "errors"), CASES, ids=[c[0] for c in CASES])
async def test_bad_letters_store_nothing(client, service, sessions, name: str, body: dict[str, Any], errors) -> None:  # type: ignore[no-untyped-def]
    resp = await post(client, service, LETTER_PATH, body)
    await assert_errors(resp, 400, errors)
    assert await stored(sessions, service.id) == 0


async def test_team_keys_cannot_send_letters(client, service, sessions) -> None:  # type: ignore[no-untyped-def]
    resp = await client.post(LETTER_PATH, json=letter(), headers=bearer(service.team_key, service.id))
    await assert_errors(resp, 403, [{"error": "AuthError", "message": "Cannot send letters with a team api key"}])
    assert await stored(sessions, service.id) == 0


async def test_pdf_not_ready_then_ready(client, service, sessions) -> None:  # type: ignore[no-untyped-def]
    resp = await post(client, service, LETTER_PATH, letter())
    nid = (await resp.json())["id"]
    await settle(client)
    auth = bearer(service.live_key, service.id)
    pdf = await client.get(f"/v2/notifications/{nid}/pdf", headers=auth)
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    assert (await pdf.read()).startswith(b"%PDF")
    async with sessions() as session:  # as it was before the letter channel made it ready
        await session.execute(delete(LetterDocument).where(LetterDocument.notification_id == uuid.UUID(nid)))
        await session.commit()
    await assert_errors(
        await client.get(f"/v2/notifications/{nid}/pdf", headers=auth),
        400,
        [{"error": "PDFNotReadyError", "message": "PDF not available yet, try again later"}],
    )
    sms = await post(
        client,
        service,
        "/v2/notifications/sms",
        {
            "phone_number": "+12025550143",
            "template_id": "91b96cb2-3bb9-4806-8eb8-cd401aba9c55",
            "personalisation": {"message": "hi"},
        },
    )
    await assert_errors(
        await client.get(f"/v2/notifications/{(await sms.json())['id']}/pdf", headers=auth),
        400,
        [bad("Notification is not a letter")],
    )


async def test_address_lines_lie_in_the_window(client, service, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await set_service(
        sessions,
        service.id,
        letter_contact_block="100 Main Street\nSpringfield, IL 62701\n(217) 555-0100",
        timezone="America/Chicago",
    )
    address = {
        "address_line_1": "Alex Example",
        "address_line_2": "Apartment 4",
        "address_line_3": "12 Elm Street",
        "address_line_4": "Building C",
        "address_line_5": "Attn: Mailroom",
        "address_line_6": "Care of A. Friend",
        "address_line_7": "Springfield, IL 62704-1234",
    }
    resp = await post(client, service, LETTER_PATH, letter(template_id=LETTER_ES, address=address))
    nid = (await resp.json())["id"]
    await settle(client)
    pdf = await client.get(f"/v2/notifications/{nid}/pdf", headers=bearer(service.live_key, service.id))
    pages = words(await pdf.read(), tmp_path)
    first = pages[0]
    address_words = {w for line in address.values() for w in line.split()}
    in_window = [w for w in first if RECIPIENT_WINDOW.contains(w[0], w[1], w[2], w[3])]
    assert {w[4] for w in in_window} == address_words  # every address word, and nothing else
    returned = [w for w in first if RETURN_WINDOW.contains(w[0], w[1], w[2], w[3])]
    assert {"100", "Main", "Street", "62701"} <= {w[4] for w in returned}
    body = [w for w in first if w[1] >= BODY_TOP]
    assert any(w[4] == "Estimado/a" for w in body)
    for page in pages:  # nothing in the margins the mail house reserves
        for x0, y0, x1, y1, _ in page:
            assert x0 >= MARGIN and x1 <= PAGE_WIDTH - MARGIN and y0 >= MARGIN and y1 <= PAGE_HEIGHT - MARGIN
    text = " ".join(w[4] for w in first)
    assert "Página 1 de 1" in text
    async with sessions() as session:
        created = (
            await session.scalars(select(Notification.created_at).where(Notification.id == uuid.UUID(nid)))
        ).one()
    from gateway.letters.content import letter_date

    assert letter_date(created, "America/Chicago", "es") in text  # the date on the service's clock, in Spanish
