"""Sending a notice's current step: a text, an email, a letter or a call, from the VSU's own senders.

`send_steps` runs in the caller's transaction for many notices at once (the fan-out's thousand, the
sweeper's escalations): for each it tries the step its `step` points at; a step that cannot be
taken (no number for a text, no address for a letter, no template) is kept as skipped with the
reason and the next one is tried at once. What it returns is enqueued by the caller after the
commit, on the priority lane: delivery of the notifications, and the calls.

Every message is built by `prepare_notification` (rendered, sealed) as `automatic` — quiet hours
hold it — except an urgent notice (escape, release earlier than scheduled), which goes at any hour
with `quiet_override` recorded. The sender is always the VSU service's own number or address.
Acknowledgment: a text asks for a one-word reply (`expect_reply`, kind `victim_notice`); an email
carries a signed link (`gateway.victims.acknowledge.ack_url`); a call asks for a key; a letter asks
the victim to call, and staff record it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.api.intake import insert_notifications
from gateway.crypto import Vault
from gateway.db import Service, Template, VictimCall, VictimNotice, VictimNoticeStep, VictimRegistration
from gateway.domain import Channel, KeyType
from gateway.errors import ApiError
from gateway.outbound import prepare_notification
from gateway.questions import expect_reply
from gateway.settings import Settings
from gateway.template_store import TemplateRow, _row
from gateway.templating import shared_renderer
from gateway.victims.acknowledge import ACK_CHOICES, QUESTION_KIND, ack_url
from gateway.victims.registrations import contacts_of, letter_address

CERTIFIED = "letter:certified"
TEMPLATE_CHANNEL = {"sms": Channel.SMS, "email": Channel.EMAIL, "letter": Channel.LETTER, CERTIFIED: Channel.LETTER}


def plan_for(channels: list[str]) -> list[str]:
    """The steps of a notice that asks for acknowledgment: the victim's channels in their order, then
    a certified letter; a letter step that is last goes certified, one before it first class."""
    steps = list(dict.fromkeys(channels))
    if not steps or steps[-1] != "letter":
        steps = [s for s in steps if s != "letter"] + ["letter"]
    return [*steps[:-1], CERTIFIED]


def window(settings: Settings, notice: VictimNotice, channel: str) -> timedelta | None:
    """How long the step waits for acknowledgment before the next; None after the last."""
    if notice.state != "open" or notice.step >= len(notice.plan) - 1:
        return None
    if channel == "letter":
        return timedelta(days=settings.victim_letter_window_days)
    hours = settings.victim_urgent_window_hours if notice.urgent else settings.victim_ack_window_hours
    return timedelta(hours=hours)


@dataclass
class Outgoing:
    """What to enqueue after the commit."""

    notifications: list[uuid.UUID] = field(default_factory=list)
    calls: list[tuple[uuid.UUID, float]] = field(default_factory=list)  # (call id, defer seconds)
    letter_steps: list[uuid.UUID] = field(default_factory=list)  # notices that reached the letter step
    unreached: list[uuid.UUID] = field(default_factory=list)  # notices with no step left to try

    def merge(self, other: Outgoing) -> None:
        self.notifications += other.notifications
        self.calls += other.calls
        self.letter_steps += other.letter_steps
        self.unreached += other.unreached


class TemplateFinder:
    """The agency's victim templates by (slug, channel, language), read once per run."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._found: dict[tuple[str, Channel, str], TemplateRow | None] = {}

    async def get(self, slug: str, channel: Channel, language: str) -> TemplateRow | None:
        key = (slug, channel, language)
        if key not in self._found:
            row = await self._session.scalar(
                select(Template).where(
                    Template.service_id.is_(None),
                    Template.slug == slug,
                    Template.channel == channel.value,
                    Template.language == language,
                    Template.archived.is_(False),
                )
            )
            if row is None and language != "en":
                self._found[key] = await self.get(slug, channel, "en")
            else:
                self._found[key] = _row(row) if row is not None else None
        return self._found[key]


@dataclass
class Sender:
    """Sends notices' current steps in one session (see the module docstring)."""

    session: AsyncSession
    vault: Vault
    settings: Settings
    now: datetime

    def __post_init__(self) -> None:
        self._templates = TemplateFinder(self.session)
        self._services: dict[uuid.UUID, Service] = {}
        self._rows: list[dict[str, Any]] = []  # notifications, written in one insert at the end

    async def send_steps(self, notices: list[VictimNotice]) -> Outgoing:
        """Each notice's current step (or the next that can be taken), for many notices in a few statements."""
        out = Outgoing()
        regs = {
            r.id: r
            for r in (
                await self.session.scalars(
                    select(VictimRegistration).where(VictimRegistration.id.in_({n.registration_id for n in notices}))
                )
            ).all()
        }
        contacts = await contacts_of(self.session, self.vault, {n.person_id for n in notices})
        # Questions and steps name notifications written only at the end: nothing may be flushed before.
        with self.session.no_autoflush:
            for notice in notices:
                out.merge(await self._send(notice, regs[notice.registration_id], contacts.get(notice.person_id, {})))
        if self._rows:
            await insert_notifications(await self.session.connection(), self._rows)
        await self.session.flush()
        return out

    async def _service(self, service_id: uuid.UUID) -> Service:
        if service_id not in self._services:
            found = await self.session.get(Service, service_id)
            assert found is not None
            self._services[service_id] = found
        return self._services[service_id]

    async def _send(self, notice: VictimNotice, reg: VictimRegistration, contacts: dict[str, list[str]]) -> Outgoing:
        out = Outgoing()
        while notice.step < len(notice.plan):
            channel = notice.plan[notice.step]
            step = VictimNoticeStep(notice_id=notice.id, step=notice.step, channel=channel, created_at=self.now)
            problem = await self._take(notice, reg, channel, contacts, step, out)
            self.session.add(step)
            if problem is None:
                gap = window(self.settings, notice, channel)
                notice.due_at = self.now + gap if gap is not None else None
                notice.updated_at = self.now
                if channel in ("letter", CERTIFIED) and notice.state == "open" and notice.letter_step_at is None:
                    notice.letter_step_at = self.now
                    out.letter_steps.append(notice.id)
                return out
            step.outcome = problem[:64]
            notice.step += 1
        notice.due_at = None
        notice.updated_at = self.now
        if notice.state == "open":
            notice.state = "unreached"
            out.unreached.append(notice.id)
        return out

    async def _take(
        self,
        notice: VictimNotice,
        reg: VictimRegistration,
        channel: str,
        contacts: dict[str, list[str]],
        step: VictimNoticeStep,
        out: Outgoing,
    ) -> str | None:
        """Send one step; None when sent, else why it was skipped."""
        service = await self._service(notice.service_id)
        if channel == "voice":
            if notice.state != "open":
                return "no call for a message that asks nothing"
            phones = contacts.get("phone") or []
            if not phones:
                return "no phone number"
            call = VictimCall(
                id=uuid.uuid4(),
                service_id=notice.service_id,
                notice_id=notice.id,
                to_enc=self.vault.seal(phones[0]),
                sender=service.sms_sender,
                language=notice.language,
                max_attempts=self.settings.victim_call_attempts,
                state="queued",
                next_attempt_at=self.now,
                created_at=self.now,
                updated_at=self.now,
            )
            self.session.add(call)
            step.call_id = call.id
            out.calls.append((call.id, 0.0))
            return None
        template_channel = TEMPLATE_CHANNEL[channel]
        recipient: str | None
        if template_channel is Channel.LETTER:
            recipient = letter_address(self.vault, reg, contacts)
            if recipient is None:
                return "no address to print" + (" (confidential: no substitute)" if reg.confidential else "")
        else:
            found = contacts.get("phone" if template_channel is Channel.SMS else "email") or []
            if not found:
                return f"no {'phone number' if template_channel is Channel.SMS else 'email address'}"
            recipient = found[0]
        template = await self._templates.get(f"victim_notice_{notice.kind}", template_channel, notice.language)
        if template is None:
            return f"no {template_channel} template for {notice.kind}"
        values = dict(notice.personalisation)
        if template_channel is Channel.EMAIL:
            values["ack_url"] = ack_url(self.settings.base_url, self.vault, notice.id) if notice.state == "open" else ""
        try:
            prepared = prepare_notification(
                vault=self.vault,
                renderer=shared_renderer(),
                template=template,
                channel=template_channel,
                recipient=recipient,
                personalisation=values,
                service_id=notice.service_id,
                key_type=KeyType.LIVE,
                sender={Channel.SMS: service.sms_sender, Channel.EMAIL: service.email_from}.get(template_channel),
                person_id=notice.person_id,
                case_id=notice.case_id,
                postage="certified" if channel == CERTIFIED else ("first" if channel == "letter" else None),
                automatic=True,
                quiet_override=f"urgent victim notice: {notice.kind}" if notice.urgent else None,
            )
        except ApiError as exc:
            return f"not sent: {exc.message}"[:64]
        self._rows.append(prepared.row)
        step.notification_id = prepared.row["id"]
        if template_channel is Channel.SMS and notice.state == "open":
            question = await expect_reply(
                self.session,
                service_id=notice.service_id,
                person_id=notice.person_id,
                kind=QUESTION_KIND,
                choices=ACK_CHOICES,
                case_id=notice.case_id,
                notification_id=prepared.row["id"],
                flush=False,
            )
            step.question_id = question.id
        out.notifications.append(prepared.row["id"])
        return None
