"""The officer's day over HTTP on SQLite and PostgreSQL (issue 14, items 1, 2, 3, 5 and 6).

Unread is each member of staff's own; keyword replies (STOP, HELP, START) appear in the thread
with a plain line and change the opt-out state the page fetches; scheduled messages show their
send time, are listed, edited and cancelled only while they wait, and never reach the sandbox
phone before they go; a failure says why with its code and the next steps; a long thread opens at
its newest messages and pages back by keyset. Replies take the real inbound path (sandbox phone ->
handler chain on the in-process queue).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.crypto import Vault
from gateway.db import ContactPoint, Conversation, InboundMessage, Notification
from gateway.jobs.queue import LocalQueue
from gateway.localtime import to_local
from tests.factories import ServiceUnderTest, make_service
from tests.web.cases import CaseUnderTest, make_case, set_service
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from, sign_in

Client = Any
UNREAD = re.compile(r'data-testid="unread">(\d+|<span class="visually-hidden">none)<')


def counts(page: str) -> list[int]:
    return [0 if n.endswith("none") else int(n) for n in UNREAD.findall(page)]


async def settle(client: Client) -> None:
    queue = client.app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()


async def reply(client: Client, case: CaseUnderTest, body: str) -> None:
    """The person texts in, from the sandbox phone (the real inbound path), and it is handled."""
    token = await csrf_from(client, "/sandbox")
    sent = await client.post(
        "/sandbox/reply", data={"person_id": str(case.person_id), "body": body, "csrf_token": token}
    )
    assert sent.status == 200
    await settle(client)


async def unread_in_inbox(client: Client) -> list[int]:
    return counts(await (await client.get("/inbox?tab=all")).text())


async def conversation_of(sessions: async_sessionmaker[AsyncSession], case: CaseUnderTest) -> uuid.UUID:
    async with sessions() as db:
        found = await db.scalar(select(Conversation.id).where(Conversation.person_id == case.person_id))
    assert found is not None
    return found


async def test_unread_is_each_member_of_staffs_own(
    client: Client,
    make_client: Any,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id, name="Olive Officer")
    colleague = await staff_factory(service.id, name="Carl Colleague")
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await sign_in(client, officer)
    other = await make_client()
    await sign_in(other, colleague)

    await reply(client, case, "Running late")
    assert await unread_in_inbox(client) == [1] and await unread_in_inbox(other) == [1]
    conversation_id = await conversation_of(sessions, case)
    assert "Running late" in await (await client.get(f"/conversations/{conversation_id}")).text()
    assert await unread_in_inbox(client) == [0], "opening it marks it read for me"
    assert await unread_in_inbox(other) == [1], "... and for no one else"

    # a reply that arrives while my page is open stays unread until the page says it was seen
    await reply(client, case, "Be there at 10")
    assert await unread_in_inbox(client) == [1]
    fragment = await (await client.get(f"/conversations/{conversation_id}/messages")).text()
    assert "Be there at 10" in fragment and await unread_in_inbox(client) == [1], "fetching items reads nothing"
    async with sessions() as db:
        newest = await db.scalar(
            select(InboundMessage.received_at)
            .where(InboundMessage.conversation_id == conversation_id)
            .order_by(InboundMessage.received_at.desc())
        )
    assert newest is not None
    token = await csrf_from(client, f"/conversations/{conversation_id}")
    assert (
        await client.post(f"/conversations/{conversation_id}/read", data={"through": newest.isoformat()})
    ).status == 403
    seen = await client.post(
        f"/conversations/{conversation_id}/read", data={"through": newest.isoformat(), "csrf_token": token}
    )
    assert seen.status == 204 and await unread_in_inbox(client) == [0] and await unread_in_inbox(other) == [2]
    # read marks only move forward, and bad times are refused
    earlier = (newest - timedelta(days=1)).isoformat()
    await client.post(f"/conversations/{conversation_id}/read", data={"through": earlier, "csrf_token": token})
    assert await unread_in_inbox(client) == [0]
    bad = await client.post(f"/conversations/{conversation_id}/read", data={"through": "soon", "csrf_token": token})
    assert bad.status == 400
    # the caseload counts are the caseload officer's own too
    caseload = await (await client.get("/caseload")).text()
    assert counts(caseload) == [0]

    # another service's staff cannot mark it read
    stranger_client = await make_client()
    stranger = await staff_factory((await make_service(sessions, vault)).id, name="Sid Stranger")
    await sign_in(stranger_client, stranger)
    stranger_token = await csrf_from(stranger_client, "/inbox")
    refused = await stranger_client.post(
        f"/conversations/{conversation_id}/read", data={"through": newest.isoformat(), "csrf_token": stranger_token}
    )
    assert refused.status == 404


async def test_keyword_replies_appear_in_the_thread_with_what_they_did(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id, name="Olive Officer")
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await sign_in(client, officer)
    await reply(client, case, "Stop.")
    conversation_id = await conversation_of(sessions, case)
    page = await (await client.get(f"/conversations/{conversation_id}")).text()
    assert "Stop." in page and "Jordan Rivera opted out of texts (STOP)." in page
    assert (await (await client.get(f"/conversations/{conversation_id}/state")).json()) == {"opted_out": True}

    # HELP after opting out: answered automatically, refused by the opt-out, shown as the gateway's
    await reply(client, case, "HELP")
    page = await (await client.get(f"/conversations/{conversation_id}")).text()
    assert "Jordan Rivera asked for help (HELP)" in page
    [automatic] = re.findall(r'<li class="message message--out message--automatic".*?</li>', page, re.S)
    assert "Automatic reply from the gateway" in automatic and ">Not sent<" in automatic
    assert ">Failed<" not in automatic and "by Olive Officer" not in automatic
    assert "What you can do" not in automatic, "no next steps for the gateway's own reply"

    await reply(client, case, "START")
    page = await (await client.get(f"/conversations/{conversation_id}")).text()
    assert "Jordan Rivera opted back in to texts (START)." in page
    assert (await (await client.get(f"/conversations/{conversation_id}/state")).json()) == {"opted_out": False}
    assert counts(await (await client.get("/inbox")).text()) == [0]


async def test_scheduled_messages_wait_are_listed_edited_and_cancelled_until_they_go(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_service(sessions, service.id, timezone="America/Chicago")
    officer = await staff_factory(service.id, name="Olive Officer")
    case = await make_case(sessions, vault, service.id, assigned=officer.id, conversation=True)
    await sign_in(client, officer)
    conversation_id = await conversation_of(sessions, case)
    day = (datetime.now(UTC) + timedelta(days=3)).date()

    async def schedule(text: str) -> uuid.UUID:
        token = await csrf_from(client, f"/conversations/{conversation_id}")
        sent = await client.post(
            f"/conversations/{conversation_id}/send",
            data={"csrf_token": token, "message": text, "send_at": f"{day:%Y-%m-%d}T09:30"},
            allow_redirects=False,
        )
        assert sent.status == 303  # its delivery job waits (deferred): the queue is not joined here
        async with sessions() as db:
            row = await db.scalar(
                select(Notification)
                .where(Notification.body_enc.is_not(None))
                .where(Notification.service_id == service.id, Notification.status == "created")
                .order_by(Notification.created_at.desc())
            )
        assert row is not None
        return row.id

    first = await schedule("Remember your appointment")
    page = await (await client.get(f"/conversations/{conversation_id}")).text()
    assert "Scheduled for <time" in page and f"{day:%d %b %Y} 09:30 C" in page  # on Chicago's clock
    assert 'data-testid="conversation-scheduled"' in page
    sandbox = await (await client.get("/sandbox", params={"person": str(case.person_id)})).text()
    assert "Remember your appointment" not in sandbox, "nothing reaches the phone before its time"

    listed = await (await client.get("/scheduled")).text()
    assert "Remember your appointment" in listed and f"{day:%d %b %Y} 09:30" in listed
    token = await csrf_from(client, "/scheduled")
    edited = await client.post(
        f"/scheduled/{first}/edit",
        data={"csrf_token": token, "message": "Appointment moved to 10:30", "send_at": f"{day:%Y-%m-%d}T10:00"},
    )
    assert edited.status == 200 and "The scheduled message has been changed." in await edited.text()
    async with sessions() as db:
        row = await db.get(Notification, first)
        assert row is not None and vault.open(row.body_enc) == "Appointment moved to 10:30"
        assert row.scheduled_for is not None and to_local(row.scheduled_for, "America/Chicago").hour == 10
        assert row.next_attempt_at == row.scheduled_for and row.status == "created"

    # being sent: the delivery job has claimed it, so it can no longer be edited or cancelled
    async with sessions() as db:
        await db.execute(update(Notification).where(Notification.id == first).values(status="sending"))
        await db.commit()
    late = await client.post(
        f"/scheduled/{first}/edit",
        data={"csrf_token": token, "message": "Too late", "send_at": f"{day:%Y-%m-%d}T11:00"},
    )
    assert "Too late: that message is being sent" in await late.text()
    late = await client.post(f"/scheduled/{first}/cancel", data={"csrf_token": token})
    assert "Too late" in await late.text()
    async with sessions() as db:
        row = await db.get(Notification, first)
        assert row is not None and row.status == "sending" and vault.open(row.body_enc) == "Appointment moved to 10:30"

    # a second one is cancelled from the conversation page, and never goes
    second = await schedule("Bring your ID")
    token = await csrf_from(client, f"/conversations/{conversation_id}")
    cancelled = await client.post(
        f"/scheduled/{second}/cancel", data={"csrf_token": token, "next": f"/conversations/{conversation_id}"}
    )
    text = await cancelled.text()
    assert cancelled.status == 200 and "The scheduled message has been cancelled." in text and ">Cancelled<" in text
    assert "Bring your ID" not in await (await client.get("/scheduled")).text()

    # a third one goes when its time comes (the clock moved on: its due time is now in the past)
    third = await schedule("See you tomorrow")
    async with sessions() as db:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await db.execute(update(Notification).where(Notification.id == third).values(next_attempt_at=past))
        await db.commit()
    await client.app[keys.QUEUE].enqueue("deliver_notification", str(third), job_id=f"deliver-now:{third}")
    for _ in range(100):
        async with sessions() as db:
            row = await db.get(Notification, third)
            if row is not None and row.status == "delivered":
                break
        await asyncio.sleep(0.05)
    sandbox = await (await client.get("/sandbox", params={"person": str(case.person_id)})).text()
    assert "See you tomorrow" in sandbox and "Bring your ID" not in sandbox


async def test_a_failure_says_why_and_offers_what_next(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id, name="Olive Officer")
    case = await make_case(sessions, vault, service.id, assigned=officer.id, conversation=True)
    async with sessions() as db:
        db.add(
            ContactPoint(
                service_id=service.id,
                person_id=case.person_id,
                kind="email",
                value_enc=vault.seal("jordan@example.org"),
                value_index=vault.blind_index("jordan@example.org"),
            )
        )
        await db.commit()
    await sign_in(client, officer)
    conversation_id = await conversation_of(sessions, case)
    token = await csrf_from(client, f"/conversations/{conversation_id}")
    sent = await client.post(
        f"/conversations/{conversation_id}/send", data={"csrf_token": token, "message": "Call the office"}
    )
    assert sent.status == 200
    await settle(client)
    async with sessions() as db:  # the carrier said: not a mobile number
        await db.execute(
            update(Notification)
            .where(Notification.service_id == service.id)
            .values(status="permanent-failure", failure_reason="21614: To number: <recipient>, is not a mobile number")
        )
        await db.commit()
    page = await (await client.get(f"/conversations/{conversation_id}")).text()
    assert (
        "This number can&#39;t receive texts (Twilio 21614)." in page
        or "This number can't receive texts (Twilio 21614)." in page
    )
    assert f'href="/conversations/{conversation_id}?via=email#composer">Send it by email instead' in page
    assert f'href="/people/{case.person_id}">Fix the number on Jordan Rivera’s page' in page

    # the next step works: the composer writes to their email address
    by_email = await (await client.get(f"/conversations/{conversation_id}?via=email")).text()
    assert "Sending by email to their email address" in by_email and 'name="via" value="email"' in by_email
    # picking a template keeps the email step: the picker's form carries `via` too
    picker = by_email.split('<label for="template-pick">')[0].rsplit("<form", 1)[1]
    assert '<input type="hidden" name="via" value="email">' in picker
    token = await csrf_from(client, f"/conversations/{conversation_id}?via=email")
    sent = await client.post(
        f"/conversations/{conversation_id}/send", data={"csrf_token": token, "message": "Please call", "via": "email"}
    )
    assert sent.status == 200
    async with sessions() as db:
        email = await db.scalar(
            select(Notification).where(Notification.service_id == service.id, Notification.channel == "email")
        )
        assert email is not None and email.recipient_index == vault.blind_index("jordan@example.org")


async def test_a_long_thread_opens_at_the_newest_and_pages_back_by_keyset(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id, name="Olive Officer")
    case = await make_case(sessions, vault, service.id, assigned=officer.id, conversation=True)
    conversation_id = await conversation_of(sessions, case)
    await add_messages(sessions, vault, service.id, case, conversation_id, 70)
    await sign_in(client, officer)

    page = await (await client.get(f"/conversations/{conversation_id}")).text()
    shown = re.findall(r"Message number (\d+)<", page)
    assert shown == [str(n) for n in range(40, 70)], "the newest 30, oldest first"
    cursor = re.search(r'data-load-earlier="([^"]+)"', page)
    assert cursor is not None and 'data-testid="load-earlier"' in page
    assert f'href="/conversations/{conversation_id}?before=' in page  # a link: works without script

    older = await (await client.get(f"/conversations/{conversation_id}", params={"before": cursor.group(1)})).text()
    assert re.findall(r"Message number (\d+)<", older) == [str(n) for n in range(10, 40)]
    assert "Back to the newest messages" in older
    fragment = await client.get(f"/conversations/{conversation_id}/messages", params={"before": cursor.group(1)})
    assert re.findall(r"Message number (\d+)<", await fragment.text()) == [str(n) for n in range(10, 40)]
    last = fragment.headers["X-Earlier-Cursor"]
    oldest = await client.get(f"/conversations/{conversation_id}/messages", params={"before": last})
    assert re.findall(r"Message number (\d+)<", await oldest.text()) == [str(n) for n in range(10)]
    assert "X-Earlier-Cursor" not in oldest.headers
    assert (await client.get(f"/conversations/{conversation_id}", params={"before": "nonsense"})).status == 400


async def add_messages(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    case: CaseUnderTest,
    conversation_id: uuid.UUID,
    count: int,
) -> None:
    """`count` replies a minute apart, every third at the same second as the one before (a keyset tie)."""
    start = datetime.now(UTC) - timedelta(hours=3)
    rows = []
    for n in range(count):
        at = start + timedelta(minutes=n - (1 if n % 3 == 2 else 0))
        rows.append(
            {
                "id": uuid.UUID(int=(n + 1) << 64 | uuid.uuid4().int >> 64),  # ids rise with n: ties sort by id
                "service_id": service_id,
                "channel": "sms",
                "provider_id": f"SM{uuid.uuid4().hex}",
                "sender_enc": vault.seal(case.phone),
                "sender_index": vault.blind_index(case.phone),
                "recipient": "+15005550006",
                "body_enc": vault.seal(f"Message number {n}"),
                "media": [],
                "received_at": at,
                "person_id": case.person_id,
                "state": "processed",
                "decisions": [],
                "conversation_id": conversation_id,
            }
        )
    async with sessions() as db:
        await db.execute(insert(InboundMessage), rows)
        await db.commit()
