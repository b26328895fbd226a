"""A thousand texts at once for one case: each is stored once and recorded once, in one unbroken chain."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from gateway.db import InboundMessage
from gateway.record import verify_chain
from tests.inbound.conftest import Gateway, add_person, sms_form

PHONE = "+12025550143"
COUNT = 1000


async def test_a_thousand_concurrent_texts_each_land_once_in_the_case_record(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    forms = [sms_form(gw.number, PHONE, f"message {i}") for i in range(COUNT)]
    started = time.perf_counter()
    responses = await asyncio.gather(*(gw.post_form(form) for form in forms))
    assert {r.status for r in responses} == {200}
    # Twilio retries a few of them: still one row and one record entry each.
    retried = await asyncio.gather(*(gw.post_form(form) for form in forms[:50]))
    assert {r.status for r in retried} == {200}
    await gw.settle()
    elapsed = time.perf_counter() - started

    async with gw.sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(InboundMessage.state, func.count())
                    .where(InboundMessage.service_id == gw.service.id)
                    .group_by(InboundMessage.state)
                )
            ).all()
        )
        report = await verify_chain(session, person.case_id)
    assert states == {"processed": COUNT}
    entries = await gw.record(person.case_id)
    inbound_ids = [e.inbound_id for e in entries]
    assert len(inbound_ids) == COUNT and len(set(inbound_ids)) == COUNT, "every message once, none twice"
    assert [e.seq for e in entries] == list(range(1, COUNT + 1))
    assert report.ok, report.reason
    [conversation] = await gw.conversations()
    assert conversation.unread_count == COUNT
    print(f"\n{COUNT} concurrent inbound texts handled in {elapsed:.1f} s")
