"""A victim's texts in a victim-services unit go only to staff allowed victim data (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from gateway.db import Conversation, StaffUser
from tests.inbound.conftest import Gateway, GatewayFactory, add_person

VICTIM = "+12025550171"


async def victim_unit(make_gateway: GatewayFactory) -> Gateway:
    gw = await make_gateway(inbound_staff_alerts=True)
    await gw.update_service(kind="victim_services")
    return gw


async def test_a_victims_text_is_not_assigned_or_alerted_to_an_officer(make_gateway: GatewayFactory) -> None:
    gw = await victim_unit(make_gateway)
    vera = await add_person(gw, VICTIM, role="victim", staff_roles=("officer",), out_of_office="Away")
    await gw.text(VICTIM, "Is he being released?")
    await gw.settle()

    [conversation] = await gw.conversations()
    assert conversation.person_id == vera.person_id and conversation.state == "unclaimed"
    assert conversation.assigned_staff_id is None
    [message] = await gw.inbound()
    assert message.decisions[-1]["decision"] == (
        f"filed in conversation {conversation.id}; not assigned to the case's officer, who may not see victim data"
    )
    assert await gw.notifications() == []  # no alert to the officer, no out-of-office reply on their behalf

    # An advocate who claimed it keeps it when the next text comes in.
    async with gw.sessions() as session:
        advocate = StaffUser(service_id=gw.service.id, email=f"va.{uuid.uuid4().hex[:8]}@agency.example", name="Ava")
        advocate.roles = ["victim_advocate"]
        session.add(advocate)
        await session.flush()
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(state="claimed", assigned_staff_id=advocate.id)
        )
        await session.commit()
    await gw.text(VICTIM, "Hello?")
    await gw.settle()
    [conversation] = await gw.conversations()
    assert (conversation.state, conversation.assigned_staff_id) == ("claimed", advocate.id)
    assert conversation.unread_count == 2


async def test_a_victims_text_goes_to_an_advocate_case_handler(make_gateway: GatewayFactory) -> None:
    gw = await victim_unit(make_gateway)
    vera = await add_person(gw, VICTIM, role="victim", staff_roles=("victim_advocate",))
    await gw.text(VICTIM, "Is he being released?")
    await gw.settle()
    [conversation] = await gw.conversations()
    assert (conversation.state, conversation.assigned_staff_id) == ("claimed", vera.staff_id)
    [alert] = await gw.notifications()
    assert alert.channel == "email"
